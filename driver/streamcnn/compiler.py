"""The program compiler: the lowered network (:mod:`.lowering`) -> one stream of 64-bit words.

A program is packed once, when a network is loaded: header, the INPUT packet
(its slot rewritten for every batch), then per accelerator layer a CONV/FC
packet and its TILE packets, a POOL, RELU or FLATTEN packet, OUTPUT requests, END.
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

from . import compression, protocol as P
from .caps import Capabilities
from .errors import InputError, LimitError, NetworkError, ProtocolError
from .lowering import (ColumnPacking, HwLayer, PackedInput, Segment, check, conv_blocks, fc_weight_on_chip, groups,
                       image_words, activation_words, images_first, lower, pack_columns, pack_input, plan_segment,
                       requant_words, tile_groups,
                       unpack_images,
                       unpack_ordered, write_lanes)
from .network import AvgPool2d, Network

C = P.C
LANES = P.LANES
# lower and the layouts are lowering's; they are named here too, where programs are built from them
__all__ = ["compile_network", "compile_caps_request", "CompiledProgram", "OutputSpec", "PacketInfo", "packet_header",
           "parse_response", "Response", "LayerCounters", "tensor_from_record", "CAPS_RESPONSE_WORDS", "lower",
           "write_lanes", "unpack_images", "HwLayer", "ColumnPacking"]
_U64 = np.dtype("<u8")


# -- packets --------------------------------------------------------------------------


def packet_low(opcode: int, length: int) -> int:
    """The low half of a packet's header word: its opcode and payload length."""
    return (P.put(opcode, C["SCNN_PKT_OPCODE_SHIFT"], C["SCNN_PKT_OPCODE_BITS"])
            | P.put(length, C["SCNN_PKT_LENGTH_SHIFT"], C["SCNN_PKT_LENGTH_BITS"]))


def header_crc(low: int) -> int:
    """The CRC-32 state after a header's low half: the payload's bytes continue it."""
    return zlib.crc32(struct.pack("<I", low))


def packet_header(opcode: int, payload: np.ndarray) -> int:
    """The packet header word, with the CRC-32 of its low half and the payload."""
    low = packet_low(opcode, len(payload))
    crc = zlib.crc32(np.ascontiguousarray(payload, dtype=_U64).tobytes(), header_crc(low))
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
    #: chip slot -> flatten position, when the values are not in the natural order of their
    #: shape (a FLATTEN pass's dense output); None otherwise
    order: Optional[np.ndarray] = None
    #: the words are batch-innermost ([word][image]: a FLATTEN's or a dense layer's output)
    batch_inner: bool = False


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
    packed: Optional[PackedInput] = None  # the images sent as bytes (an UNPACK packet follows INPUT)
    segment: Optional[Segment] = None  # the first layers' chunks, when they run image chunk by image chunk
    stats: dict = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes

    def set_images(self, q: np.ndarray) -> None:
        """Rewrite the INPUT slot with a batch of int8 (batch, C, H, W) images."""
        if q.dtype != np.int8 or q.shape != (self.batch,) + tuple(self.input_shape):
            raise InputError(f"the program takes int8 images of shape {(self.batch,) + tuple(self.input_shape)}, "
                             f"got {q.dtype} {q.shape}")
        # straight into the send buffer's INPUT slot; padding slots keep the zero point
        c, h, w = self.input_layout
        fields = C["SCNN_IN_FIELD_WORDS"]
        payload = self.words[self.input_offset + 1:self.input_offset + 1 + fields + self.batch * groups(c) * h * w]
        self.place_images(q, payload[fields:].view(np.int8).reshape(self.batch, groups(c), h, w, LANES))
        self.words[self.input_offset] = packet_header(P.Op.INPUT, payload)

    def place_images(self, q: np.ndarray, lanes: np.ndarray) -> None:
        """Lay (batch, C, H, W) images out in ``lanes``, a (batch, groups, H, W, 8) array of the
        same dtype, as the INPUT packet carries them: in channel lanes, column-packed, or
        flattened if the network starts so.  Slots no image value fills are left as they are (the
        compiler fills them with the input's zero point)."""
        if self.packed is not None:
            self.packed.write(q, lanes)
        elif self.columns is not None:
            self.columns.write(q, lanes)
        else:
            write_lanes(q.reshape((self.batch,) + self.input_layout), lanes)

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
                    all_layers: bool = False, column_packing: bool = True, segments: bool = True,
                    compress: bool = True, pack_images: bool = True) -> CompiledProgram:
    """Pack ``network`` for a device with ``caps``, for batches of ``batch`` images.

    The INPUT slot holds zeros until :meth:`CompiledProgram.set_images`.  With
    ``all_layers`` the program asks for every accelerator layer's output;
    ``column_packing`` lets a first Conv2d with few channels use the idle lanes
    (:class:`ColumnPacking`); ``segments`` lets the first layers of a batch run image chunk by
    image chunk (:class:`Segment`: each chunk's images stream in while the one before computes,
    and a batch fits whose first activations would not), except with ``all_layers``;
    ``compress`` sends each layer's weights at the narrowest width that holds them and leaves
    out its all-zero blocks where the occupancy maps cost less (:mod:`.compression`), exactly;
    ``pack_images`` sends images of at most 8 channels as their bytes, which the accelerator
    spreads into words (:class:`PackedInput`), when that is fewer words and no segment runs."""
    segments = segments and not all_layers
    plan = check(network, caps, batch, segments=segments, column_packing=column_packing)
    if not plan.layers:
        raise NetworkError(f"{network.name} has no layer the accelerator executes")
    columns = pack_columns(plan, caps, batch, segments) if column_packing else None
    segment = plan_segment(plan, caps, batch) if segments else None
    packed = pack_input(plan, columns, network.input_shape) if pack_images and segment is None else None
    words = activation_words(plan, batch, segment)
    if words > caps.act_words:  # it fit column-packed, and column packing is off
        raise LimitError(f"{network.name}: activation words of a batch of {batch} is {words}, the device's maximum "
                         f"is {caps.act_words} (act_words) without column packing", layer=network.name,
                         limit="act_words", value=words, maximum=caps.act_words)
    hw = plan.layers
    b = _Builder()
    c, h, w = plan.input_shape
    layout = (LANES, h, packed.row_words) if packed is not None else plan.input_shape  # what INPUT carries
    fields = [P.put(layout[0], C["SCNN_IN_C_SHIFT"], 16) | P.put(h, C["SCNN_IN_H_SHIFT"], 16)
              | P.put(layout[2], C["SCNN_IN_W_SHIFT"], 16) | P.put(batch, C["SCNN_IN_B_SHIFT"], 16)]
    body = 0
    if segment is not None:
        bits = C["SCNN_SEG_DIM_BITS"]
        b.add(P.Op.SEGMENT, [P.put(c, C["SCNN_SEG_C_SHIFT"], bits) | P.put(h, C["SCNN_SEG_H_SHIFT"], bits)
                             | P.put(w, C["SCNN_SEG_W_SHIFT"], bits) | P.put(segment.chunk, C["SCNN_SEG_CHUNK_SHIFT"], bits),
                             P.put(segment.chunks, C["SCNN_SEG_CHUNKS_SHIFT"], bits)
                             | P.put(segment.layers, C["SCNN_SEG_LAYERS_SHIFT"], C["SCNN_SEG_LAYERS_BITS"])],
              f"{segment.layers} layers image chunk by image chunk: {segment.chunks} chunks of {segment.chunk}")
        body = segment.layers
    outputs: list[OutputSpec] = []
    weight_words = 0
    shape_of = {layer.name: out for layer, out in zip(network.layers, network.shapes())}

    def request_output(layer: HwLayer) -> None:
        tag = len(outputs)
        b.add(P.Op.OUTPUT, [P.put(tag, C["SCNN_OUT_TAG_SHIFT"], C["SCNN_OUT_TAG_BITS"])], f"output of {layer.name}")
        order = layer.out_order if layer.packed else None
        outputs.append(OutputSpec(tag, layer.name, shape_of[layer.name], image_words(layer.out_shape), order,
                                  layer.batch_inner))

    def shape_word(shape: tuple) -> int:
        sc, sh, sw = shape
        return (P.put(sc, C["SCNN_POOL_C_SHIFT"], C["SCNN_POOL_DIM_BITS"])
                | P.put(sh, C["SCNN_POOL_H_SHIFT"], C["SCNN_POOL_DIM_BITS"])
                | P.put(sw, C["SCNN_POOL_W_SHIFT"], C["SCNN_POOL_DIM_BITS"]))

    input_offset = None
    for i, layer in enumerate(hw):
        if i == body:  # the images: after a segment's body, before the layers that take the batch
            # every slot no image value fills (padding columns of column packing, spare lanes)
            # holds the input's zero point: a real 0, as padding on chip
            fill = (network.input_zero_point & 0xFF) * 0x0101010101010101
            input_offset = b.add(P.Op.INPUT, fields + [fill] * (batch * image_words(layout)),
                                 f"{batch} input images" + (" as bytes" if packed else ""))
            if packed is not None:
                small = C["SCNN_UNPACK_SMALL_BITS"]
                b.add(P.Op.UNPACK, [P.put(packed.lanes, C["SCNN_UNPACK_C_SHIFT"], small)
                                    | P.put(packed.step, C["SCNN_UNPACK_STEP_SHIFT"], small)
                                    | P.put(network.input_zero_point & 0xFF, C["SCNN_UNPACK_ZERO_SHIFT"], C["SCNN_ZERO_BITS"])
                                    | P.put(packed.out_w, C["SCNN_UNPACK_W_SHIFT"], C["SCNN_UNPACK_W_BITS"])],
                      f"the images' bytes into words of {packed.lanes} lanes")
        b.layer = layer.names[0]  # the conv/dense/pool/relu layer itself (its output may carry a later name)
        if layer.op in (P.Op.CONV, P.Op.FC):
            weight_words += _add_weighted(b, layer, caps, compress)
        elif layer.op == P.Op.POOL:
            f = (shape_word(layer.in_shape)
                 | P.put(layer.layer.kernel_size, C["SCNN_POOL_KERNEL_SHIFT"], C["SCNN_POOL_GEOM_BITS"])
                 | P.put(layer.layer.stride, C["SCNN_POOL_STRIDE_SHIFT"], C["SCNN_POOL_GEOM_BITS"])
                 | P.put(C["SCNN_POOL_AVG"] if isinstance(layer.layer, AvgPool2d) else C["SCNN_POOL_MAX"],
                         C["SCNN_POOL_MODE_SHIFT"], 1))
            b.add(P.Op.POOL, [f], layer.name)
        elif layer.op == P.Op.RELU:  # the shape of the activations it takes, and its clamp
            b.add(P.Op.RELU, [shape_word(layer.in_shape)
                              | P.put(layer.in_zero & 0xFF, C["SCNN_RELU_ZERO_SHIFT"], C["SCNN_ZERO_BITS"])], layer.name)
        else:  # FLATTEN: the shape of the activations it takes
            b.add(layer.op, [shape_word(layer.in_shape)], layer.name)
        b.layer = None
        if all_layers or i == len(hw) - 1:
            request_output(layer)
    record_words = sum(1 + C["SCNN_TENSOR_HEAD_WORDS"] + batch * o.words for o in outputs)
    prog = _finish(b, batch, record_words + caps.response_reserve_words, network=network, outputs=outputs,
                   hw_layers=hw, input_offset=input_offset, input_shape=network.input_shape,
                   input_layout=layout, columns=columns, packed=packed, segment=segment)
    prog.stats = {"weight_words": weight_words, "input_words": batch * image_words(layout),
                  "program_words": len(prog.words), "response_words": prog.response_words}
    for what, words in (("program", len(prog.words)), ("response", prog.response_words)):
        if words > caps.max_program_words:
            raise LimitError(f"{network.name}: the {what} at batch {batch} is {words} words, the device's maximum "
                             f"is {caps.max_program_words} (max_program_words: the DMA's length register); "
                             f"use a smaller batch or fewer output requests", layer=network.name,
                             limit="max_program_words", value=words, maximum=caps.max_program_words)
    return prog


def _add_weighted(b: _Builder, hw: HwLayer, caps: Capabilities, compress: bool = True) -> int:
    """CONV/FC packet and its TILE packets; returns the words of weights added."""
    layer = hw.layer
    if hw.op == P.Op.CONV:
        blocks = conv_blocks(layer.weight)
        (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
        ic, ih, iw = hw.in_shape
        w0 = (P.put(ic, C["SCNN_CONV_INC_SHIFT"], 16) | P.put(ih, C["SCNN_CONV_INH_SHIFT"], 16)
              | P.put(iw, C["SCNN_CONV_INW_SHIFT"], 16) | P.put(layer.weight.shape[0], C["SCNN_CONV_OUTC_SHIFT"], 16))
    else:
        blocks = conv_blocks(fc_weight_on_chip(layer.weight, hw.in_order))
        kh = kw = sh = sw = 1
        ph = pw = 0
        w0 = (P.put(LANES * image_words(hw.in_shape), C["SCNN_FC_IN_SHIFT"], C["SCNN_FC_IN_BITS"])
              | P.put(layer.weight.shape[0], C["SCNN_FC_OUT_SHIFT"], C["SCNN_FC_OUT_BITS"]))
    out_groups, in_groups = blocks.shape[0], blocks.shape[1]
    tg = tile_groups(in_groups * kh * kw, out_groups, caps)
    hw.blocks_per_group = in_groups * kh * kw
    hw.tiles = [min(tg, out_groups - first) for first in range(0, out_groups, tg)]
    stream = compression.plan_stream(blocks, compress)
    hw.weight_bits, hw.sparse, hw.group_blocks = stream.bits, stream.sparse, stream.group_blocks()
    geom = C["SCNN_L1_GEOM_BITS"]
    w1 = (P.put(kh, C["SCNN_L1_KH_SHIFT"], geom) | P.put(kw, C["SCNN_L1_KW_SHIFT"], geom)
          | P.put(sh, C["SCNN_L1_SH_SHIFT"], geom) | P.put(sw, C["SCNN_L1_SW_SHIFT"], geom)
          | P.put(ph, C["SCNN_L1_PH_SHIFT"], geom) | P.put(pw, C["SCNN_L1_PW_SHIFT"], geom)
          | P.put(int(hw.relu), C["SCNN_L1_RELU_SHIFT"], 1)
          | P.put(stream.code, C["SCNN_L1_WBITS_SHIFT"], C["SCNN_L1_WBITS_BITS"])
          | P.put(int(stream.sparse), C["SCNN_L1_SPARSE_SHIFT"], 1)
          | P.put(tg, C["SCNN_L1_TILE_SHIFT"], C["SCNN_L1_TILE_BITS"])
          # a dense layer has no padding: its input zero point lives in the bias only
          | P.put((0 if hw.op == P.Op.FC else hw.in_zero) & 0xFF, C["SCNN_L1_IN_ZERO_SHIFT"], C["SCNN_ZERO_BITS"])
          | P.put(hw.out_zero & 0xFF, C["SCNN_L1_OUT_ZERO_SHIFT"], C["SCNN_ZERO_BITS"]))
    b.add(hw.op, [w0, w1], hw.names[0])
    rq = requant_words(layer, hw.in_zero)
    per_group = blocks.reshape(out_groups, hw.blocks_per_group, LANES, LANES)  # [out g][block][o][l]
    added = 0
    for first in range(0, out_groups, tg):
        count = min(tg, out_groups - first)
        field_word = P.put(first, C["SCNN_TILE_FIRST_SHIFT"], 16) | P.put(count, C["SCNN_TILE_COUNT_SHIFT"], 16)
        present = stream.present[first:first + count]
        weights = compression.pack_blocks(per_group[first:first + count][present], stream.bits)
        occupancy = compression.occupancy_map(present) if stream.sparse else np.zeros(0, _U64)
        # explicit dtype: NumPy promotes a Python int mixed with uint64 to float64
        payload = np.concatenate([np.array([field_word], dtype=_U64), occupancy,
                                  rq[first * LANES:(first + count) * LANES], weights])
        b.add(P.Op.TILE, payload,
              f"{hw.names[0]} output channels {first * LANES}..{min((first + count) * LANES, layer.weight.shape[0]) - 1}")
        added += len(weights)
    return added


# -- the response ---------------------------------------------------------------------


@dataclass
class LayerCounters:
    """One accelerator layer's counters from the status trailer."""

    opcode: P.Op  # an int if the accelerator reports an opcode this driver does not know
    tiles: int
    words: int  # stream words of the layer's packets
    iterations: int  # of its pipelined inner loop

    def __repr__(self) -> str:
        op = self.opcode.name if isinstance(self.opcode, P.Op) else f"opcode {self.opcode:#04x}"
        return f"LayerCounters({op}, tiles={self.tiles}, words={self.words}, iterations={self.iterations})"


@dataclass
class Response:
    status: P.Status
    packet: Optional[int]  # failing packet index; None for none / the header
    detail: int
    layers: int
    words_consumed: int
    records: list  # (kind, payload words)
    counters: list


def trailer_counters(trailer: np.ndarray) -> list:
    """The per-layer counters of a status trailer (its words, from its head on)."""
    layers = P.field(int(trailer[0]), C["SCNN_ST_LAYERS_SHIFT"], 16)
    counters = []
    for j in range(layers):
        head, iters = int(trailer[3 + 2 * j]), int(trailer[4 + 2 * j])
        op = P.field(head, 0, 8)
        counters.append(LayerCounters(P.Op(op) if op in P.Op._value2member_map_ else op,
                                      P.field(head, C["SCNN_CNT_TILES_SHIFT"], 24),
                                      P.field(head, C["SCNN_CNT_WORDS_SHIFT"], 32), iters))
    return counters


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
            counters = trailer_counters(words[i:])
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
    if spec.batch_inner:
        data = images_first(data, batch)
    if spec.order is not None:
        return unpack_ordered(data, batch, spec.order, int(np.prod(spec.shape))).reshape((batch,) + tuple(spec.shape))
    return unpack_images(data, batch, hw_shape).reshape((batch,) + tuple(spec.shape))
