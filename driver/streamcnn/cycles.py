"""A cycle model of the accelerator, counted from its HLS schedule (docs/performance.md).

Every loop that moves data is pipelined with II = 1; a pipelined loop of n
iterations costs n + depth cycles, with the depths below (assumptions, until
csynth reports replace them).  In the current design the stages run one after
another: a packet is read (one stream word per cycle, which is also what AXI
DMA delivers at most: 8 bytes per cycle), then computed with.  So a layer costs
its stream words plus its compute loops, and a run costs the sum over packets.

The physical bounds beside it: bytes streamed / (8 bytes x f) for the DMA, and
real multiply-accumulates / (lanes x PE x f) for the MAC array.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import protocol as P
from .caps import Capabilities
from .compiler import CompiledProgram, HwLayer, groups
from .network import Conv2d, image_words

CLOCK_HZ = 100e6
DMA_BYTES_PER_CYCLE = 8
#: Pipeline depths (cycles to fill and drain) of the pipelined loops; assumptions to be
#: checked against Vitis HLS's schedule.
DEPTH = {"stream": 3, "conv": 12, "pool": 5, "relu": 3, "output": 3}


@dataclass
class LayerCycles:
    name: str
    op: str
    stream_words: int  # words of this layer's packets (geometry, requantization, weights)
    iterations: int  # of its compute loops; what the accelerator's own counter reports
    cycles: int  # modeled: stream + compute
    macs: int  # real multiply-accumulates for the batch (no padding lanes)

    @property
    def dma_bound(self) -> float:
        return self.stream_words

    def compute_bound(self, macs_per_cycle: int) -> float:
        return self.macs / macs_per_cycle


def layer_cycles(hw: HwLayer, batch: int, stream_words: int) -> LayerCycles:
    """The modeled cycles of one accelerator layer for a batch."""
    out_c, out_h, out_w = hw.out_shape if len(hw.out_shape) == 3 else (hw.out_shape[0], 1, 1)
    pixels = out_h * out_w
    if hw.op in (P.Op.CONV, P.Op.FC):
        layer = hw.layer
        iterations = sum(batch * count * pixels * hw.blocks_per_group for count in hw.tiles)
        compute = iterations + len(hw.tiles) * DEPTH["conv"]
        reach = layer.weight.shape[1] * (layer.weight.shape[2] * layer.weight.shape[3] if isinstance(layer, Conv2d) else 1)
        macs = batch * layer.weight.shape[0] * pixels * reach
    elif hw.op == P.Op.POOL:
        k = hw.layer.kernel_size
        iterations = batch * groups(out_c) * pixels * k * k
        compute = iterations + DEPTH["pool"]  # one pipeline over every pixel's window
        macs = 0
    else:  # RELU, in place
        iterations = batch * image_words(hw.in_shape)
        compute = iterations + DEPTH["relu"]
        macs = 0
    name = hw.names[0]
    return LayerCycles(name, hw.op.name, stream_words, iterations, stream_words + compute, macs)


def model(program: CompiledProgram, caps: Capabilities) -> dict:
    """Modeled cycles and latency of one run (one batch) of ``program``, per layer and in
    total, beside the DMA and compute bounds."""
    words = {name: size // 8 for name, size in program.layer_bytes().items()}
    layers = [layer_cycles(hw, program.batch, words[hw.names[0]]) for hw in program.hw_layers]
    other_words = len(program.words) - sum(words.values())  # header, INPUT, OUTPUT requests, END
    output_words = sum(1 + P.C["SCNN_TENSOR_HEAD_WORDS"] + program.batch * o.words for o in program.outputs)
    overhead = other_words + len(program.packets) * DEPTH["stream"] + output_words + DEPTH["output"]
    total = sum(layer.cycles for layer in layers) + overhead
    macs = sum(layer.macs for layer in layers)
    dma = len(program.words) * 8 / DMA_BYTES_PER_CYCLE
    compute = macs / caps.macs_per_cycle
    bound = max(dma, compute)
    us = 1e6 / CLOCK_HZ
    return {
        "batch": program.batch,
        "layers": [{"layer": layer.name, "op": layer.op, "stream_words": layer.stream_words,
                    "iterations": layer.iterations, "cycles": layer.cycles,
                    "latency_us": round(layer.cycles * us, 2), "macs": layer.macs,
                    "dma_bound_us": round(layer.dma_bound * us, 2),
                    "compute_bound_us": round(layer.compute_bound(caps.macs_per_cycle) * us, 2)}
                   for layer in layers],
        "cycles": int(total),
        "latency_us": round(total * us, 2),
        "images_per_s": round(program.batch * CLOCK_HZ / total, 1),
        "bytes_streamed": int(len(program.words) * 8),
        "macs": int(macs),
        "dma_bound_us": round(dma * us, 2),
        "compute_bound_us": round(compute * us, 2),
        "ratio_to_bound": round(total / bound, 3),
        "clock_mhz": CLOCK_HZ / 1e6,
        "depths": dict(DEPTH),
    }
