"""Segments: a batch's first layers run image chunk by image chunk, their weights streamed once,
each chunk's images arriving while the one before computes (docs/protocol.md, SEGMENT)."""
import numpy as np
import pytest

from streamcnn import compiler, cycles, golden, models, protocol as P
from streamcnn.errors import LimitError
from streamcnn.network import Flatten, MaxPool2d, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize

from test_malformed import packet, recrc, set_field

C, S, F = P.C, P.Status, P.Field
RESPONSE = 1 << 16


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(7)
    layers = [FloatConv2d(rng.normal(0, 0.3, (9, 3, 3, 3)), rng.normal(0, 0.1, 9), padding=1), ReLU(),
              MaxPool2d(2), Flatten(), FloatLinear(rng.normal(0, 0.1, (10, 9 * 4 * 4)))]
    return quantize((3, 8, 8), layers, rng.uniform(-1, 1, (8, 3, 8, 8)).astype(np.float32))


@pytest.fixture
def prog(net, caps):
    p = compiler.compile_network(net, caps, batch=4)
    p.set_images(net.quantize_input(np.random.default_rng(0).uniform(-1, 1, (4, 3, 8, 8)).astype(np.float32)))
    return p


def send(device, words):
    return device.execute(np.asarray(words, dtype=np.uint64), RESPONSE)


def test_lenet5_loads_at_batch_32_and_streams_its_weights_once(device, caps):
    net = models.load("lenet5-mnist")
    x = np.random.default_rng(3).uniform(0, 1, (64, 1, 32, 32)).astype(np.float32)
    programs = {b: device.load(net, batch=b) for b in (1, 8, 32)}
    assert programs[1].compiled.segment is None
    seg = programs[32].compiled.segment
    assert (seg.layers, seg.chunk * seg.chunks) == (2, 32)  # conv1 (+ its ReLU) and pool1
    assert [p.opcode for p in programs[32].compiled.packets[:4]] == [P.Op.SEGMENT, P.Op.CONV, P.Op.TILE, P.Op.POOL]
    assert np.array_equal(programs[32].run(x), golden.run(net, x))
    per_image = {b: p.compiled.nbytes / b for b, p in programs.items()}
    assert per_image[32] < per_image[8] < per_image[1] / 4  # the weights once per batch
    # the body's counters add up over the chunks, as the model counts them
    program = programs[32]
    program.run(x[:32])
    modeled = cycles.model(program.compiled, caps)["layers"]
    assert [c.iterations for c in program.last.counters] == [row["iterations"] for row in modeled]
    assert program.last.counters[0].tiles == 1 and program.last.counters[0].words == modeled[0]["stream_words"]


def test_without_segments_batch_32_does_not_fit(caps):
    net = models.load("lenet5-mnist")
    with pytest.raises(LimitError, match="act_words"):
        compiler.compile_network(net, caps, 32, segments=False)
    assert net.max_batch(caps) >= 32


def test_segment_and_layer_major_programs_agree(device, net, caps):
    x = np.random.default_rng(1).uniform(-1, 1, (4, 3, 8, 8)).astype(np.float32)
    q = net.quantize_input(x)
    outs = []
    for segments in (True, False):
        p = compiler.compile_network(net, caps, 4, segments=segments)
        assert (p.segment is not None) == segments
        p.set_images(q)
        r = device.execute(p.words, p.response_words)
        assert r.status == S.OK
        outs.append(compiler.tensor_from_record(r.records[-1][1], p.outputs[-1], 4))
    assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], golden.run(net, x))


def test_the_segment_is_valid(device, prog):
    r = send(device, prog.words)
    assert r.status == S.OK and r.layers == 4


def _seg_field(prog, word, shift, bits, value):
    w = prog.words.copy()
    seg = packet(prog, P.Op.SEGMENT)
    set_field(w, seg.offset + 1 + word, shift, bits, value)
    recrc(w, seg)
    return w


@pytest.mark.parametrize("word,shift,bits,value,status,detail", [
    (0, C["SCNN_SEG_CHUNK_SHIFT"], 16, 3, S.ERR_BAD_FIELD, F.BATCH),       # 3 x chunks != 4
    (0, C["SCNN_SEG_CHUNK_SHIFT"], 16, 0, S.ERR_BAD_FIELD, F.BATCH),
    (1, C["SCNN_SEG_LAYERS_SHIFT"], 8, 0, S.ERR_BAD_FIELD, F.SEGMENT_LAYERS),
    (1, C["SCNN_SEG_LAYERS_SHIFT"], 8, C["SCNN_SEG_MAX_LAYERS"] + 1, S.ERR_BAD_FIELD, F.SEGMENT_LAYERS),
    (1, C["SCNN_SEG_RSVD_SHIFT"], 40, 1, S.ERR_BAD_FIELD, F.RESERVED),
    (0, C["SCNN_SEG_C_SHIFT"], 16, 0, S.ERR_BAD_FIELD, F.CHANNELS),
    (0, C["SCNN_SEG_H_SHIFT"], 16, 200, S.ERR_LIMIT, P.Cap.MAX_DIM),
])
def test_bad_segment_fields(device, prog, word, shift, bits, value, status, detail):
    w = _seg_field(prog, word, shift, bits, value)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (status, packet(prog, P.Op.SEGMENT).index, detail)


def test_a_body_of_one_conv_would_leave_its_output_in_the_other_buffer(device, prog):
    """layers = 1: the CONV writes the buffer INPUT does not, where the chunks cannot gather."""
    w = _seg_field(prog, 1, C["SCNN_SEG_LAYERS_SHIFT"], 8, 1)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_SEQUENCE, P.Op.SEGMENT)


def test_a_body_longer_than_what_follows_allows(device, prog):
    """layers = 3: the FLATTEN packet where a third body layer (CONV, POOL, RELU) should be."""
    w = _seg_field(prog, 1, C["SCNN_SEG_LAYERS_SHIFT"], 8, 3)
    r = send(device, w)
    assert (r.status, r.detail) == (S.ERR_SEQUENCE, P.Op.INPUT)


def test_the_images_must_be_the_segments(device, prog):
    """An INPUT whose shape differs from the SEGMENT's, its CRC renewed."""
    w = prog.words.copy()
    info = packet(prog, P.Op.INPUT)
    set_field(w, info.offset + 1, C["SCNN_IN_H_SHIFT"], 16, 7)
    recrc(w, info)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_SHAPE, info.index, F.HEIGHT)


def test_a_corrupted_image_in_a_segment_is_a_crc_error_and_the_device_still_works(device, prog):
    w = prog.words.copy()
    info = packet(prog, P.Op.INPUT)
    w[info.offset + 2 + 50] ^= np.uint64(1 << 9)  # the second chunk's images, computed before the CRC
    r = send(device, w)
    assert (r.status, r.packet) == (S.ERR_CRC, info.index) and r.records == []
    assert send(device, prog.words).status == S.OK


def test_a_second_segment_or_the_end_inside_one(device, prog):
    seg = packet(prog, P.Op.SEGMENT)
    twice = np.concatenate([prog.words[:seg.offset + 1 + seg.length], prog.words[seg.offset:]])
    set_field(twice, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, len(twice))
    r = send(device, twice)
    assert (r.status, r.detail) == (S.ERR_SEQUENCE, P.Op.SEGMENT)
    info = packet(prog, P.Op.INPUT)
    end = prog.words[-1:]
    cut = np.concatenate([prog.words[:info.offset], end])
    set_field(cut, 1, C["SCNN_HDR_TOTAL_SHIFT"], 32, len(cut))
    r = send(device, cut)
    assert (r.status, r.detail) == (S.ERR_SEQUENCE, P.Op.END)


def test_a_segment_keeps_one_conv_in_one_tile(device, caps):
    rng = np.random.default_rng(2)

    def network(channels):
        layers = [FloatConv2d(rng.normal(0, 0.3, (channels, 3, 3, 3)), rng.normal(0, 0.1, channels), padding=1),
                  MaxPool2d(2), MaxPool2d(2), Flatten(), FloatLinear(rng.normal(0, 0.1, (4, channels)))]
        return quantize((3, 4, 4), layers, rng.uniform(-1, 1, (4, 3, 4, 4)).astype(np.float32))

    assert compiler.compile_network(network(600), caps, 2).segment is None  # 75 output groups: two tiles
    prog = compiler.compile_network(network(16), caps, 2)
    assert prog.segment is not None
    w = prog.words.copy()
    conv = packet(prog, P.Op.CONV)
    set_field(w, conv.offset + 2, C["SCNN_L1_TILE_SHIFT"], 16, 1)  # 1 group per tile: 2 tiles
    recrc(w, conv)
    r = send(device, w)
    assert (r.status, r.packet, r.detail) == (S.ERR_BAD_FIELD, conv.index, F.TILE_GROUPS)


def test_the_default_batch_follows_the_compile_options(device):
    """load() without a batch takes the largest one that fits as asked: with segments and column
    packing (37 for LeNet-5), without segments (8: the whole batch's images in one buffer), or
    without column packing (the segment's images are 1,024 words each)."""
    net = models.load("lenet5-mnist")
    x = np.random.default_rng(4).uniform(0, 1, (3, 1, 32, 32)).astype(np.float32)
    for options, batch in (({}, 37), ({"segments": False}, 8), ({"column_packing": False}, 36)):
        program = device.load(net, **options)
        assert program.batch == batch, options
        assert np.array_equal(program.run(x), golden.run(net, x))


def test_one_chunk_is_no_segment(caps):
    """A segment needs at least two chunks: with one, nothing would overlap."""
    net = models.load("lenet5-mnist")
    for batch in (2, 4, 8):
        seg = compiler.compile_network(net, caps, batch).segment
        assert seg is not None and seg.chunks >= 2 and seg.chunk * seg.chunks == batch
