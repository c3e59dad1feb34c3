"""A cycle model of the accelerator, counted from its HLS schedule (docs/performance.md).

The accelerator is two processes joined by FIFOs (hls_src/streamcnn.cpp):

* decode reads the program at one stream word per cycle (what AXI DMA delivers at
  most: 8 bytes per cycle), packs a tile's words eight to an entry into the prefetch
  FIFO, and issues commands;
* execute runs the commands in order: copies a tile out of the FIFO at one entry per
  cycle, and computes.

Every loop that moves data is pipelined with II = 1; a pipelined loop of n iterations
costs n + depth cycles, with the depths below (assumptions, until csynth reports replace
them).  The model replays one run word by word and entry by entry: decode stalls when a
FIFO is full, execute when the word, entry or command it needs has not arrived.  So while
execute computes a layer, decode streams later layers' weights into the prefetch FIFO,
up to its depth.

The physical bounds beside it: bytes streamed / (8 bytes x f) for the DMA, and real
multiply-accumulates / (lanes x PE x f) for the MAC array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import compression, protocol as P
from .caps import Capabilities
from .compiler import CompiledProgram
from .lowering import HwLayer, groups, image_words
from .network import Conv2d

C = P.C
CLOCK_HZ = 100e6
DMA_BYTES_PER_CYCLE = 8
#: Pipeline depths (cycles to fill and drain) of the pipelined loops; assumptions to be
#: checked against Vitis HLS's schedule.  "stream" is decode's per-packet cost beyond its
#: words (the CRC compare and the checks), "copy" the FIFO-to-buffer copies.
DEPTH = {"stream": 3, "copy": 3, "conv": 16, "pool": 7, "relu": 3, "flatten": 3, "unpack": 4, "output": 3}


@dataclass(frozen=True)
class Pipeline:
    """A pipelined loop of the accelerator, by its label in hls_src/, and what the model
    assumes of it: initiation interval and at most DEPTH[depth] cycles of depth.  The overlay
    build fails when Vitis HLS schedules it worse (overlay/check_hls.py); docs/performance.md
    shows the table and why each loop should reach it."""

    label: str
    ii: int
    depth: str  # a key of DEPTH
    role: str

    @property
    def max_depth(self) -> int:
        return DEPTH[self.depth]


#: Every pipelined loop in hls_src/ (tests/test_cycles.py checks the C++ has exactly these).
PIPELINES = (
    Pipeline("input_word", 1, "stream", "decode: image words into the entry FIFO, eight to an entry"),
    Pipeline("tile_word", 1, "stream", "decode: a tile's words into the entry FIFO, a block's (8, 4 or 2) to an entry"),
    Pipeline("map_word", 1, "stream", "decode: a sparse tile's occupancy-map words, their blocks counted"),
    Pipeline("tap_table", 1, "stream", "decode: a CONV/FC layer's block taps, one a cycle"),
    Pipeline("drain_word", 1, "stream", "decode: the rest of a failed program, up to TLAST"),
    Pipeline("input_copy", 1, "copy", "execute: an entry of 8 image words into the activation buffer"),
    Pipeline("tile_copy", 1, "copy", "execute: a tile's entries into the weight buffer"),
    Pipeline("discard_entry", 1, "copy", "execute: a failed tile's entries dropped"),
    Pipeline("conv_step", 1, "conv", "execute: one 8 x 8 weight block against PIX input words"),
    Pipeline("pool_step", 1, "pool", "execute: a window row of up to PIX outputs"),
    Pipeline("relu_word", 1, "relu", "execute: one word, in place"),
    Pipeline("flatten_step", 1, "flatten", "execute: one word, packed"),
    Pipeline("transpose_step", 1, "flatten", "execute: a FLATTEN of whole words: one word of PIX images"),
    Pipeline("unpack_word", 1, "unpack", "execute: one word of an image sent as bytes, from the two it straddles"),
    Pipeline("tensor_word", 1, "output", "execute: one word of an OUTPUT record"),
    Pipeline("caps_word", 1, "output", "execute: one word of the capabilities record"),
    Pipeline("trailer_layer", 2, "output", "execute: a layer's two counter words"),
)
#: The command FIFO's depth in hls_src/streamcnn_types.h (CMD_FIFO_DEPTH; tests/test_cycles.py
#: reads it from the C++); the prefetch FIFO's, which images pass through too, is a capability.
COMMAND_FIFO = 16
WORDS_PER_ENTRY = P.LANES


@dataclass
class LayerCycles:
    name: str
    op: str
    stream_words: int  # words of this layer's packets (geometry, requantization, weights)
    iterations: int  # of its compute loops; what the accelerator's own counter reports
    compute: int  # cycles of its compute loops, with pipeline depths
    macs: int  # real multiply-accumulates for the batch (no padding lanes)
    copy: int = 0  # cycles copying its tiles out of the prefetch FIFO
    wait: int = 0  # cycles execute waited for decode (commands or entries not there yet)
    done: int = 0  # the cycle its last command finished
    cycles: int = 0  # its share of the run: done minus the previous layer's done

    def compute_bound(self, macs_per_cycle: int) -> float:
        return self.macs / macs_per_cycle

    def utilization(self, macs_per_cycle: int) -> Optional[float]:
        """Real MACs over what the array could do in the layer's compute steps (None for a
        layer without MACs): the share lost to padding lanes, channels, pixels and span."""
        if not self.macs:
            return None
        return round(self.macs / (self.iterations * macs_per_cycle), 3)


def layer_work(hw: HwLayer, batch: int, stream_words: int, caps: Capabilities) -> LayerCycles:
    """Loop counts and compute cycles of one accelerator layer for a batch."""
    pixels = _pixels(hw)
    if hw.op in (P.Op.CONV, P.Op.FC):
        layer = hw.layer
        iterations = sum(_tile_iterations(hw, batch, first, count, caps.pixels) for first, count in _tile_groups(hw))
        compute = iterations + len(hw.tiles) * DEPTH["conv"]
        reach = layer.weight.shape[1] * (layer.weight.shape[2] * layer.weight.shape[3] if isinstance(layer, Conv2d) else 1)
        macs = batch * layer.weight.shape[0] * pixels * reach
        if hw.sparse:  # the blocks left out are not computed: their MACs are not done
            macs = macs * int(hw.group_blocks.sum()) // (hw.blocks_per_group * len(hw.group_blocks))
    elif hw.op == P.Op.POOL:
        k, stride = hw.layer.kernel_size, hw.layer.stride
        per_step = pool_pixels(k, stride, caps.pixels)
        rows, width = hw.out_shape[1], hw.out_shape[2]
        iterations = batch * groups(hw.out_shape[0]) * rows * -(-width // per_step) * k  # a window row a step
        compute = iterations + DEPTH["pool"]  # one pipeline over every pixel's window
        macs = 0
    elif hw.op == P.Op.FLATTEN:
        words = image_words(hw.in_shape)
        if hw.in_shape[0] % P.LANES == 0 and batch > 1 and (caps.pixels == 1 or words % 4):
            iterations = words * -(-batch // caps.pixels)  # whole words: a transposition, PIX images a step
        else:  # a step per input word, and one per image for its last word
            iterations = batch * (words + 1)
        compute = iterations + DEPTH["flatten"]
        macs = 0
    else:  # RELU, in place
        iterations = batch * image_words(hw.in_shape)
        compute = iterations + DEPTH["relu"]
        macs = 0
    return LayerCycles(hw.names[0], hw.op.name, stream_words, iterations, compute, macs)


class _Timeline:
    """Decode and execute, replayed: times are the cycles at which things happen."""

    def __init__(self, prefetch_entries: int) -> None:
        self.prefetch = prefetch_entries
        self.decode = 0  # the cycle decode has reached
        self.execute = 0  # the cycle execute is free
        self.command_start: list[int] = []  # when execute took each command
        self.entry_pop: list[int] = []  # when execute took each prefetch entry, in FIFO order
        self.pushed = 0  # prefetch entries decode has written
        self.wait = 0  # execute's idle cycles, accumulated

    def read(self, words: int) -> None:
        self.decode += words

    def command(self) -> None:
        """Decode issues a command (stalling on a full command FIFO); execute takes it
        when it is free and the command is there."""
        n = len(self.command_start)
        if n >= COMMAND_FIFO:
            self.decode = max(self.decode, self.command_start[n - COMMAND_FIFO] + 1)
        start = max(self.execute, self.decode + 1)
        self.wait += start - self.execute
        self.command_start.append(start)
        self.execute = start

    def run(self, cycles: int) -> None:
        self.execute += cycles

    def push_entries(self, n: int, words: int = 0, per_entry: int = WORDS_PER_ENTRY) -> list[int]:
        """Decode reads n entries' words (``per_entry`` each, or ``words`` in all if the last
        entry is short; an entry of no words still takes its cycle), writing each entry when
        its last word is in, and stalls while the prefetch FIFO is full.  Returns the cycles
        they were written.  (The entries a push waits for were popped by an earlier command,
        already replayed.)"""
        times = []
        for i in range(n):
            self.decode += max(1, min(per_entry, words - i * per_entry) if words else per_entry)
            oldest = self.pushed - self.prefetch
            if oldest >= 0:
                self.decode = max(self.decode, self.entry_pop[oldest] + 1)
            self.pushed += 1
            times.append(self.decode)
        return times

    def pop_entries(self, arrivals: list[int], depth: int, idle: Optional[dict] = None) -> int:
        """Execute takes entries one per cycle, each no earlier than the cycle after it was
        written, in a pipeline of ``depth``, and ``idle[i]`` cycles after entry i.  Returns
        the cycles taken."""
        start = self.execute
        t = start - 1
        for i, arrived in enumerate(arrivals):
            nxt = max(t + 1, arrived + 1)
            self.wait += nxt - (t + 1)
            t = nxt
            self.entry_pop.append(t)
            if idle:
                t += idle.get(i, 0)
        self.execute = t + 1 + depth
        return self.execute - start

    def input(self, words: int) -> int:
        """INPUT's command and its image words, through the prefetch FIFO eight to an entry;
        execute stores an entry a cycle.  Returns execute's cycles."""
        self.command()
        return self.pop_entries(self.push_entries(-(-words // WORDS_PER_ENTRY), words), DEPTH["copy"])


def model(program: CompiledProgram, caps: Capabilities) -> dict:
    """Modeled cycles and latency of one run (one batch) of ``program``, per layer and in
    total, beside the DMA and compute bounds."""
    words = {name: size // 8 for name, size in program.layer_bytes().items()}
    layers = {hw.names[0]: layer_work(hw, program.batch, words[hw.names[0]], caps) for hw in program.hw_layers}
    hw_of = {hw.names[0]: hw for hw in program.hw_layers}
    segment = program.segment
    body = [hw.names[0] for hw in program.hw_layers[:segment.layers]] if segment else []
    for name in body:  # a segment's layers count every chunk: the accelerator's counters add them up
        per_chunk = layer_work(hw_of[name], segment.chunk, words[name], caps)
        layers[name].iterations = segment.chunks * per_chunk.iterations
        layers[name].compute = segment.chunks * per_chunk.compute
    recorded: list = []  # the body's compute, (layer, cycles per chunk), run after each chunk's images
    tiles_done: dict = {}
    t = _Timeline(caps.prefetch_entries)
    t.read(C["SCNN_HDR_WORDS"])
    outputs = iter(program.outputs)  # in the order of their OUTPUT packets
    n_layers = 0
    last_done = 0

    def finish(row: LayerCycles) -> None:
        nonlocal n_layers, last_done
        n_layers += 1
        row.done = t.execute
        row.cycles = row.done - last_done
        last_done = row.done

    for p in program.packets:
        t.read(1)  # packet header
        row = layers.get(p.layer)
        in_body = p.layer in body
        wait_before = t.wait
        if p.opcode == P.Op.INPUT:
            t.read(C["SCNN_IN_FIELD_WORDS"])
            image_words = p.length - C["SCNN_IN_FIELD_WORDS"]
            if segment is None:
                t.input(image_words)
            else:  # chunk by chunk, each computed by the body's layers as soon as its images are in
                start = last_done
                for _ in range(segment.chunks):
                    t.input(image_words // segment.chunks)
                    for name, cycles in recorded:
                        before = t.wait
                        t.read(1)  # decode issues the recorded command: a cycle
                        t.command()
                        t.run(cycles)
                        layers[name].wait += t.wait - before
                for name in body:
                    layers[name].done = t.execute
                    layers[name].cycles = layers[name].compute + layers[name].wait
                # the images' arrival and what is left of the span: the first layer's share
                layers[body[0]].cycles = t.execute - start - sum(layers[n].cycles for n in body[1:])
                n_layers += len(body)
                last_done = t.execute
            t.read(DEPTH["stream"])
        elif p.opcode == P.Op.TILE:
            hw = hw_of[p.layer]
            first, count = _tile_groups(hw)[tiles_done.get(p.layer, 0)]
            tiles_done[p.layer] = tiles_done.get(p.layer, 0) + 1
            sent = _sent_blocks(hw, first, count)  # per output group: blocks on chip (>= 1)
            present = int(hw.group_blocks[first:first + count].sum())
            t.read(C["SCNN_TILE_FIELD_WORDS"])
            if hw.sparse:  # the map, a word a cycle, before the LOAD command
                t.read(count * compression.map_words_per_group(hw.blocks_per_group) + DEPTH["stream"])
            t.command()  # LOAD
            requant = t.push_entries(count)
            # a block's words, or a cycle for a group's block of zeros
            weights = t.push_entries(present, per_entry=hw.weight_bits) + t.push_entries(sum(sent) - present, per_entry=0)
            if program.batch == 1 and _pixels(hw) == 1:
                # each block used once: the compute takes the weights from the FIFO itself,
                # once decode has matched the CRC and issued the TILE command
                row.copy += t.pop_entries(requant, DEPTH["copy"])
                t.read(DEPTH["stream"])
                t.command()  # TILE
                # a group's blocks, then idle steps up to its span; the last PIX steps store
                ends = np.cumsum(sent) - 1
                idle = {int(e): max(0, caps.pixels - n) for e, n in zip(ends, sent)}
                t.pop_entries(sorted(weights), DEPTH["conv"] + caps.pixels, idle=idle)
            else:
                row.copy += t.pop_entries(requant + weights, DEPTH["copy"])
                t.read(DEPTH["stream"])
                images = segment.chunk if in_body else program.batch
                cycles = _tile_iterations(hw, images, first, count, caps.pixels) + DEPTH["conv"]
                if in_body:
                    recorded.append((p.layer, cycles))
                else:
                    t.command()  # TILE
                    t.run(cycles)
        elif p.opcode in (P.Op.CONV, P.Op.FC):  # then the layer's tap table, a block a cycle
            t.read(p.length + DEPTH["stream"] + hw_of[p.layer].blocks_per_group + DEPTH["stream"])
        elif p.opcode == P.Op.SEGMENT:
            t.read(p.length + DEPTH["stream"])
        else:
            t.read(p.length + DEPTH["stream"])
            if in_body:  # POOL, RELU
                recorded.append((p.layer, row.compute // segment.chunks))
                continue
            t.command()
            if p.opcode in (P.Op.POOL, P.Op.RELU, P.Op.FLATTEN):
                t.run(row.compute)
            elif p.opcode == P.Op.UNPACK:  # not a layer: the images' shape after it is the plan's
                _, h, w = program.hw_layers[0].in_shape
                t.run(program.batch * h * -(-w // caps.pixels) + DEPTH["unpack"])  # PIX words a step
            elif p.opcode == P.Op.OUTPUT:
                t.run(1 + C["SCNN_TENSOR_HEAD_WORDS"] + program.batch * next(outputs).words + DEPTH["output"])
            elif p.opcode == P.Op.CAPS:
                t.run(1 + P.CAP_COUNT)
            elif p.opcode == P.Op.END:
                t.run(C["SCNN_TRAILER_HEAD_WORDS"] + C["SCNN_COUNTER_WORDS"] * n_layers)
        if row is not None and not in_body:
            row.wait += t.wait - wait_before
            finished = (p.opcode in (P.Op.POOL, P.Op.RELU, P.Op.FLATTEN)
                        or (p.opcode == P.Op.TILE and tiles_done[p.layer] == len(hw_of[p.layer].tiles)))
            if finished:
                finish(row)
    total = t.execute
    rows = [layers[hw.names[0]] for hw in program.hw_layers]
    macs = sum(r.macs for r in rows)
    dma = len(program.words) * 8 / DMA_BYTES_PER_CYCLE
    compute = macs / caps.macs_per_cycle
    bound = max(dma, compute)
    us = 1e6 / CLOCK_HZ
    return {
        "batch": program.batch,
        "layers": [{"layer": r.name, "op": r.op, "stream_words": r.stream_words, "iterations": r.iterations,
                    "copy_cycles": r.copy, "compute_cycles": r.compute, "wait_cycles": r.wait,
                    "cycles": r.cycles, "latency_us": round(r.cycles * us, 2), "done_us": round(r.done * us, 2),
                    "macs": r.macs, "dma_bound_us": round(r.stream_words * us, 2),
                    "compute_bound_us": round(r.compute_bound(caps.macs_per_cycle) * us, 2),
                    "mac_utilization": r.utilization(caps.macs_per_cycle)}
                   for r in rows],
        "cycles": int(total),
        "latency_us": round(total * us, 2),
        "images_per_s": round(program.batch * CLOCK_HZ / total, 1),
        "decode_cycles": int(t.decode),
        "execute_wait_cycles": int(t.wait),
        "bytes_streamed": int(len(program.words) * 8),
        "macs": int(macs),
        "dma_bound_us": round(dma * us, 2),
        "compute_bound_us": round(compute * us, 2),
        "ratio_to_bound": round(total / bound, 3),
        "clock_mhz": CLOCK_HZ / 1e6,
        "depths": dict(DEPTH),
        "fifos": {"commands": COMMAND_FIFO, "prefetch_entries": caps.prefetch_entries},
        "segment": None if segment is None else {"layers": segment.layers, "chunk": segment.chunk,
                                                 "chunks": segment.chunks},
    }


#: Activation words one cycle reads, one from each bank (hls_src/streamcnn_types.h ACT_BANKS).
ACT_BANKS = 8


def pool_pixels(kernel: int, stride: int, pixels: int) -> int:
    """Outputs pooling computes a step (hls_src pool_pixels): as many as the array's pixels
    whose window rows' taps, (p - 1) x stride + kernel words, fit one read of every bank."""
    return max(p for p in range(1, pixels + 1) if p == 1 or (p - 1) * stride + kernel <= ACT_BANKS)


def _pixels(hw: HwLayer) -> int:
    """Output pixels per image (a dense layer's output is one pixel)."""
    return hw.out_shape[1] * hw.out_shape[2] if len(hw.out_shape) == 3 else 1


def _tile_groups(hw: HwLayer) -> list:
    """(first output group, count) of each of a CONV/FC layer's tiles."""
    firsts = np.cumsum([0] + list(hw.tiles[:-1]))
    return [(int(f), int(c)) for f, c in zip(firsts, hw.tiles)]


def _sent_blocks(hw: HwLayer, first: int, count: int) -> list:
    """Blocks each of the tile's output groups has on chip: those sent, or one block of zeros
    for a group with none (hls_src packet_tile)."""
    return [max(1, int(n)) for n in hw.group_blocks[first:first + count]]


def _tile_iterations(hw: HwLayer, batch: int, first: int, count: int, pixels: int) -> int:
    """The convolution pipeline's trip count for a tile of ``count`` output groups from
    ``first``: every output row's pixels in groups of ``pixels`` (the array's PIX), each group
    max(its output group's blocks, ``pixels``) steps (one per block, and at least one per pixel,
    in which the previous group's pixels are stored), and ``pixels`` steps at the end to store
    the last group (hls_src conv_tile).  A dense layer's row is the batch: its pixel slots
    take that many images at once."""
    if hw.op == P.Op.FC:  # one row of the batch's images, side by side (batch-innermost)
        plane_groups, batch = -(-batch // pixels), 1
    elif conv_wraps(hw, pixels):  # groups run on across rows
        plane_groups = -(-hw.out_shape[1] * hw.out_shape[2] // pixels)
    else:
        plane_groups = hw.out_shape[1] * -(-hw.out_shape[2] // pixels)
    spans = sum(max(n, pixels) for n in _sent_blocks(hw, first, count))
    return batch * plane_groups * spans + pixels


def conv_wraps(hw: HwLayer, pixels: int) -> bool:
    """Whether a convolution's pixel groups run on across rows (hls_src schedule_conv): when
    its width leaves a row's last group short, and a wrapped pixel's taps, stride_h x in_w -
    out_w x stride_w words further on, stay within one read of every bank."""
    (sh, sw), in_w = hw.layer.stride, hw.in_shape[2]
    out_h, out_w = hw.out_shape[1], hw.out_shape[2]
    skip = sh * in_w - sw * out_w
    return (pixels > 1 and out_w % pixels != 0 and out_w >= pixels and out_h > 1
            and 0 <= skip <= ACT_BANKS - 1 - (pixels - 1) * sw)
