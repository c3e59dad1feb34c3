"""Parameter integrity: a bit flipped on the way to the accelerator, in any weight, bias,
requantization scale or shift, layer description or image, is caught before anything is
computed with it, reported with that packet's index, and no result comes back.

Parameters (weights, requantization words, pixels) and fixed-length layer descriptions are
caught by the CRC.  The field word of INPUT and TILE sets how long the payload must be, so
it is checked against the packet's length before the payload is read: a flip there that
changes the length it implies is reported as that mismatch (ERR_LENGTH or a field error),
and one that does not is caught by the CRC after the payload."""
import numpy as np
import pytest

from streamcnn import golden, models, protocol as P
from streamcnn.errors import DeviceError

C = P.C


def _in_transit(device, monkeypatch, word: int, bit: int):
    """Flip one bit of the next transfer's words, as a fault between memory and the IP would."""
    original = device._transfer

    def flipped(send, send_words, recv):
        monkeypatch.setattr(device, "_transfer", original)  # this transfer only
        bad = device.allocate(len(send))
        bad[:] = send
        bad[word] ^= np.uint64(1 << bit)
        return original(bad, send_words, recv)

    monkeypatch.setattr(device, "_transfer", flipped)


def _tile(prog, layer_index: int):
    return [p for p in prog.packets if p.opcode == P.Op.TILE][layer_index]


# (what, packet finder, word offset in the packet's payload, bit)
STRUCTURAL = {"input shape field", "tile field"}
WHERE = {
    "image pixel": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.INPUT), 1 + 40, 3),
    "input shape field": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.INPUT), 0, 17),
    "conv geometry": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.CONV), 1, 0),
    "pooling field": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.POOL), 0, 52),
    "conv bias": (lambda prog: _tile(prog, 0), 1 + 2, 4),
    "conv scale (multiplier)": (lambda prog: _tile(prog, 0), 1 + 3, C["SCNN_RQ_MULT_SHIFT"] + 10),
    "conv shift": (lambda prog: _tile(prog, 1), 1 + 5, C["SCNN_RQ_SHIFT_SHIFT"]),
    "conv weight": (lambda prog: _tile(prog, 1), 1 + 16 + 100, 63),
    "dense weight (streamed at batch 1)": (lambda prog: _tile(prog, 4), 1 + 8 * 16 + 5, 0),
    "dense bias": (lambda prog: _tile(prog, 4), 1, 31),
    "tile field": (lambda prog: _tile(prog, 2), 0, 16),
}


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("what", sorted(WHERE))
def test_a_corrupted_parameter_is_reported_with_its_packet(device, monkeypatch, what, batch):
    net = models.load("lenet5-mnist")
    x = np.random.default_rng(2).uniform(0, 1, (batch, 1, 32, 32)).astype(np.float32)
    program = device.load(net, batch=batch)
    prog = program._variant(True).prog  # every layer's output requested: records precede the failure
    find, offset, bit = WHERE[what]
    packet = find(prog)
    assert offset < packet.length
    _in_transit(device, monkeypatch, packet.offset + 1 + offset, bit)
    status = r"ERR_\w+" if what in STRUCTURAL else "ERR_CRC"
    with pytest.raises(DeviceError, match=rf"{status}: .* at packet {packet.index} \({packet.opcode.name}: ") as e:
        program.run(x, all_layers=True)
    assert e.value.packet == packet.index
    if what in STRUCTURAL:
        assert e.value.status in (P.Status.ERR_LENGTH, P.Status.ERR_BAD_FIELD, P.Status.ERR_LIMIT)
    else:
        assert e.value.status == P.Status.ERR_CRC
    # the fault was in transit only: the next run is right, every layer of it
    outs = program.run(x, all_layers=True)
    assert np.array_equal(outs[prog.outputs[-1].layer], golden.run(net, x))
