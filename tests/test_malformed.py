"""Malformed programs: the accelerator drains to TLAST and answers with the documented
status, the failing packet and a detail; it never hangs (the simulator would raise
DMAError), and the next valid program runs normally."""
import numpy as np
import pytest

from streamcnn import compiler, golden, protocol as P
from streamcnn.errors import DeviceError
from streamcnn.network import Flatten, MaxPool2d, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize

C, S, F = P.C, P.Status, P.Field
RESPONSE = 4096


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(5)
    layers = [FloatConv2d(rng.normal(0, 0.3, (9, 3, 3, 3)), rng.normal(0, 0.1, 9), padding=1), ReLU(),
              MaxPool2d(2), Flatten(), FloatLinear(rng.normal(0, 0.1, (10, 9 * 4 * 4)))]
    return quantize((3, 8, 8), layers, rng.uniform(-1, 1, (8, 3, 8, 8)).astype(np.float32))


@pytest.fixture
def prog(net, caps):
    p = compiler.compile_network(net, caps, batch=2, segments=False)  # segments: tests/test_segment.py
    p.set_images(net.quantize_input(np.random.default_rng(0).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)))
    return p


def packet(prog, opcode, nth=0):
    return [p for p in prog.packets if p.opcode == opcode][nth]


def recrc(words, info):
    """Recompute a packet's CRC after its fields were changed on purpose."""
    words[info.offset] = compiler.packet_header(info.opcode, words[info.offset + 1:info.offset + 1 + info.length])


def set_field(words, index, shift, bits, value):
    mask = ((1 << bits) - 1) << shift
    words[index] = np.uint64((int(words[index]) & ~mask) | (value << shift))


def send(device, words, response=RESPONSE):
    return device.execute(np.asarray(words, dtype=np.uint64), response)


def test_valid_program_is_ok(device, prog):
    r = send(device, prog.words)
    assert r.status == S.OK and r.packet is None and r.layers == 4  # conv, pool, flatten, fc
    assert r.words_consumed == len(prog.words)


# -- the program header ----------------------------------------------------------


def test_bad_magic(device, prog):
    w = prog.words.copy()
    w[0] ^= np.uint64(1)
    r = send(device, w)
    assert r.status == S.ERR_BAD_MAGIC and r.packet is None and r.detail == C["SCNN_PROGRAM_MAGIC"] ^ 1
    assert r.words_consumed == len(w)  # drained to TLAST


@pytest.mark.parametrize("version", [P.FORMAT_VERSION - 1, P.FORMAT_VERSION + 1])
def test_bad_version(device, prog, version):
    """The format before this one (whose layers meant other numerics) and the one after are refused."""
    w = prog.words.copy()
    set_field(w, 0, C["SCNN_HDR_VERSION_SHIFT"], 16, version)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_BAD_VERSION, version)


@pytest.mark.parametrize("total,status", [(2, S.ERR_BAD_LENGTH), (C["SCNN_CFG_MAX_PROGRAM_WORDS"] + 1, S.ERR_BAD_LENGTH),
                                          ("+1", S.ERR_BAD_LENGTH), ("-1", S.ERR_NO_END)])
def test_header_total_length(device, prog, total, status):
    w = prog.words.copy()
    value = len(w) + int(total) if isinstance(total, str) else total
    set_field(w, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, value)
    assert send(device, w).status == status


def test_batch_zero_and_over_the_maximum(device, prog, caps):
    w = prog.words.copy()
    set_field(w, 0, C["SCNN_HDR_BATCH_SHIFT"], 16, 0)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_BAD_FIELD, F.BATCH)
    set_field(w, 0, C["SCNN_HDR_BATCH_SHIFT"], 16, caps.max_batch + 1)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_LIMIT, P.Cap.MAX_BATCH)


def test_response_capacity_below_the_trailer(device, prog):
    w = prog.words.copy()
    set_field(w, 1, C["SCNN_HDR_RESPCAP_SHIFT"], 32, 10)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_BAD_FIELD, F.RESP_CAPACITY)


# -- the stream ------------------------------------------------------------------------


def test_truncated_at_every_word(device, prog):
    tile = packet(prog, P.Op.TILE)
    for cut in range(1, len(prog.words)):
        r = send(device, prog.words[:cut])
        assert r.status == S.ERR_TRUNCATED, cut
        assert r.words_consumed == cut
    r = send(device, prog.words[:tile.offset + 5])
    assert r.packet == tile.index


def test_trailing_data_after_end(device, prog):
    w = np.concatenate([prog.words, np.zeros(3, np.uint64)])
    r = send(device, w)
    assert r.status == S.ERR_TRAILING_DATA and r.packet == packet(prog, P.Op.END).index
    assert r.words_consumed == len(w)


def test_missing_end(device, prog):
    end = packet(prog, P.Op.END)
    w = prog.words[:end.offset].copy()
    set_field(w, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, len(w))
    r = send(device, w)
    assert r.status == S.ERR_NO_END and r.packet == end.index


def test_unknown_opcode(device, prog):
    w = prog.words.copy()
    pool = packet(prog, P.Op.POOL)
    set_field(w, pool.offset, 0, 8, 0x33)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_UNKNOWN_OPCODE, pool.index, 0x33)


@pytest.mark.parametrize("what", ["image", "weight", "bias", "requant shift", "crc field", "conv field", "opcode byte"])
def test_crc_catches_every_corruption(device, prog, what):
    w = prog.words.copy()
    inp, tile, conv = packet(prog, P.Op.INPUT), packet(prog, P.Op.TILE), packet(prog, P.Op.CONV)
    target = {
        "image": (inp, inp.offset + 3, 5),
        "weight": (tile, tile.offset + 1 + 1 + 8 + 4, 60),
        "bias": (tile, tile.offset + 2, 0),
        "requant shift": (tile, tile.offset + 3, 57),
        "crc field": (tile, tile.offset, 40),
        "conv field": (conv, conv.offset + 1, 20),
        "opcode byte": (tile, tile.offset, 9),  # the length field: still inside the program
    }[what]
    info, index, bit = target
    w[index] ^= np.uint64(1 << bit)
    r = send(device, w)
    if what == "opcode byte":  # a wrong length is caught as such, or by the CRC
        assert r.status in (S.ERR_LENGTH, S.ERR_CRC) and r.packet == info.index
        return
    assert (r.status, r.packet) == (S.ERR_CRC, info.index)
    assert r.records == []  # no result is passed off as valid


# -- fields -----------------------------------------------------------------------------


def patched(device, prog, opcode, word, shift, bits, value):
    """Send the program with one field of a packet's payload word changed, CRC recomputed."""
    w = prog.words.copy()
    info = packet(prog, opcode)
    set_field(w, info.offset + 1 + word, shift, bits, value)
    recrc(w, info)
    return send(device, w), info


@pytest.mark.parametrize("opcode,word,shift,bits,value,status,detail", [
    (P.Op.CONV, 1, C["SCNN_L1_KH_SHIFT"], 4, 0, S.ERR_BAD_FIELD, F.KERNEL),
    (P.Op.CONV, 1, C["SCNN_L1_KW_SHIFT"], 4, 8, S.ERR_LIMIT, P.Cap.MAX_KERNEL),
    (P.Op.CONV, 1, C["SCNN_L1_SH_SHIFT"], 4, 0, S.ERR_BAD_FIELD, F.STRIDE),
    (P.Op.CONV, 1, C["SCNN_L1_SW_SHIFT"], 4, 3, S.ERR_LIMIT, P.Cap.MAX_STRIDE),
    (P.Op.CONV, 1, C["SCNN_L1_PH_SHIFT"], 4, 4, S.ERR_LIMIT, P.Cap.MAX_PAD),
    (P.Op.CONV, 1, C["SCNN_L1_RSVD0_SHIFT"], 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
    # a dense layer has no padding: its input zero point field is reserved
    (P.Op.FC, 1, C["SCNN_L1_IN_ZERO_SHIFT"], 8, 5, S.ERR_BAD_FIELD, F.RESERVED),
    (P.Op.CONV, 1, C["SCNN_L1_TILE_SHIFT"], 16, 0, S.ERR_BAD_FIELD, F.TILE_GROUPS),
    (P.Op.CONV, 1, C["SCNN_L1_TILE_SHIFT"], 16, 65, S.ERR_LIMIT, P.Cap.TILE_CHANNELS),
    # the layer's input shape must be the current activations'
    (P.Op.CONV, 0, C["SCNN_CONV_INC_SHIFT"], 16, 4, S.ERR_SHAPE, F.CHANNELS),
    (P.Op.INPUT, 0, C["SCNN_IN_H_SHIFT"], 16, C["SCNN_CFG_MAX_DIM"] + 1, S.ERR_LIMIT, P.Cap.MAX_DIM),
    (P.Op.TILE, 0, C["SCNN_TILE_FIRST_SHIFT"], 16, 1, S.ERR_BAD_FIELD, F.TILE_FIRST),
    # requantization words are checked after the CRC matched
    (P.Op.TILE, 1, C["SCNN_RQ_RSVD_SHIFT"], 2, 3, S.ERR_BAD_FIELD, F.REQUANT),
    (P.Op.POOL, 0, C["SCNN_POOL_KERNEL_SHIFT"], 4, 4, S.ERR_LIMIT, P.Cap.MAX_POOL_KERNEL),
    (P.Op.POOL, 0, C["SCNN_POOL_RSVD_SHIFT"], 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
    (P.Op.FC, 0, C["SCNN_FC_IN_SHIFT"], 32, 8, S.ERR_SHAPE, F.IN_FEATURES),
    (P.Op.OUTPUT, 0, C["SCNN_OUT_RSVD_SHIFT"], 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
    (P.Op.FLATTEN, 0, C["SCNN_FLATTEN_RSVD_SHIFT"] + 11, 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
    # where RELU keeps its zero point, FLATTEN reserves the bits
    (P.Op.FLATTEN, 0, C["SCNN_RELU_ZERO_SHIFT"], 8, 1, S.ERR_BAD_FIELD, F.RESERVED),
    (P.Op.FLATTEN, 0, C["SCNN_POOL_C_SHIFT"], 16, 8, S.ERR_SHAPE, F.CHANNELS),
    (P.Op.FLATTEN, 0, C["SCNN_POOL_W_SHIFT"], 16, 5, S.ERR_SHAPE, F.WIDTH),
])
def test_fields(device, prog, opcode, word, shift, bits, value, status, detail):
    r, info = patched(device, prog, opcode, word, shift, bits, value)
    assert (r.status, r.packet, r.detail) == (status, info.index, detail)


def test_wrong_payload_length(device, prog):
    w = prog.words.copy()
    pool = packet(prog, P.Op.POOL)
    set_field(w, pool.offset, C["SCNN_PKT_LENGTH_SHIFT"], 24, 2)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_LENGTH, pool.index, 2)
    set_field(w, pool.offset, C["SCNN_PKT_LENGTH_SHIFT"], 24, (1 << 24) - 1)  # past the program's end
    assert send(device, w).status == S.ERR_LENGTH


# -- sequence ------------------------------------------------------------------------------


def _without(prog, *infos):
    keep = np.ones(len(prog.words), bool)
    for info in infos:
        keep[info.offset:info.offset + 1 + info.length] = False
    w = prog.words[keep].copy()
    set_field(w, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, len(w))
    return w


def test_layer_before_input(device, prog):
    """Without its INPUT, the UNPACK of the images' bytes (3 channels: sent as bytes) is the
    first packet that needs activations; without both, the CONV."""
    assert [p.opcode for p in prog.packets[:2]] == [P.Op.INPUT, P.Op.UNPACK]
    r = send(device, _without(prog, packet(prog, P.Op.INPUT)))
    assert (r.status, r.packet, r.detail) == (S.ERR_SEQUENCE, 0, P.Op.UNPACK)
    unpacked = compiler.compile_network(prog.network, device.caps, batch=2, segments=False, pack_images=False)
    r = send(device, _without(unpacked, packet(unpacked, P.Op.INPUT)))
    assert (r.status, r.packet, r.detail) == (S.ERR_SEQUENCE, 0, P.Op.CONV)


def test_missing_tile(device, prog):
    tiles = [p for p in prog.packets if p.opcode == P.Op.TILE]
    r = send(device, _without(prog, tiles[0]))
    assert (r.status, r.packet, r.detail) == (S.ERR_SEQUENCE, tiles[0].index, P.Op.POOL)


def test_tile_without_layer(device, prog):
    r = send(device, _without(prog, packet(prog, P.Op.CONV)))
    assert (r.status, r.detail) == (S.ERR_SEQUENCE, P.Op.TILE)


def test_a_dense_layer_needs_its_input_flattened_at_a_batch(device, prog):
    """Above batch 1 a dense layer takes batch-innermost activations, which only FLATTEN and
    dense layers leave: an FC straight after a pool is out of sequence."""
    flatten = packet(prog, P.Op.FLATTEN)
    r = send(device, _without(prog, flatten))
    assert (r.status, r.packet, r.detail) == (S.ERR_SEQUENCE, flatten.index, P.Op.FC)


@pytest.mark.parametrize("opcode", [P.Op.FLATTEN, P.Op.POOL])
def test_flat_activations_take_no_flatten_or_pool_at_a_batch(device, prog, opcode):
    """A second FLATTEN, or a POOL, after the FLATTEN: whose shape field says (144, 1, 1)."""
    flatten = packet(prog, P.Op.FLATTEN)
    fc = packet(prog, P.Op.FC)
    extra = np.zeros(2, np.uint64)
    extra[1] = np.uint64(144 | (1 << 16) | (1 << 32) | ((1 << 48) | (1 << 52) if opcode == P.Op.POOL else 0))
    extra[0] = compiler.packet_header(opcode, extra[1:])
    w = np.concatenate([prog.words[:fc.offset], extra, prog.words[fc.offset:]])
    set_field(w, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, len(w))
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_SEQUENCE, flatten.index + 1, opcode)


def test_response_that_would_overflow_the_receive_buffer(device, prog, caps):
    w = prog.words.copy()
    set_field(w, 1, C["SCNN_HDR_RESPCAP_SHIFT"], 32, caps.response_reserve_words + 5)
    r = send(device, w)
    assert (r.status, r.packet) == (S.ERR_RESPONSE_FULL, packet(prog, P.Op.OUTPUT).index)
    assert r.records == []


# -- garbage, and recovery ----------------------------------------------------------------


def test_garbage_is_answered_and_the_device_recovers(device, prog, net):
    rng = np.random.default_rng(99)
    for n in list(range(1, 12)) + [int(v) for v in rng.integers(12, 3000, 40)]:
        garbage = rng.integers(0, 1 << 63, n, dtype=np.uint64) << np.uint64(rng.integers(0, 2))
        r = send(device, garbage)
        assert r.status != S.OK and r.words_consumed == n
    # garbage behind a valid header
    w = np.concatenate([prog.words[:2], rng.integers(0, 1 << 63, len(prog.words) - 2, dtype=np.uint64)])
    assert send(device, w).status != S.OK
    assert send(device, np.zeros(50, np.uint64)).status == S.ERR_BAD_MAGIC
    # and the next valid program is right
    r = send(device, prog.words)
    assert r.status == S.OK


def test_device_error_names_status_and_packet(device, net):
    prog = device.load(net, batch=2)
    x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 8, 8)).astype(np.float32)
    assert np.array_equal(prog.run(x), golden.run(net, x))
    loaded = prog._variant(False)
    tile = packet(loaded.prog, P.Op.TILE)
    loaded.send[tile.offset + 20] ^= np.uint64(1 << 3)  # a weight bit flips in the DMA buffer
    with pytest.raises(DeviceError, match=r"ERR_CRC.*packet \d+ \(TILE: conv2d0 output channels") as e:
        prog.run(x)
    assert e.value.status == S.ERR_CRC and e.value.packet == tile.index


# -- batch 1: the fully-connected tile's weights are computed with straight from the prefetch FIFO


@pytest.fixture
def prog1(net, caps):
    p = compiler.compile_network(net, caps, batch=1)
    p.set_images(net.quantize_input(np.random.default_rng(1).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)))
    return p


def test_streamed_fc_tile_that_fails_is_discarded_and_the_device_recovers(device, prog1):
    """The FC tile's weights wait in the FIFO for a TILE command that never comes: execute must
    drop exactly them (the simulator raises DMAError on any word left in, or missing from, a FIFO)."""
    fc = packet(prog1, P.Op.TILE, 1)
    assert prog1.packets[fc.index - 1].opcode == P.Op.FC
    w = prog1.words.copy()
    w[fc.offset + 20] ^= np.uint64(1 << 7)  # a weight
    r = send(device, w)
    assert (r.status, r.packet, r.records) == (S.ERR_CRC, fc.index, [])
    w = prog1.words.copy()
    set_field(w, fc.offset + 2, C["SCNN_RQ_RSVD_SHIFT"], 2, 1)
    recrc(w, fc)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_BAD_FIELD, fc.index, F.REQUANT)
    for cut in range(fc.offset + 1, fc.offset + 1 + fc.length, 7):
        assert send(device, prog1.words[:cut]).status == S.ERR_TRUNCATED
    r = send(device, prog1.words)
    assert r.status == S.OK and r.layers == 4


def test_flatten_beyond_a_dense_layer_input_is_a_limit(device):
    """FLATTEN of 1 x 64 x 66 would make 4,224 features, more than a dense layer takes."""
    b = compiler._Builder()
    c, h, w = 1, 64, 66
    shape = P.put(c, C["SCNN_POOL_C_SHIFT"], 16) | P.put(h, C["SCNN_POOL_H_SHIFT"], 16) | P.put(w, C["SCNN_POOL_W_SHIFT"], 16)
    b.add(P.Op.INPUT, [shape | P.put(1, C["SCNN_IN_B_SHIFT"], 16)] + [0] * (h * w), "image")
    b.add(P.Op.FLATTEN, [shape], "flatten")
    prog = compiler._finish(b, 1, RESPONSE, network=None, outputs=[], hw_layers=[])
    r = send(device, prog.words)
    assert (r.status, r.packet, r.detail) == (S.ERR_LIMIT, 1, P.Cap.MAX_FC_IN)
