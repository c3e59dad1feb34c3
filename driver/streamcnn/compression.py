"""Compressed weight streams: how a CONV/FC layer's 8x8 weight blocks travel in its TILE packets.

Two savings, both exact (the accelerator computes the same sums, docs/protocol.md, TILE):

* **narrow weights**: a layer whose weights all fit a signed 4-bit (or 2-bit) range is sent
  4 (or 2) bits a weight, a block in 4 (or 2) words instead of 8, and widened on chip;
* **block sparsity**: a block that is entirely zero is neither sent nor computed; each tile
  carries an occupancy map (one bit a block, whole 64-bit words per output group) saying
  which blocks are present.  A layer carries maps only when they save words.

Nothing here decides what the weights are: pruning and quantization make zeros and small
values; this finds them, whatever made them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import protocol as P

C = P.C
MAP_BITS = C["SCNN_MAP_BITS"]
#: The widths the accelerator takes, narrowest first, and their CONV/FC field codes.
WIDTHS = (2, 4, 8)
WIDTH_CODE = {8: C["SCNN_WBITS_8"], 4: C["SCNN_WBITS_4"], 2: C["SCNN_WBITS_2"]}
_U64 = np.dtype("<u8")


def weight_width(weight: np.ndarray) -> int:
    """The narrowest width (2, 4 or 8 bits, two's complement) that holds every weight."""
    lo, hi = (int(weight.min()), int(weight.max())) if weight.size else (0, 0)
    return next(n for n in WIDTHS if -(1 << (n - 1)) <= lo and hi < (1 << (n - 1)))


def present_blocks(blocks: np.ndarray) -> np.ndarray:
    """bool (out groups, blocks per group): whether each 8x8 block has a non-zero weight.
    ``blocks`` is :func:`streamcnn.lowering.conv_blocks`'s [out g][in g][ky][kx][8][8]."""
    out_groups = blocks.shape[0]
    return blocks.reshape(out_groups, -1, 64).any(axis=2)


def map_words_per_group(blocks_per_group: int) -> int:
    """Occupancy-map words of one output group: one bit a block, whole words."""
    return -(-blocks_per_group // MAP_BITS)


def occupancy_map(present: np.ndarray) -> np.ndarray:
    """The map words of a tile's output groups (rows of ``present``): bit b % 64 of the
    group's word b // 64 set when its block b is present."""
    groups, blocks = present.shape
    bits = np.zeros((groups, map_words_per_group(blocks) * MAP_BITS), dtype=np.uint8)
    bits[:, :blocks] = present
    return np.packbits(bits.reshape(groups, -1, 8), axis=2, bitorder="little").reshape(groups, -1).view(_U64).reshape(-1)


def pack_blocks(blocks: np.ndarray, bits: int) -> np.ndarray:
    """The words of 8x8 int8 blocks (..., 8, 8) at ``bits`` a weight: weight t = 8 o + l of a
    block at bits [bits (t + 1) - 1 : bits t] of its ``bits`` words, two's complement."""
    flat = np.ascontiguousarray(blocks).reshape(-1, 64)
    if bits == 8:
        return flat.view(_U64).reshape(-1)
    fields = (flat.astype(np.int16) & ((1 << bits) - 1)).astype(np.uint64)  # two's complement fields
    per_word = 64 // bits
    fields = fields.reshape(len(flat), bits, per_word)  # [block][word][field]
    shifts = (np.arange(per_word, dtype=np.uint64) * np.uint64(bits))
    return np.bitwise_or.reduce(fields << shifts, axis=2).astype(_U64).reshape(-1)


@dataclass(frozen=True)
class LayerStream:
    """How one CONV/FC layer's weights are sent: the width, whether its tiles carry maps, and
    which blocks each output group sends."""

    bits: int
    sparse: bool
    present: np.ndarray  # bool (out groups, blocks per group); all True for a dense layer

    @property
    def code(self) -> int:
        return WIDTH_CODE[self.bits]

    def group_blocks(self) -> np.ndarray:
        """Blocks each output group sends and computes (a group with none still computes one
        block of zeros on chip, so that its sums start)."""
        return self.present.sum(axis=1)


def plan_stream(blocks: np.ndarray, compress: bool = True) -> LayerStream:
    """The stream of a layer's ``blocks``: the narrowest width, and maps where they save words
    (``compress=False``: 8-bit and dense)."""
    dense = np.ones(blocks.shape[:1] + (int(np.prod(blocks.shape[1:4])),), dtype=bool)
    if not compress:
        return LayerStream(8, False, dense)
    bits = weight_width(blocks)
    present = present_blocks(blocks)
    per_group = dense.shape[1]
    map_cost = len(present) * map_words_per_group(per_group)  # every tile's maps together
    saved = int((~present).sum()) * bits
    if saved > map_cost:
        return LayerStream(bits, True, present)
    return LayerStream(bits, False, dense)
