"""The program compiler: network + int8 parameters + images -> one stream of 64-bit words.

A program is packed once, when a network is loaded: header, the INPUT packet
(its slot rewritten for every batch), then per accelerator layer a CONV/FC
packet and its TILE packets, POOL or RELU packets, OUTPUT requests, END.
Everything is laid out in the order the hardware consumes it, so a run is
one DMA send and one DMA receive.  docs/protocol.md documents the format;
the constants come from hls_src/streamcnn_protocol.h via :mod:`.protocol`.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import protocol as P
from .caps import Capabilities
from .errors import InputError, LimitError, NetworkError, ProtocolError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU, image_words

C = P.C
LANES = P.LANES
_U64 = np.dtype("<u8")


# -- lowering: network layers -> accelerator layers -------------------------------


@dataclass
class HwLayer:
    """One accelerator layer: a Conv2d/Linear (with its ReLU fused), a pool or a ReLU."""

    op: P.Op
    layer: object
    in_shape: tuple  # on-chip shapes, per image (a Flatten does not change them)
    out_shape: tuple
    names: list  # the network layers it executes
    relu: bool = False
    blocks_per_group: int = 0  # CONV/FC: 8x8 weight blocks per output group (in groups x kh x kw)
    tiles: list = field(default_factory=list)  # CONV/FC: output groups of each tile, in order

    @property
    def name(self) -> str:
        """The network layer whose output this accelerator layer produces."""
        return self.names[-1]


def lower(network: Network) -> list[HwLayer]:
    """Fuse each ReLU that directly follows a Conv2d/Linear into it; Flatten costs
    nothing (a Linear reads the on-chip buffer in order, see fc_weight_on_chip)."""
    hw: list[HwLayer] = []
    chip = network.input_shape  # what the on-chip buffer holds, per image
    prev = None
    for layer, out in zip(network.layers, network.shapes()):
        if isinstance(layer, ReLU) and isinstance(prev, (Conv2d, Linear)):
            hw[-1].relu = True
            hw[-1].names.append(layer.name)
        elif isinstance(layer, Flatten):
            if hw:
                hw[-1].names.append(layer.name)
        else:
            op = {Conv2d: P.Op.CONV, Linear: P.Op.FC, MaxPool2d: P.Op.POOL, AvgPool2d: P.Op.POOL,
                  ReLU: P.Op.RELU}[type(layer)]
            hw.append(HwLayer(op, layer, chip, chip if op == P.Op.RELU else out, [layer.name]))
            chip = hw[-1].out_shape
        prev = layer
    if not hw:
        raise NetworkError(f"{network.name} has no layer the accelerator executes")
    return hw


# -- memory layouts -------------------------------------------------------------------


def groups(channels: int) -> int:
    return -(-channels // LANES)


def _as_chw(shape: tuple) -> tuple:
    """A flat (F,) activation is held on chip as F channels of a 1x1 image."""
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)


def write_lanes(q: np.ndarray, lanes: np.ndarray) -> None:
    """Write int8 (N, C, H, W) images into ``lanes``, a (N, groups, H, W, 8) int8 view
    of words laid out [n][channel group][y][x] (lane = channel % 8).  Lanes beyond C
    are left as they are: zero in every buffer the compiler makes."""
    n, c, h, w = q.shape
    for g in range(groups(c)):
        part = q[:, g * LANES:(g + 1) * LANES]
        lanes[:, g, :, :, :part.shape[1]] = part.transpose(0, 2, 3, 1)


def unpack_images(words: np.ndarray, n: int, shape: tuple) -> np.ndarray:
    """int8 (n, *shape) from words laid out as :func:`write_lanes` writes them."""
    c, h, w = _as_chw(shape)
    g = groups(c)
    lanes = np.ascontiguousarray(words).view(np.int8).reshape(n, g, h, w, LANES).transpose(0, 1, 4, 2, 3)
    out = lanes.reshape(n, g * LANES, h, w)[:, :c]
    return np.ascontiguousarray(out.reshape((n,) + tuple(shape)))


def conv_blocks(weight: np.ndarray) -> np.ndarray:
    """int8 (out, in, kh, kw) -> 8x8 blocks [out group][in group][ky][kx][out lane][in lane]."""
    o, i, kh, kw = weight.shape
    padded = np.zeros((groups(o) * LANES, groups(i) * LANES, kh, kw), dtype=np.int8)
    padded[:o, :i] = weight
    blocks = padded.reshape(groups(o), LANES, groups(i), LANES, kh, kw).transpose(0, 2, 4, 5, 1, 3)
    return np.ascontiguousarray(blocks)


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
        (N, 1, H, out_w, 8) view): lane c*kw + j of (y, x) = xpad[c, y, x*sw + j].
        Padding positions are left as they are: zero in every buffer the compiler makes."""
        n, c, h, w = q.shape
        for j in range(self.kernel_w):
            src = np.arange(self.out_w) * self.stride_w + j - self.pad_w  # column in q; outside = padding
            ok = np.flatnonzero((src >= 0) & (src < w))
            cols = src[ok]
            for ch in range(c):
                lanes[:, 0, :, ok, ch * self.kernel_w + j] = q[:, ch][:, :, cols].transpose(2, 0, 1)


def pack_columns(hw: list, caps: Capabilities, batch: int) -> Optional[ColumnPacking]:
    """Rewrite hw[0] for column packing when it is a Conv2d that benefits and fits."""
    first = hw[0]
    if first.op != P.Op.CONV:
        return None
    conv = first.layer
    c, h, _ = first.in_shape
    o, _, kh, kw = conv.weight.shape
    out_w = first.out_shape[2]
    packed_shape = (c * kw, h, out_w)
    if kw == 1 or c * kw > LANES or batch * image_words(packed_shape) > caps.act_words:
        return None
    weight = np.ascontiguousarray(conv.weight.transpose(0, 1, 3, 2)).reshape(o, c * kw, kh, 1)
    packed = Conv2d(weight=weight, bias=conv.bias, multiplier=conv.multiplier, shift=conv.shift,
                    stride=(conv.stride[0], 1), padding=(conv.padding[0], 0), name=conv.name)
    hw[0] = HwLayer(P.Op.CONV, packed, packed_shape, first.out_shape, first.names, first.relu)
    return ColumnPacking(kw, conv.stride[1], conv.padding[1], out_w)


def fc_weight_on_chip(weight: np.ndarray, in_shape: tuple) -> np.ndarray:
    """Permute a Linear's columns from PyTorch's flatten order (c, y, x) to the
    order of the on-chip buffer ([group][y][x][lane]); padding lanes get 0."""
    c, h, w = _as_chw(in_shape)
    g = groups(c)
    gi, y, x, lane = np.indices((g, h, w, LANES)).reshape(4, -1)
    channel = gi * LANES + lane
    valid = channel < c
    on_chip = np.zeros((weight.shape[0], g * h * w * LANES), dtype=np.int8)
    on_chip[:, np.flatnonzero(valid)] = weight[:, (channel * h * w + y * w + x)[valid]]
    return on_chip[:, :, None, None]


def requant_words(layer) -> np.ndarray:
    """One word per output channel, padded to whole groups with zeros."""
    n = layer.weight.shape[0]
    words = np.zeros(groups(n) * LANES, dtype=np.uint64)
    words[:n] = (
        (layer.bias.astype(np.int64) & 0xFFFFFFFF).astype(np.uint64)
        | (layer.multiplier.astype(np.uint64) << np.uint64(C["SCNN_RQ_MULT_SHIFT"]))
        | (layer.shift.astype(np.uint64) << np.uint64(C["SCNN_RQ_SHIFT_SHIFT"]))
    )
    return words


def tile_groups(blocks_per_group: int, out_groups: int, caps: Capabilities) -> int:
    """Output groups per tile: as many as the tile buffers hold, balanced across tiles."""
    most = min(caps.tile_channels // LANES, caps.weight_entries // blocks_per_group)
    tiles = -(-out_groups // most)
    return -(-out_groups // tiles)


# -- packets --------------------------------------------------------------------------


def packet_header(opcode: int, payload: np.ndarray) -> int:
    """The packet header word, with the CRC-32 of its low half and the payload."""
    low = P.put(opcode, C["SCNN_PKT_OPCODE_SHIFT"], C["SCNN_PKT_OPCODE_BITS"]) | P.put(
        len(payload), C["SCNN_PKT_LENGTH_SHIFT"], C["SCNN_PKT_LENGTH_BITS"])
    crc = zlib.crc32(np.ascontiguousarray(payload, dtype=_U64).tobytes(), zlib.crc32(struct.pack("<I", low)))
    return low | (crc << C["SCNN_PKT_CRC_SHIFT"])


@dataclass
class PacketInfo:
    """Where a packet sits and what it is, to turn an error's packet index into words."""

    index: int
    opcode: P.Op
    offset: int
    length: int
    what: str
    layer: Optional[str] = None  # the network layer the packet belongs to (None: input, output, end)


@dataclass
class OutputSpec:
    tag: int
    layer: str  # network layer name
    shape: tuple  # per-image shape in the network (flattened if a Flatten followed)
    words: int  # on-chip words per image


class _Builder:
    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.packets: list[PacketInfo] = []
        self.offset = C["SCNN_HDR_WORDS"]
        self.layer: Optional[str] = None  # the layer whose packets are being added

    def add(self, opcode: P.Op, payload, what: str) -> int:
        payload = np.asarray(payload, dtype=_U64).reshape(-1)
        self.chunks.append(np.array([packet_header(opcode, payload)], dtype=_U64))
        self.chunks.append(payload)
        self.packets.append(PacketInfo(len(self.packets), opcode, self.offset, len(payload), what, self.layer))
        start = self.offset
        self.offset += 1 + len(payload)
        return start


@dataclass
class CompiledProgram:
    """A program image: the words to send, and how to read what comes back."""

    words: np.ndarray
    batch: int
    network: Optional[Network]
    packets: list[PacketInfo]
    outputs: list[OutputSpec]
    hw_layers: list[HwLayer]
    response_words: int
    input_offset: int = 0  # word offset of the INPUT packet header
    input_shape: tuple = ()  # the network's, per image
    input_layout: tuple = ()  # what the INPUT packet carries per image (differs with column packing)
    columns: Optional[ColumnPacking] = None
    stats: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes

    def set_images(self, q: np.ndarray) -> None:
        """Rewrite the INPUT slot with a batch of int8 (batch, C, H, W) images."""
        if q.dtype != np.int8 or q.shape != (self.batch,) + tuple(self.input_shape):
            raise InputError(f"the program takes int8 images of shape {(self.batch,) + tuple(self.input_shape)}, "
                             f"got {q.dtype} {q.shape}")
        # straight into the send buffer's INPUT slot; padding lanes stay zero
        c, h, w = self.input_layout
        fields = C["SCNN_IN_FIELD_WORDS"]
        payload = self.words[self.input_offset + 1:self.input_offset + 1 + fields + self.batch * groups(c) * h * w]
        lanes = payload[fields:].view(np.int8).reshape(self.batch, groups(c), h, w, LANES)
        if self.columns is not None:
            self.columns.write(q, lanes)
        else:
            write_lanes(q, lanes)
        self.words[self.input_offset] = packet_header(P.Op.INPUT, payload)

    def layer_bytes(self) -> dict:
        """Bytes each accelerator layer streams per run (its packets: geometry, requantization
        words and weights), by the name of its conv, dense, pooling or ReLU layer."""
        sizes: dict = {}
        for p in self.packets:
            if p.layer is not None:
                sizes[p.layer] = sizes.get(p.layer, 0) + 8 * (1 + p.length)
        return sizes

    def describe_packet(self, index: Optional[int]) -> str:
        if index is None:
            return "the program header"
        if 0 <= index < len(self.packets):
            p = self.packets[index]
            return f"packet {index} ({p.opcode.name}: {p.what})"
        return f"packet {index} (beyond the program's {len(self.packets)} packets)"


def _header(total: int, batch: int, response_words: int) -> np.ndarray:
    w0 = (P.put(C["SCNN_PROGRAM_MAGIC"], C["SCNN_HDR_MAGIC_SHIFT"], C["SCNN_HDR_MAGIC_BITS"])
          | P.put(P.FORMAT_VERSION, C["SCNN_HDR_VERSION_SHIFT"], C["SCNN_HDR_VERSION_BITS"])
          | P.put(batch, C["SCNN_HDR_BATCH_SHIFT"], C["SCNN_HDR_BATCH_BITS"]))
    w1 = (P.put(total, C["SCNN_HDR_TOTAL_SHIFT"], C["SCNN_HDR_TOTAL_BITS"])
          | P.put(response_words, C["SCNN_HDR_RESPCAP_SHIFT"], C["SCNN_HDR_RESPCAP_BITS"]))
    return np.array([w0, w1], dtype=_U64)


def _finish(b: _Builder, batch: int, response_words: int, **kw) -> CompiledProgram:
    b.add(P.Op.END, [], "end of program")
    words = np.concatenate([_header(b.offset, batch, response_words)] + b.chunks)
    return CompiledProgram(words=words, batch=batch, packets=b.packets, response_words=response_words, **kw)


#: Receive-buffer words for a capabilities request: enough for any overlay's
#: record and trailer, since the trailer's size is not known before the answer.
CAPS_RESPONSE_WORDS = 4096


def compile_caps_request() -> CompiledProgram:
    """A program that only asks for the capabilities record."""
    b = _Builder()
    b.add(P.Op.CAPS, [], "capabilities request")
    return _finish(b, 1, CAPS_RESPONSE_WORDS, network=None, outputs=[], hw_layers=[])


def compile_network(network: Network, caps: Capabilities, batch: int = 1, *,
                    all_layers: bool = False, column_packing: bool = True) -> CompiledProgram:
    """Pack ``network`` for a device with ``caps``, for batches of ``batch`` images.

    The INPUT slot holds zeros until :meth:`CompiledProgram.set_images`.  With
    ``all_layers`` the program asks for every accelerator layer's output;
    ``column_packing`` lets a first Conv2d with few channels use the idle lanes
    (:class:`ColumnPacking`)."""
    network.check(caps, batch)
    hw = lower(network)
    columns = pack_columns(hw, caps, batch) if column_packing else None
    b = _Builder()
    shape = hw[0].in_shape
    c, h, w = _as_chw(shape)
    fields = [P.put(c, C["SCNN_IN_C_SHIFT"], 16) | P.put(h, C["SCNN_IN_H_SHIFT"], 16)
              | P.put(w, C["SCNN_IN_W_SHIFT"], 16) | P.put(batch, C["SCNN_IN_B_SHIFT"], 16)]
    input_offset = b.add(P.Op.INPUT, fields + [0] * (batch * image_words(shape)), f"{batch} input images")
    outputs: list[OutputSpec] = []
    weight_words = 0
    shape_of = {layer.name: out for layer, out in zip(network.layers, network.shapes())}

    def request_output(layer: HwLayer) -> None:
        tag = len(outputs)
        b.add(P.Op.OUTPUT, [P.put(tag, C["SCNN_OUT_TAG_SHIFT"], C["SCNN_OUT_TAG_BITS"])], f"output of {layer.name}")
        outputs.append(OutputSpec(tag, layer.name, shape_of[layer.name], image_words(layer.out_shape)))

    for i, layer in enumerate(hw):
        b.layer = layer.names[0]  # the conv/dense/pool/relu layer itself (its output may carry a later name)
        if layer.op in (P.Op.CONV, P.Op.FC):
            weight_words += _add_weighted(b, layer, caps)
        elif layer.op == P.Op.POOL:
            pc, ph, pw = layer.in_shape
            f = (P.put(pc, C["SCNN_POOL_C_SHIFT"], 16) | P.put(ph, C["SCNN_POOL_H_SHIFT"], 16)
                 | P.put(pw, C["SCNN_POOL_W_SHIFT"], 16)
                 | P.put(layer.layer.kernel_size, C["SCNN_POOL_KERNEL_SHIFT"], 4)
                 | P.put(layer.layer.stride, C["SCNN_POOL_STRIDE_SHIFT"], 4)
                 | P.put(C["SCNN_POOL_AVG"] if isinstance(layer.layer, AvgPool2d) else C["SCNN_POOL_MAX"],
                         C["SCNN_POOL_MODE_SHIFT"], 1))
            b.add(P.Op.POOL, [f], layer.name)
        else:  # RELU
            rc, rh, rw = _as_chw(layer.in_shape)
            b.add(P.Op.RELU, [P.put(rc, C["SCNN_POOL_C_SHIFT"], 16) | P.put(rh, C["SCNN_POOL_H_SHIFT"], 16)
                              | P.put(rw, C["SCNN_POOL_W_SHIFT"], 16)], layer.name)
        b.layer = None
        if all_layers or i == len(hw) - 1:
            request_output(layer)
    record_words = sum(1 + C["SCNN_TENSOR_HEAD_WORDS"] + batch * o.words for o in outputs)
    prog = _finish(b, batch, record_words + caps.response_reserve_words, network=network, outputs=outputs,
                   hw_layers=hw, input_offset=input_offset, input_shape=network.input_shape,
                   input_layout=_as_chw(shape), columns=columns)
    prog.stats = {"weight_words": weight_words, "input_words": batch * image_words(shape),
                  "program_words": len(prog.words), "response_words": prog.response_words}
    for what, words in (("program", len(prog.words)), ("response", prog.response_words)):
        if words > caps.max_program_words:
            raise LimitError(f"{network.name}: the {what} at batch {batch} is {words} words, the device's maximum "
                             f"is {caps.max_program_words} (max_program_words: the DMA's length register); "
                             f"use a smaller batch or fewer output requests", layer=network.name,
                             limit="max_program_words", value=words, maximum=caps.max_program_words)
    return prog


def _add_weighted(b: _Builder, hw: HwLayer, caps: Capabilities) -> int:
    """CONV/FC packet and its TILE packets; returns the words of weights added."""
    layer = hw.layer
    if hw.op == P.Op.CONV:
        blocks = conv_blocks(layer.weight)
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
        ic, ih, iw = hw.in_shape
        w0 = (P.put(ic, C["SCNN_CONV_INC_SHIFT"], 16) | P.put(ih, C["SCNN_CONV_INH_SHIFT"], 16)
              | P.put(iw, C["SCNN_CONV_INW_SHIFT"], 16) | P.put(layer.weight.shape[0], C["SCNN_CONV_OUTC_SHIFT"], 16))
    else:
        blocks = conv_blocks(fc_weight_on_chip(layer.weight, hw.in_shape))
        kh = kw = sh = sw = 1
        ph = pw = 0
        w0 = (P.put(LANES * image_words(hw.in_shape), C["SCNN_FC_IN_SHIFT"], C["SCNN_FC_IN_BITS"])
              | P.put(layer.weight.shape[0], C["SCNN_FC_OUT_SHIFT"], C["SCNN_FC_OUT_BITS"]))
    out_groups, in_groups = blocks.shape[0], blocks.shape[1]
    tg = tile_groups(in_groups * kh * kw, out_groups, caps)
    hw.blocks_per_group = in_groups * kh * kw
    hw.tiles = [min(tg, out_groups - first) for first in range(0, out_groups, tg)]
    geom = C["SCNN_L1_GEOM_BITS"]
    w1 = (P.put(kh, C["SCNN_L1_KH_SHIFT"], geom) | P.put(kw, C["SCNN_L1_KW_SHIFT"], geom)
          | P.put(sh, C["SCNN_L1_SH_SHIFT"], geom) | P.put(sw, C["SCNN_L1_SW_SHIFT"], geom)
          | P.put(ph, C["SCNN_L1_PH_SHIFT"], geom) | P.put(pw, C["SCNN_L1_PW_SHIFT"], geom)
          | P.put(int(hw.relu), C["SCNN_L1_RELU_SHIFT"], 1)
          | P.put(tg, C["SCNN_L1_TILE_SHIFT"], C["SCNN_L1_TILE_BITS"]))
    b.add(hw.op, [w0, w1], hw.names[0])
    rq = requant_words(layer)
    flat = blocks.reshape(out_groups, -1).view(_U64)  # per out group: in groups x k x k x 8 words
    added = 0
    for first in range(0, out_groups, tg):
        count = min(tg, out_groups - first)
        field_word = P.put(first, C["SCNN_TILE_FIRST_SHIFT"], 16) | P.put(count, C["SCNN_TILE_COUNT_SHIFT"], 16)
        weights = flat[first:first + count].reshape(-1)
        # explicit dtype: NumPy promotes a Python int mixed with uint64 to float64
        payload = np.concatenate([np.array([field_word], dtype=_U64), rq[first * LANES:(first + count) * LANES], weights])
        b.add(P.Op.TILE, payload,
              f"{hw.names[0]} output channels {first * LANES}..{min((first + count) * LANES, layer.weight.shape[0]) - 1}")
        added += len(weights)
    return added


# -- the response ---------------------------------------------------------------------


@dataclass
class LayerCounters:
    opcode: int
    tiles: int
    words: int
    iterations: int


@dataclass
class Response:
    status: P.Status
    packet: Optional[int]  # failing packet index; None for none / the header
    detail: int
    layers: int
    words_consumed: int
    records: list  # (kind, payload words)
    counters: list


def parse_response(words: np.ndarray) -> Response:
    """Split a received response into records and the status trailer."""
    words = np.asarray(words, dtype=_U64)
    records, i, n = [], 0, len(words)
    while i < n:
        w = int(words[i])
        magic = P.field(w, 0, 32)
        if magic == C["SCNN_RECORD_MAGIC"]:
            kind = P.field(w, C["SCNN_REC_KIND_SHIFT"], C["SCNN_REC_KIND_BITS"])
            length = P.field(w, C["SCNN_REC_LENGTH_SHIFT"], C["SCNN_REC_LENGTH_BITS"])
            if i + 1 + length > n:
                raise ProtocolError(f"response record at word {i} claims {length} words; only {n - i - 1} follow")
            records.append((kind, words[i + 1:i + 1 + length]))
            i += 1 + length
        elif magic == C["SCNN_STATUS_MAGIC"]:
            layers = P.field(w, C["SCNN_ST_LAYERS_SHIFT"], 16)
            end = i + C["SCNN_TRAILER_HEAD_WORDS"] + C["SCNN_COUNTER_WORDS"] * layers
            if end != n:
                raise ProtocolError(f"status trailer at word {i} should end at word {end}; the response has {n}")
            w1, w2 = int(words[i + 1]), int(words[i + 2])
            packet = P.field(w1, 0, 32)
            counters = []
            for j in range(layers):
                head, iters = int(words[i + 3 + 2 * j]), int(words[i + 4 + 2 * j])
                counters.append(LayerCounters(P.field(head, 0, 8), P.field(head, C["SCNN_CNT_TILES_SHIFT"], 24),
                                              P.field(head, C["SCNN_CNT_WORDS_SHIFT"], 32), iters))
            status = P.field(w, C["SCNN_ST_STATUS_SHIFT"], 16)
            try:
                status = P.Status(status)
            except ValueError:
                raise ProtocolError(f"unknown status code {status} in the response") from None
            return Response(status=status, packet=None if packet == P.NO_PACKET else packet,
                            detail=P.field(w1, C["SCNN_ST_DETAIL_SHIFT"], 32), layers=layers,
                            words_consumed=P.field(w2, 0, 32), records=records, counters=counters)
        else:
            raise ProtocolError(f"response word {i} is neither a record nor the status trailer ({w:#018x})")
    raise ProtocolError(f"the response ({n} words) has no status trailer")


def tensor_from_record(payload: np.ndarray, spec: OutputSpec, batch: int) -> np.ndarray:
    """int8 (batch, *spec.shape) from a tensor record, copied out of the receive
    buffer (which the next transfer overwrites)."""
    payload = np.array(payload, dtype=_U64, copy=True)
    head = int(payload[0])
    channels, h, w = (P.field(head, s, 16) for s in (0, 16, 32))
    rec_batch = P.field(head, 48, 16)
    tag = P.field(int(payload[1]), 0, 32)
    if tag != spec.tag or rec_batch != batch:
        raise ProtocolError(f"tensor record tag {tag} / batch {rec_batch}, expected {spec.tag} / {batch}")
    data = payload[C["SCNN_TENSOR_HEAD_WORDS"]:]
    hw_shape = (channels, h, w)
    if len(data) != batch * image_words(hw_shape):
        raise ProtocolError(f"tensor record of {hw_shape} x {batch} has {len(data)} data words")
    out = unpack_images(data, batch, hw_shape)
    return out.reshape((batch,) + tuple(spec.shape))
