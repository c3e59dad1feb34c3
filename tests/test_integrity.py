"""Parameter integrity: a bit flipped on the way to the accelerator, in any weight, bias,
requantization scale or shift, layer description, field word or image, is caught by its
packet's CRC before anything in the packet is used, reported as ERR_CRC with that packet's
index, and no result comes back.  (Only a packet's length is read before its CRC; a flipped
length is reported as the length error it causes, see test_malformed.py.)"""
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
WHERE = {
    "image pixel": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.INPUT), 1 + 40, 3),
    "input shape field": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.INPUT), 0, 17),
    "input batch field": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.INPUT), 0, 49),
    "conv geometry": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.CONV), 1, 0),
    "pooling field": (lambda prog: next(p for p in prog.packets if p.opcode == P.Op.POOL), 0, 52),
    "conv bias": (lambda prog: _tile(prog, 0), 1 + 2, 4),
    "conv scale (multiplier)": (lambda prog: _tile(prog, 0), 1 + 3, C["SCNN_RQ_MULT_SHIFT"] + 10),
    "conv shift": (lambda prog: _tile(prog, 1), 1 + 5, C["SCNN_RQ_SHIFT_SHIFT"]),
    "conv weight": (lambda prog: _tile(prog, 1), 1 + 16 + 100, 63),
    "dense weight (streamed at batch 1)": (lambda prog: _tile(prog, 4), 1 + 8 * 16 + 5, 0),
    "dense bias": (lambda prog: _tile(prog, 4), 1, 31),
    "tile field (output group count)": (lambda prog: _tile(prog, 2), 0, 16),
    "tile field (first group)": (lambda prog: _tile(prog, 3), 0, 0),
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
    with pytest.raises(DeviceError, match=rf"ERR_CRC: .* at packet {packet.index} \({packet.opcode.name}: ") as e:
        program.run(x, all_layers=True)
    assert (e.value.status, e.value.packet) == (P.Status.ERR_CRC, packet.index)
    # the fault was in transit only: the next run is right, every layer of it
    outs = program.run(x, all_layers=True)
    assert np.array_equal(outs[prog.outputs[-1].layer], golden.run(net, x))
