"""Compressed weight streams (docs/protocol.md, TILE): narrow weights and block sparsity are
exact (device == golden == the same network sent dense at 8 bits), the stream carries exactly
the words the format says, and a wrong map or width is a named accelerator error."""
import numpy as np
import pytest

from streamcnn import compiler, compression, golden, protocol as P, smoke, zoo
from streamcnn.lowering import conv_blocks, flattened_order
from streamcnn.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU

C, S, F = P.C, P.Status, P.Field


def _sparse(rng, shape, bits, drop_groups=(), keep=0.4):
    """Weights within ``bits`` bits, most 8x8 blocks zero, the output groups ``drop_groups`` empty."""
    top = (1 << (bits - 1)) - 1
    w = rng.integers(-top - 1, top + 1, shape)
    w[w == 0] = 1  # every present block has non-zero weights
    zoo._zero_blocks(rng, w, 1 - keep)
    for g in drop_groups:
        w[8 * g:8 * g + 8] = 0
    return w.astype(np.int8)


def _sparse_after_flatten(rng, out, shape, bits, keep):
    """A Linear's weights after a Flatten of ``shape``, most blocks zero as they fall on chip
    (8 consecutive slots of the flattened order, not of PyTorch's)."""
    order = flattened_order(shape)  # chip slot -> PyTorch column (-1: padding)
    on_chip = np.zeros((out, len(order)), np.int64)
    on_chip[:, order >= 0] = _sparse(rng, (out, int((order >= 0).sum())), bits, keep=keep)
    w = np.zeros((out, int(np.prod(shape))), np.int8)
    w[:, order[order >= 0]] = on_chip[:, order >= 0]
    return w


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(17)
    rq = zoo._placeholder_requant
    layers = [Conv2d(_sparse(rng, (20, 9, 3, 3), 4, drop_groups=(1,)), *rq(20), padding=1, output_zero_point=-128),
              ReLU(), MaxPool2d(2), Flatten(),
              Linear(_sparse_after_flatten(rng, 40, (20, 5, 5), 2, keep=0.3), *rq(40), output_zero_point=-128), ReLU(),
              Linear(rng.integers(-127, 128, (10, 40)).astype(np.int8), *rq(10))]
    calibration = rng.integers(-128, 128, (8, 9, 10, 10)).astype(np.int8)
    return zoo.integer_network((9, 10, 10), layers, calibration, rng, input_zero_point=-3)


def test_narrowest_width_and_maps_where_they_pay(net, caps):
    prog = compiler.compile_network(net, caps, 1)
    conv, fc1, fc2 = [hw for hw in prog.hw_layers if hw.op in (P.Op.CONV, P.Op.FC)]
    assert (conv.weight_bits, conv.sparse, fc1.weight_bits, fc1.sparse) == (4, True, 2, True)
    assert (fc2.weight_bits, fc2.sparse) == (8, False)  # random int8 weights: no zero block
    assert conv.group_blocks[1] == 0 and conv.group_blocks.min() == 0  # an output group with no block
    dense = compiler.compile_network(net, caps, 1, compress=False)
    assert all(hw.weight_bits == 8 and not hw.sparse for hw in dense.hw_layers if hw.op in (P.Op.CONV, P.Op.FC))
    assert prog.nbytes < dense.nbytes / 2


def test_tile_words_are_exactly_the_format(net, caps):
    """TILE = field word + each output group's map words + 8 requantization words a group +
    `bits` words per block present."""
    prog = compiler.compile_network(net, caps, 1)
    for hw in (h for h in prog.hw_layers if h.op in (P.Op.CONV, P.Op.FC)):
        tiles = [p for p in prog.packets if p.opcode == P.Op.TILE and p.layer == hw.names[0]]
        first = 0
        for count, info in zip(hw.tiles, tiles):
            present = int(hw.group_blocks[first:first + count].sum())
            maps = count * compression.map_words_per_group(hw.blocks_per_group) if hw.sparse else 0
            assert info.length == 1 + maps + 8 * count + hw.weight_bits * present
            first += count


@pytest.mark.parametrize("batch", [1, 3])
def test_compressed_runs_bit_exact(device, net, batch):
    """Batch 1 runs the dense layers from the FIFO itself (each block once), batch 3 from the
    tile buffer; both equal golden and the dense 8-bit program."""
    x = np.random.default_rng(batch).integers(-128, 128, (batch, 9, 10, 10)).astype(np.int8)
    out = device.load(net, batch=batch).run(x)
    assert np.array_equal(out, golden.run(net, x))
    assert np.array_equal(out, device.load(net, batch=batch, compress=False).run(x))
    assert len(np.unique(out)) > 3


def test_every_config_and_segment(any_config):
    """Random block-sparse and narrow networks on both arrays, with segments at batch 4."""
    seen = set()
    for i in range(40):
        rng = np.random.default_rng(300 + i)
        net = zoo.random_network(rng, any_config.caps, 4)
        prog = any_config.load(net, batch=4)
        seen |= {(hw.weight_bits, hw.sparse) for hw in prog.compiled.hw_layers if hw.op in (P.Op.CONV, P.Op.FC)}
        x = rng.integers(-128, 128, (4,) + net.input_shape).astype(np.int8)
        assert np.array_equal(prog.run(x), golden.run(net, x)), i
    assert {(4, True), (2, True), (4, False), (8, True), (8, False)} <= seen


def test_pack_blocks_is_the_documented_layout():
    """Weight t = 8o + l of a block at bits [n(t+1)-1 : nt] of its n words, two's complement."""
    rng = np.random.default_rng(0)
    for bits in (8, 4, 2):
        top = 1 << (bits - 1)
        blocks = rng.integers(-top, top, (3, 8, 8)).astype(np.int8)
        words = compression.pack_blocks(blocks, bits)
        assert len(words) == 3 * bits
        stream = int.from_bytes(words.astype("<u8").tobytes(), "little")
        for b in range(3):
            for t in range(64):
                field = (stream >> (64 * bits * b + bits * t)) & ((1 << bits) - 1)
                assert field - (field >> (bits - 1) << bits) == blocks[b].reshape(-1)[t]


def test_occupancy_map_bits():
    present = np.zeros((2, 70), bool)
    present[0, [0, 63, 64, 69]] = True
    words = compression.occupancy_map(present)
    assert [int(w) for w in words] == [1 | 1 << 63, 1 | 1 << 5, 0, 0]
    assert compression.weight_width(np.array([-8, 7])) == 4 and compression.weight_width(np.array([-2, 1])) == 2
    assert compression.weight_width(np.array([-9, 0])) == 8 and compression.weight_width(np.array([2])) == 4


def test_conv_blocks_and_present_blocks_agree():
    w = np.zeros((16, 9, 2, 2), np.int8)
    w[8, 8, 1, 0] = 3  # out group 1, in group 1, ky 1, kx 0: block (1 x 2 + 1) x 2 + 0 = 6
    present = compression.present_blocks(conv_blocks(w))
    assert present.shape == (2, 8) and np.flatnonzero(present[1]).tolist() == [6] and not present[0].any()


# -- the accelerator's checks ------------------------------------------------------------------


def _first_sparse(prog):
    hw = next(h for h in prog.hw_layers if h.sparse)
    layer = next(p for p in prog.packets if p.opcode in (P.Op.CONV, P.Op.FC) and p.layer == hw.names[0])
    tile = next(p for p in prog.packets if p.opcode == P.Op.TILE and p.layer == hw.names[0])
    return hw, layer, tile


def _send(device, prog, edit):
    w = prog.words.copy()
    info = edit(w)
    w[info.offset] = compiler.packet_header(info.opcode, w[info.offset + 1:info.offset + 1 + info.length])
    r = device.execute(w, prog.response_words)
    assert device.execute(prog.words, prog.response_words).status == S.OK  # nothing left behind
    return r, info


@pytest.fixture
def sparse_prog(net, caps):
    return compiler.compile_network(net, caps, 1)


def test_a_map_bit_for_a_block_not_sent_is_an_occupancy_error(device, sparse_prog):
    hw, _, tile = _first_sparse(sparse_prog)
    group0 = int(sparse_prog.words[tile.offset + 2])  # the first output group's first map word

    def edit(w):
        missing = next(b for b in range(hw.blocks_per_group) if not (group0 >> b) & 1)
        w[tile.offset + 2] = np.uint64(group0 | 1 << missing)  # one block more than the tile carries
        return tile

    r, info = _send(device, sparse_prog, edit)
    assert (r.status, r.detail, r.packet) == (S.ERR_BAD_FIELD, F.OCCUPANCY, info.index)


def test_a_map_bit_past_the_last_block_is_an_occupancy_error(device, sparse_prog):
    hw, _, tile = _first_sparse(sparse_prog)
    assert hw.blocks_per_group < 64  # 2 input groups x 3 x 3: bits 18..63 of the word are past it

    def edit(w):
        word = int(w[tile.offset + 2])
        low = word & -word  # trade the lowest present block for a bit past the last: the count holds
        w[tile.offset + 2] = np.uint64((word ^ low) | 1 << 63)
        return tile

    r, info = _send(device, sparse_prog, edit)
    assert (r.status, r.detail, r.packet) == (S.ERR_BAD_FIELD, F.OCCUPANCY, info.index)


@pytest.mark.parametrize("sparse,code,status,detail", [
    (True, 3, S.ERR_BAD_FIELD, F.WEIGHT_BITS),  # not a width: the layer packet fails
    # 8 bits claimed for 4-bit blocks: as many words make half the blocks the map marks
    (True, 0, S.ERR_BAD_FIELD, F.OCCUPANCY),
    (False, 1, S.ERR_LENGTH, None),  # 4 bits claimed for a dense 8-bit layer: twice the blocks it has
])
def test_a_wrong_width_is_named(device, sparse_prog, sparse, code, status, detail):
    hw = next(h for h in sparse_prog.hw_layers if h.op in (P.Op.CONV, P.Op.FC) and h.sparse == sparse)
    layer = next(p for p in sparse_prog.packets if p.opcode in (P.Op.CONV, P.Op.FC) and p.layer == hw.names[0])
    tile = next(p for p in sparse_prog.packets if p.opcode == P.Op.TILE and p.layer == hw.names[0])

    def edit(w):
        i = layer.offset + 2
        mask = ((1 << C["SCNN_L1_WBITS_BITS"]) - 1) << C["SCNN_L1_WBITS_SHIFT"]
        w[i] = np.uint64((int(w[i]) & ~mask) | code << C["SCNN_L1_WBITS_SHIFT"])
        return layer

    r, _ = _send(device, sparse_prog, edit)
    assert r.status == status
    if status == S.ERR_LENGTH:
        assert (r.packet, r.detail) == (tile.index, tile.length)
    else:
        assert (r.detail, r.packet) == (detail, layer.index if detail == F.WEIGHT_BITS else tile.index)


def test_a_sparse_tile_without_the_flag_is_a_length_error(device, sparse_prog):
    _, layer, tile = _first_sparse(sparse_prog)

    def edit(w):
        w[layer.offset + 2] = np.uint64(int(w[layer.offset + 2]) & ~(1 << C["SCNN_L1_SPARSE_SHIFT"]))
        return layer

    r, _ = _send(device, sparse_prog, edit)
    assert (r.status, r.packet) == (S.ERR_LENGTH, tile.index)


# -- what the smoke test and the fuzz corpus cover ---------------------------------------------


def test_smoke_topologies_include_sparse_and_narrow_layers(device):
    kinds = set()
    for i in range(50):
        net, batch, _ = smoke.topology(1, i, device)
        prog = device.load(net, batch=batch).compiled
        kinds |= {(hw.weight_bits, hw.sparse) for hw in prog.hw_layers if hw.op in (P.Op.CONV, P.Op.FC)}
    assert {(4, True), (2, True), (4, False), (2, False), (8, True), (8, False)} <= kinds


def test_fuzz_seeds_carry_maps_and_narrow_widths():
    from pathlib import Path
    fields = set()
    for path in (Path(__file__).parent / "fuzz_corpus").glob("seed-*.bin"):
        words = np.frombuffer(path.read_bytes(), "<u8")
        i = C["SCNN_HDR_WORDS"]
        while i < len(words):
            head = int(words[i])
            op, length = head & 0xFF, (head >> 8) & 0xFFFFFF
            if op in (P.Op.CONV, P.Op.FC):
                w1 = int(words[i + 2])
                fields.add((P.field(w1, C["SCNN_L1_WBITS_SHIFT"], 2), P.field(w1, C["SCNN_L1_SPARSE_SHIFT"], 1)))
            i += 1 + length
    assert {(0, 0), (0, 1), (1, 1), (2, 1), (1, 0)} <= fields


# -- images sent as bytes (UNPACK) ----------------------------------------------------------


def _conv_net(shape, out, kernel, seed, **kw):
    rng = np.random.default_rng(seed)
    layers = [Conv2d(zoo._int_weights(rng, (out, shape[0]) + kernel), *zoo._placeholder_requant(out), **kw), ReLU()]
    calibration = rng.integers(-128, 128, (8,) + shape).astype(np.int8)
    return zoo.integer_network(shape, layers, calibration, rng, input_zero_point=int(rng.integers(-128, 128)))


@pytest.mark.parametrize("shape,kernel,kw,columns,row_words", [
    ((1, 32, 32), (5, 5), {}, True, 4),                          # LeNet-5: 1,024 bytes, not 7,168
    ((2, 9, 11), (3, 3), dict(stride=2, padding=1), True, 4),     # two channels, padded rows
    ((3, 12, 12), (3, 3), dict(padding=1), False, 5),             # 3 x 3 > 8 lanes: a pixel's channels
])
@pytest.mark.parametrize("batch", [1, 2])
def test_images_as_bytes_run_bit_exact(device, shape, kernel, kw, columns, row_words, batch):
    net = _conv_net(shape, 11, kernel, sum(shape) + batch, **kw)
    prog = device.load(net, batch=batch, segments=False)
    c = prog.compiled
    assert c.packed is not None and (c.columns is not None) == columns
    assert c.input_layout == (8, shape[1], row_words) and c.stats["input_words"] == batch * shape[1] * row_words
    assert [p.opcode for p in c.packets[:2]] == [P.Op.INPUT, P.Op.UNPACK]
    x = np.random.default_rng(batch).integers(-128, 128, (batch,) + shape).astype(np.int8)
    out = prog.run(x)
    assert np.array_equal(out, golden.run(net, x))
    assert np.array_equal(out, device.load(net, batch=batch, segments=False, pack_images=False).run(x))


def test_a_segment_sends_words(device):
    net = zoo.lenet5()
    prog = device.load(net, batch=16).compiled
    assert prog.segment is not None and prog.packed is None
    assert P.Op.UNPACK not in {p.opcode for p in prog.packets}


@pytest.fixture
def packed_prog(caps):
    net = _conv_net((1, 32, 32), 6, (5, 5), 3)
    return compiler.compile_network(net, caps, 1)


@pytest.mark.parametrize("shift,bits,value,status,detail", [
    (C["SCNN_UNPACK_C_SHIFT"], 4, 0, S.ERR_BAD_FIELD, F.CHANNELS),
    (C["SCNN_UNPACK_C_SHIFT"], 4, 9, S.ERR_BAD_FIELD, F.CHANNELS),
    (C["SCNN_UNPACK_STEP_SHIFT"], 4, 0, S.ERR_BAD_FIELD, F.STRIDE),
    (C["SCNN_UNPACK_STEP_SHIFT"], 4, 2, S.ERR_BAD_FIELD, F.OUT_SIZE),  # 27 x 2 + 5 bytes of a 32-byte row
    (C["SCNN_UNPACK_W_SHIFT"], 16, 0, S.ERR_BAD_FIELD, F.WIDTH),
    (C["SCNN_UNPACK_W_SHIFT"], 16, 129, S.ERR_LIMIT, P.Cap.MAX_DIM),
    (C["SCNN_UNPACK_RSVD0_SHIFT"], 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
    (C["SCNN_UNPACK_RSVD1_SHIFT"] + 15, 1, 1, S.ERR_BAD_FIELD, F.RESERVED),
])
def test_unpack_fields_are_checked(device, packed_prog, shift, bits, value, status, detail):
    info = next(p for p in packed_prog.packets if p.opcode == P.Op.UNPACK)

    def edit(w):
        mask = ((1 << bits) - 1) << shift
        w[info.offset + 1] = np.uint64((int(w[info.offset + 1]) & ~mask) | value << shift)
        return info

    r, _ = _send(device, packed_prog, edit)
    assert (r.status, r.detail, r.packet) == (status, detail, info.index)


def test_unpack_must_follow_its_input(device, packed_prog):
    """A second UNPACK (the images are words already) is out of sequence."""
    w = packed_prog.words.copy()
    unpack = next(p for p in packed_prog.packets if p.opcode == P.Op.UNPACK)
    packet = w[unpack.offset:unpack.offset + 2]
    twice = np.concatenate([w[:unpack.offset + 2], packet, w[unpack.offset + 2:]])
    twice[1] = np.uint64(int(twice[1]) + 2)  # the header's total length
    r = device.execute(twice, packed_prog.response_words)
    assert (r.status, r.detail, r.packet) == (S.ERR_SEQUENCE, P.Op.UNPACK, unpack.index + 1)


def test_the_shipped_compressed_lenet5(device):
    """lenet5-mnist-compressed: 4-bit weights, at least 75% of its blocks absent, at batch 1 at
    most 0.2x lenet5-mnist's bytes and 0.35x its modeled latency on the same overlay (counts of
    the cycle model, deterministic), device == golden."""
    from streamcnn import cycles, datasets, models

    dense, small = models.load("lenet5-mnist"), models.load("lenet5-mnist-compressed")
    progs = [compiler.compile_network(net, device.caps, 1) for net in (dense, small)]
    a, b = (cycles.model(p, device.caps) for p in progs)
    assert b["bytes_streamed"] <= 0.2 * a["bytes_streamed"] and b["latency_us"] <= 0.35 * a["latency_us"]
    weighted = [hw for hw in progs[1].hw_layers if hw.op in (P.Op.CONV, P.Op.FC)]
    assert all(hw.weight_bits == 4 for hw in weighted)
    blocks = sum(hw.blocks_per_group * len(hw.group_blocks) for hw in weighted)
    assert 1 - sum(int(hw.group_blocks.sum()) for hw in weighted) / blocks >= 0.75
    assert small.metadata["accuracy"]["int8"] >= 0.985
    images, _ = datasets.test_set("mnist")
    x = small.quantize_input(images[:64])
    assert np.array_equal(device.load(small, batch=1).run(x[:8]), golden.run(small, x[:8]))
    assert np.array_equal(device.load(small, batch=16).run(x), golden.run(small, x))
