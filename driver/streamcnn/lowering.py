"""Lowering: a :class:`Network`'s layers -> the accelerator's layers, and where each tensor lives.

This is the hardware plan, in one place: which network layers each accelerator layer
executes (a ReLU after a Conv2d/Linear is fused into it; a Flatten is free, done on the
host, or a FLATTEN pass), the on-chip shape of every tensor, the order its values take in
the words, and the limits of the device the plan must fit.  :mod:`.compiler` encodes the
plan into words; :meth:`Network.check` and the cycle model read the same plan.

On chip an activation of shape (C, H, W) is, per image, ``groups(C) * H * W`` 64-bit
words laid out [channel group][y][x], lane l of group g holding channel 8g + l (lanes
beyond C are zero).  A flat (F,) activation is F channels of a 1 x 1 image.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import protocol as P
from .caps import Capabilities
from .errors import LimitError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU, folded_bias

LANES = P.LANES
Shape = tuple


def groups(channels: int) -> int:
    """Words one pixel of ``channels`` channels takes: channel groups of 8."""
    return -(-channels // LANES)


def as_chw(shape: Shape) -> Shape:
    """A flat (F,) activation is held on chip as F channels of a 1x1 image."""
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)


def image_words(shape: Shape) -> int:
    """Words one image's activations of ``shape`` occupy on chip: channel groups x H x W."""
    c, h, w = as_chw(shape)
    return groups(c) * h * w


def chip_order(shape: Shape) -> np.ndarray:
    """For every (word, lane) slot of one image of ``shape`` on chip, in memory order, the
    position of its value in PyTorch's flatten order (c, y, x); -1 for a padding lane."""
    c, h, w = as_chw(shape)
    g, y, x, lane = np.indices((groups(c), h, w, LANES)).reshape(4, -1)
    channel = g * LANES + lane
    return np.where(channel < c, (channel * h + y) * w + x, -1)


def flattened_order(shape: Shape) -> np.ndarray:
    """The slots of a FLATTEN pass's output: the valid lanes of ``shape``'s words, packed
    densely in memory order, then zero padding to a whole word."""
    valid = chip_order(shape)
    valid = valid[valid >= 0]
    return np.concatenate([valid, np.full(groups(len(valid)) * LANES - len(valid), -1)])


@dataclass
class HwLayer:
    """One accelerator layer: a Conv2d/Linear (with its ReLU fused), a pool, a ReLU, or a
    FLATTEN pass that packs the valid lanes of a (C, H, W) tensor densely for a Linear."""

    op: P.Op
    layer: object  # the network layer it executes (FLATTEN: the Flatten)
    in_shape: tuple  # on-chip shapes, per image
    out_shape: tuple
    names: list  # the network layers it executes
    relu: bool = False
    #: the zero points of its input (CONV: the value of padding; FC: folded into the bias only) and
    #: of its output (CONV/FC: added after rounding; RELU: the clamp)
    in_zero: int = 0
    out_zero: int = 0
    #: where the values of this layer's input sit on chip (chip_order of in_shape unless a
    #: FLATTEN pass packed them); a Linear's weight columns follow it
    in_order: Optional[np.ndarray] = None
    #: its output is laid out batch-innermost ([word][image], a FLATTEN's or an FC's, through
    #: ReLUs), not images one after another
    batch_inner: bool = False
    blocks_per_group: int = 0  # CONV/FC: 8x8 weight blocks per output group (in groups x kh x kw)
    tiles: list = field(default_factory=list)  # CONV/FC: output groups of each tile, in order
    #: CONV/FC, as compiled: bits a weight in the stream, whether tiles carry occupancy maps, and
    #: the blocks each output group sends (blocks_per_group each unless sparse)
    weight_bits: int = 8
    sparse: bool = False
    group_blocks: Optional[np.ndarray] = None

    @property
    def name(self) -> str:
        """The network layer whose output this accelerator layer produces."""
        return self.names[-1]

    @property
    def out_order(self) -> np.ndarray:
        """Where the values of this layer's output sit on chip."""
        if self.op == P.Op.FLATTEN:
            return flattened_order(self.in_shape)
        if self.op == P.Op.RELU and self.in_order is not None:
            return self.in_order  # a ReLU leaves every value where it was, packed or not
        return chip_order(self.out_shape)

    @property
    def packed(self) -> bool:
        """Whether this layer's output sits on chip in another order than chip_order (after a
        FLATTEN pass), so reading it back needs out_order."""
        return self.op == P.Op.FLATTEN or (self.op == P.Op.RELU and self.in_order is not None
                                           and not np.array_equal(self.in_order, chip_order(self.out_shape)))


@dataclass
class Plan:
    """The lowered network: the on-chip shape and order of the images the INPUT packet
    carries, and the accelerator layers in program order."""

    input_shape: Shape  # on chip, per image
    input_order: np.ndarray  # chip slot -> position in the network's flattened input
    layers: list

    def image_words(self) -> int:
        """The most activation words one image occupies in an on-chip buffer."""
        return max([image_words(self.input_shape)] + [image_words(hw.out_shape) for hw in self.layers])

    # the plan reads as its layers, in program order
    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __getitem__(self, i):
        return self.layers[i]


def _next_is_linear(layers: list, i: int) -> bool:
    """Whether the layers after index i reach a Linear through nothing but ReLUs."""
    for layer in layers[i + 1:]:
        if isinstance(layer, Linear):
            return True
        if not isinstance(layer, ReLU):
            return False
    return False


def _batch_inner(hw: list) -> bool:
    """Whether the last of these accelerator layers leaves its output batch-innermost: a
    FLATTEN's or an FC's, through any ReLUs after it."""
    for layer in reversed(hw):
        if layer.op in (P.Op.FC, P.Op.FLATTEN):
            return True
        if layer.op != P.Op.RELU:
            return False
    return False


def lower(network: Network) -> Plan:
    """The accelerator layers of ``network``.

    A ReLU right after a Conv2d/Linear is fused into it.  A Flatten before a Linear is a
    FLATTEN pass, which packs the valid lanes densely, so that the Linear streams only real
    weights, and lays the batch out batch-innermost ([word][image]), so that the Linear's
    pixel slots take several images at once; a Linear's output stays so for the next.  A
    Flatten that nothing dense follows is free.  At the very start the host flattens the
    images (the INPUT packet carries them flattened, images one after another), and the
    FLATTEN pass before the first Linear lays them out."""
    layers = network.layers
    chip = network.input_shape
    order = chip_order(chip)
    if layers and isinstance(layers[0], Flatten):
        chip = (int(np.prod(chip)),)
        order = np.concatenate([np.arange(chip[0]), np.full(image_words(chip) * LANES - chip[0], -1)])
    input_shape, input_order = as_chw(chip), order
    hw: list[HwLayer] = []
    prev = None
    zeros = zip(network.zero_points(inputs=True), network.zero_points())
    for i, (layer, out, (z_in, z_out)) in enumerate(zip(layers, network.shapes(), zeros)):
        if isinstance(layer, ReLU) and isinstance(prev, (Conv2d, Linear)):
            hw[-1].relu = True
            hw[-1].names.append(layer.name)
        elif isinstance(layer, Flatten):
            if not _batch_inner(hw) and _next_is_linear(layers, i):
                hw.append(HwLayer(P.Op.FLATTEN, layer, as_chw(chip), (int(np.prod(chip)), 1, 1), [layer.name],
                                  in_order=order, batch_inner=True))
                chip, order = hw[-1].out_shape, hw[-1].out_order
            elif hw:
                hw[-1].names.append(layer.name)
        else:
            op = {Conv2d: P.Op.CONV, Linear: P.Op.FC, MaxPool2d: P.Op.POOL, AvgPool2d: P.Op.POOL,
                  ReLU: P.Op.RELU}[type(layer)]
            hw.append(HwLayer(op, layer, as_chw(chip), as_chw(chip) if op == P.Op.RELU else as_chw(out),
                              [layer.name], in_order=order, in_zero=z_in, out_zero=z_out))
            hw[-1].batch_inner = _batch_inner(hw)
            chip, order = hw[-1].out_shape, hw[-1].out_order
        prev = layer
    return Plan(input_shape, input_order, hw)


# -- segments: the first layers image chunk by image chunk -----------------------------------


@dataclass(frozen=True)
class Segment:
    """The plan's first ``layers`` accelerator layers (the body) run on ``chunks`` chunks of
    ``chunk`` images in turn, the body's weights loaded once, each chunk's images streaming in
    while the one before computes; their outputs gather at word ``region`` of the buffer the
    images arrive in, the whole batch's, for the layers after (docs/protocol.md, SEGMENT)."""

    layers: int
    chunk: int
    chunks: int
    region: int


def single_tile(hw: HwLayer, caps: Capabilities) -> bool:
    """Whether a CONV/FC layer's weights and requantization words fit one tile."""
    c, _, _ = hw.in_shape
    kh, kw = hw.layer.kernel_size if hw.op == P.Op.CONV else (1, 1)
    blocks = groups(c) * kh * kw
    return blocks <= caps.weight_entries and groups(hw.out_shape[0]) <= min(caps.tile_channels // LANES,
                                                                             caps.weight_entries // blocks)


def plan_segment(plan: Plan, caps: Capabilities, batch: int) -> Optional[Segment]:
    """The longest body of leading layers a SEGMENT can run for this batch (at most
    SCNN_SEG_MAX_LAYERS: at most one Conv2d, in one tile, pools and ReLUs, ending in a Conv2d
    or a pool that writes the buffer the images arrive in), with the largest chunk whose words
    fit; None at batch 1 or when no body fits.  A chunk's images stay within half the
    prefetch FIFO, so the next chunk streams in while one computes."""
    if batch < 2:
        return None
    best = None
    in_words = image_words(plan.input_shape)
    for k in range(1, min(P.C["SCNN_SEG_MAX_LAYERS"], len(plan.layers) - 1) + 1):  # layers left for the batch
        body = plan.layers[:k]
        if body[-1].op not in (P.Op.CONV, P.Op.POOL, P.Op.RELU) or sum(hw.op == P.Op.CONV for hw in body) > 1:
            break
        if body[-1].op == P.Op.CONV and not single_tile(body[-1], caps):
            break
        swaps = sum(hw.op in (P.Op.CONV, P.Op.POOL) for hw in body)
        if body[-1].op == P.Op.RELU or swaps % 2:
            continue
        if any(batch * image_words(hw.out_shape) > caps.act_words for hw in plan.layers[k:]):
            continue
        out_words = image_words(body[-1].out_shape)
        # at least two chunks: one would overlap nothing
        for chunk in sorted((d for d in range(1, batch) if batch % d == 0), reverse=True):
            mine, other, in_other = chunk * in_words, 0, False  # words used in each buffer
            for hw in body[:-1]:
                in_other ^= hw.op in (P.Op.CONV, P.Op.POOL)
                words = chunk * image_words(hw.out_shape)
                mine, other = (mine, max(other, words)) if in_other else (max(mine, words), other)
            if (mine + batch * out_words <= caps.act_words and other <= caps.act_words
                    and 2 * chunk * in_words <= caps.prefetch_entries * LANES):
                best = Segment(k, chunk, batch // chunk, mine)
                break
    return best


def activation_words(plan: Plan, batch: int, segment: Optional[Segment]) -> int:
    """The most words one buffer holds at once for this batch: every tensor's batch, or, with a
    segment, the body's per chunk and the whole batch's after it."""
    if segment is None:
        return batch * plan.image_words()
    rest = [batch * image_words(hw.out_shape) for hw in plan.layers[segment.layers:]]
    return max([segment.region + batch * image_words(plan.layers[segment.layers - 1].out_shape)] + rest)


# -- the device's limits ----------------------------------------------------------------


def check(network: Network, caps: Capabilities, batch: int = 1, *, segments: bool = True,
          column_packing: bool = True) -> Plan:
    """Raise :class:`LimitError` naming the layer and the limit if ``network``, at this batch
    size, does not fit the device; return its plan otherwise.  With ``segments``, a batch whose
    first layers' activations do not fit at once may run them image chunk by image chunk
    (:func:`plan_segment`)."""

    def limit(layer: str, what: str, value: int, maximum: int, cap: str, hint: str = "") -> None:
        if value > maximum:
            where = network.name if layer == network.name else f"{network.name}: {layer}"  # whole-network limits
            raise LimitError(
                f"{where}: {what} is {value}, the device's maximum is {maximum} ({cap}){hint}",
                layer=layer, limit=cap, value=value, maximum=maximum,
            )

    c, h, w = network.input_shape
    limit("input", "channels", c, caps.max_channels, "max_channels")
    limit("input", "height", h, caps.max_dim, "max_dim")
    limit("input", "width", w, caps.max_dim, "max_dim")
    limit(network.name, "batch size", batch, caps.max_batch, "max_batch")
    plan = lower(network)
    limit(network.name, "accelerator layers", len(plan.layers), caps.max_layers, "max_layers")
    for hw in plan.layers:
        n, layer = hw.names[0], hw.layer
        if hw.op == P.Op.CONV:
            for i, dim in enumerate(("height", "width")):
                limit(n, f"kernel {dim}", layer.kernel_size[i], caps.max_kernel, "max_kernel")
                limit(n, f"stride ({dim})", layer.stride[i], caps.max_stride, "max_stride")
                limit(n, f"padding ({dim})", layer.padding[i], caps.max_pad, "max_pad")
            limit(n, "output channels", hw.out_shape[0], caps.max_channels, "max_channels")
            limit(n, "output height", hw.out_shape[1], caps.max_dim, "max_dim")
            limit(n, "output width", hw.out_shape[2], caps.max_dim, "max_dim")
            kh, kw = layer.kernel_size
            limit(n, "weight blocks per output group (input groups x kh x kw)",
                  groups(hw.in_shape[0]) * kh * kw, caps.weight_entries, "weight_entries")
        elif hw.op == P.Op.FC:
            hw_in = LANES * image_words(hw.in_shape)
            padded = hw_in - int(np.count_nonzero(hw.in_order >= 0))
            detail = f"input features ({padded} of them padding lanes)" if padded >= LANES else "input features"
            hint = "; shrink the tensor before the Flatten (pooling, a stride) or the Linear's inputs"
            limit(n, detail, hw_in, caps.max_fc_in, "max_fc_in", hint)
            limit(n, "output features", hw.out_shape[0], caps.max_fc_out, "max_fc_out")
            limit(n, "weight blocks per output group", hw_in // LANES, caps.weight_entries, "weight_entries")
        elif hw.op == P.Op.FLATTEN:
            limit(n, "flattened features", hw.out_shape[0], caps.max_fc_in, "max_fc_in",
                  "; shrink the tensor before the Flatten (pooling, a stride)")
        elif hw.op == P.Op.POOL:
            limit(n, "pooling kernel", layer.kernel_size, caps.max_pool_kernel, "max_pool_kernel")
            limit(n, "pooling stride", layer.stride, caps.max_pool_stride, "max_pool_stride")
    limit("input (flattened on the host)", "channels", plan.input_shape[0], caps.max_channels, "max_channels")
    words = plan.image_words()
    if batch * words > caps.act_words and segments and segment_fits(plan, caps, batch, column_packing):
        return plan
    limit(network.name, f"activation words of a batch of {batch} ({words} per image)", batch * words,
          caps.act_words, "act_words")
    return plan


def segment_fits(plan: Plan, caps: Capabilities, batch: int, column_packing: bool = True) -> bool:
    """Whether this batch fits with a segment, its first layer column-packed if that helps
    (and ``column_packing`` allows it)."""
    if plan_segment(plan, caps, batch) is not None:
        return True
    if not column_packing:
        return False
    trial = Plan(plan.input_shape, plan.input_order, list(plan.layers))
    return pack_columns(trial, caps, batch, True) is not None


# -- memory layouts ---------------------------------------------------------------------------


def write_lanes(q: np.ndarray, lanes: np.ndarray) -> None:
    """Write int8 (N, C, H, W) images into ``lanes``, a (N, groups, H, W, 8) int8 view
    of words laid out [n][channel group][y][x] (lane = channel % 8).  Lanes beyond C
    are left as they are: the input's zero point in every buffer the compiler makes."""
    n, c, h, w = q.shape
    for g in range(groups(c)):
        part = q[:, g * LANES:(g + 1) * LANES]
        lanes[:, g, :, :, :part.shape[1]] = part.transpose(0, 2, 3, 1)


def unpack_images(words: np.ndarray, n: int, shape: tuple) -> np.ndarray:
    """int8 (n, *shape) from words laid out as :func:`write_lanes` writes them."""
    c, h, w = as_chw(shape)
    g = groups(c)
    lanes = np.ascontiguousarray(words).view(np.int8).reshape(n, g, h, w, LANES).transpose(0, 1, 4, 2, 3)
    out = lanes.reshape(n, g * LANES, h, w)[:, :c]
    return np.ascontiguousarray(out.reshape((n,) + tuple(shape)))


def images_first(words: np.ndarray, n: int) -> np.ndarray:
    """Batch-innermost words ([word][image], n images) reordered images first ([image][word])."""
    return np.ascontiguousarray(np.asarray(words).reshape(-1, n).T).reshape(-1)


def unpack_ordered(words: np.ndarray, n: int, order: np.ndarray, size: int) -> np.ndarray:
    """int8 (n, size) flat values from words whose slots hold the values at ``order``."""
    slots = np.ascontiguousarray(words).view(np.int8).reshape(n, -1)
    out = np.zeros((n, size), np.int8)
    valid = order >= 0
    out[:, order[valid]] = slots[:, valid]
    return out


def conv_blocks(weight: np.ndarray) -> np.ndarray:
    """int8 (out, in, kh, kw) -> 8x8 blocks [out group][in group][ky][kx][out lane][in lane]."""
    o, i, kh, kw = weight.shape
    padded = np.zeros((groups(o) * LANES, groups(i) * LANES, kh, kw), dtype=np.int8)
    padded[:o, :i] = weight
    blocks = padded.reshape(groups(o), LANES, groups(i), LANES, kh, kw).transpose(0, 2, 4, 5, 1, 3)
    return np.ascontiguousarray(blocks)


def fc_weight_on_chip(weight: np.ndarray, in_order: np.ndarray) -> np.ndarray:
    """A Linear's weight columns permuted from PyTorch's flatten order to the order its input
    has on chip (``in_order``: chip slot -> flatten position); padding slots get 0.  Returned
    as (out, slots, 1, 1): a 1x1 convolution over the on-chip words."""
    on_chip = np.zeros((weight.shape[0], len(in_order)), dtype=np.int8)
    valid = in_order >= 0
    on_chip[:, valid] = weight[:, in_order[valid]]
    return on_chip[:, :, None, None]


@dataclass(frozen=True)
class ColumnPacking:
    """The first layer's kernel columns carried in the input's spare lanes.

    A Conv2d on C input channels with a kh x kw kernel, C * kw <= 8, leaves most
    of the 8 lanes idle.  The host instead sends channel c * kw + j holding the
    padded input shifted by j columns (and subsampled by the stride), and the
    accelerator runs a kh x 1 convolution: the same sums, kw times fewer cycles,
    the same number of input words."""

    kernel_w: int
    stride_w: int
    pad_w: int
    out_w: int

    def write(self, q: np.ndarray, lanes: np.ndarray) -> None:
        """Write int8 (N, C, H, W) images, column-packed, into ``lanes`` (a
        (N, 1, H, out_w, 8) view): lane j*C + c of (y, x) = xpad[c, y, x*sw + j] (columns, then
        channels: the order of the bytes of a padded row, so that packed images unpack into
        it, :class:`PackedInput`).  Padding positions are left as they are: the input's zero
        point in every buffer the compiler makes."""
        n, c, h, w = q.shape
        for j, into, take in self._slices(w):  # basic slices: strided copies, no index arrays
            for ch in range(c):
                lanes[:, 0, :, into, j * c + ch] = q[:, ch, :, take]

    @functools.lru_cache(maxsize=8)
    def _slices(self, w: int) -> tuple:
        """(j, output columns, input columns) for each kernel column j of an input w wide: output
        column x reads input column x * stride + j - pad, and the valid x form one range."""
        out = []
        for j in range(self.kernel_w):
            src = np.arange(self.out_w) * self.stride_w + j - self.pad_w
            ok = np.flatnonzero((src >= 0) & (src < w))
            if len(ok):
                x0, x1, first = int(ok[0]), int(ok[-1]) + 1, int(src[ok[0]])
                out.append((j, slice(x0, x1), slice(first, first + (x1 - x0 - 1) * self.stride_w + 1, self.stride_w)))
        return tuple(out)


@dataclass(frozen=True)
class PackedInput:
    """The images sent as bytes, and spread into words on chip (the UNPACK packet).

    An image of C <= 8 channels fills C of each word's 8 lanes (column packing: C x kw), but
    every word crosses the DMA whole.  Instead the INPUT packet carries each image row by row
    as its bytes, pixel by pixel (x, then c), ``pad`` columns of the zero point at each side,
    the row rounded up to whole words; the accelerator spreads row y's bytes into ``out_w``
    words of ``lanes`` lanes, word x the bytes from x x ``step`` on: with column packing the
    kernel's columns side by side (lane j*C + c, ``step`` = C x stride), else one pixel's
    channels (``step`` = C).  LeNet-5's 32 x 32 digits: 1,024 bytes a digit instead of 7,168."""

    channels: int
    width: int  # the image's columns
    pad: int  # zero-point columns at each side of a row
    lanes: int
    step: int
    out_w: int

    @property
    def row_words(self) -> int:
        return -(-(self.width + 2 * self.pad) * self.channels // LANES)

    def write(self, q: np.ndarray, lanes: np.ndarray) -> None:
        """Write int8 (N, C, H, W) images into ``lanes``, a (N, 1, H, row_words, 8) view of the
        INPUT packet's words: byte (pad + x) x C + c of row y = q[c, y, x].  Padding bytes are
        left as they are (the zero point)."""
        n, c, h, w = q.shape
        rows = lanes.reshape(n, h, self.row_words * LANES)
        rows[:, :, self.pad * c:(self.pad + w) * c] = q.transpose(0, 2, 3, 1).reshape(n, h, w * c)


def pack_input(plan: Plan, columns: Optional[ColumnPacking], network_input: Shape) -> Optional[PackedInput]:
    """The images as bytes when that sends fewer words: a first layer's input of one channel
    group, column-packed or not (a network that starts with a Flatten already sends its
    values densely)."""
    c, h, w = network_input
    if len(plan.layers) == 0 or plan.input_shape[1:] == (1, 1) or c > LANES:
        return None
    if columns is not None:
        packed = PackedInput(c, w, columns.pad_w, c * columns.kernel_w, c * columns.stride_w, columns.out_w)
    else:
        packed = PackedInput(c, w, 0, c, c, w)
    return packed if packed.row_words < plan.input_shape[2] * groups(plan.input_shape[0]) else None


def pack_columns(plan: Plan, caps: Capabilities, batch: int, segments: bool = True) -> Optional[ColumnPacking]:
    """Rewrite the plan's first layer for column packing when it is a Conv2d that benefits
    and fits (with a segment, if ``segments`` and the batch needs one)."""
    first = plan.layers[0]
    if first.op != P.Op.CONV:
        return None
    conv = first.layer
    c, h, _ = first.in_shape
    o, _, kh, kw = conv.weight.shape
    out_w = first.out_shape[2]
    packed_shape = (c * kw, h, out_w)
    if kw == 1 or c * kw > LANES:
        return None
    weight = np.ascontiguousarray(conv.weight.transpose(0, 3, 1, 2)).reshape(o, c * kw, kh, 1)  # lane j*C + c
    packed = Conv2d(weight=weight, bias=conv.bias, multiplier=conv.multiplier, shift=conv.shift,
                    stride=(conv.stride[0], 1), padding=(conv.padding[0], 0), name=conv.name)
    layer = HwLayer(P.Op.CONV, packed, packed_shape, first.out_shape, first.names, first.relu,
                    in_zero=first.in_zero, out_zero=first.out_zero, in_order=chip_order(packed_shape))
    trial = Plan(packed_shape, plan.input_order, [layer] + plan.layers[1:])
    if activation_words(trial, batch, plan_segment(trial, caps, batch) if segments else None) > caps.act_words:
        return None  # the packed images would not fit where the plain ones do
    plan.layers[0] = layer
    plan.input_shape = packed_shape
    return ColumnPacking(kw, conv.stride[1], conv.padding[1], out_w)


def requant_words(layer, in_zero: int = 0) -> np.ndarray:
    """One word per output channel, padded to whole groups with zeros; the bias with the input
    zero point's term folded in (:func:`streamcnn.network.folded_bias`, which Network checks
    fits int32)."""
    n = layer.weight.shape[0]
    words = np.zeros(groups(n) * LANES, dtype=np.uint64)
    words[:n] = (
        (folded_bias(layer, in_zero) & 0xFFFFFFFF).astype(np.uint64)
        | (layer.multiplier.astype(np.uint64) << np.uint64(P.C["SCNN_RQ_MULT_SHIFT"]))
        | (layer.shift.astype(np.uint64) << np.uint64(P.C["SCNN_RQ_SHIFT_SHIFT"]))
    )
    return words


def tile_groups(blocks_per_group: int, out_groups: int, caps: Capabilities) -> int:
    """Output groups per tile: as many as the tile buffers hold, balanced across tiles."""
    most = min(caps.tile_channels // LANES, caps.weight_entries // blocks_per_group)
    tiles = -(-out_groups // most)
    return -(-out_groups // tiles)
