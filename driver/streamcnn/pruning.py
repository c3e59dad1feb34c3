"""Magnitude block pruning for the accelerator's weight blocks (needs PyTorch).

The accelerator computes and streams 8x8 weight blocks (8 output channels x 8 input lanes at
one kernel position), and leaves out every block that is all zero (:mod:`.compression`).  A
zero weight saves nothing on its own; a zero *block* saves 8 stream words and a compute step.
So pruning here removes whole blocks, as they fall on chip: a Conv2d's block is 8 output
channels x 8 input channels at one (ky, kx); a Linear's is 8 outputs x 8 consecutive inputs
*in the order they have on chip*, which after a Flatten is not PyTorch's (the lanes of a
(C, H, W) tensor are packed group by group, pixel by pixel: :func:`streamcnn.lowering.
flattened_order`).  The blocks with the smallest L2 norm go first, layer by layer, to a target
sparsity reached gradually during fine-tuning (the cubic schedule of Zhu and Gupta, 2017, which
hls4ml's pruning uses through TensorFlow's model-optimization toolkit).

    pruner = BlockPruner(model, (1, 32, 32), {"3": 0.8, "7": 0.9})   # module name -> sparsity
    fit(model, ..., step_hook=pruner.step)                          # masks tightened as it trains
    pruner.apply()                                                   # exact zeros for from_torch
"""
from __future__ import annotations

from typing import Optional

import numpy as np

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover
    raise ImportError("block pruning needs PyTorch: pip install 'streamcnn[torch]'") from None

from .lowering import LANES, flattened_order, groups


def block_ids(model: nn.Sequential, input_shape: tuple) -> dict:
    """For every Conv2d/Linear of ``model`` (by module name), an int array of its weight's
    shape: the index of the on-chip 8x8 block each weight falls in."""
    if not isinstance(model, nn.Sequential):
        raise TypeError("block pruning takes an nn.Sequential")
    ids: dict = {}
    shape = tuple(input_shape)
    flat_from: Optional[tuple] = None  # the (C, H, W) a Flatten made the current flat tensor from
    first = next(iter(model.named_children()), ("", None))[0]
    with torch.no_grad():
        x = torch.zeros((1,) + shape)
        for name, m in model.named_children():
            if isinstance(m, nn.Conv2d):
                o, i, kh, kw = m.weight.shape
                og, ig, ky, kx = np.meshgrid(np.arange(o) // LANES, np.arange(i) // LANES, np.arange(kh),
                                             np.arange(kw), indexing="ij")
                ids[name] = ((og * groups(i) + ig) * kh + ky) * kw + kx
            elif isinstance(m, nn.Linear):
                o, n = m.weight.shape
                slot = np.arange(n)  # the input's chip slot of each column
                if flat_from is not None:
                    order = flattened_order(flat_from)  # chip slot -> flatten position
                    slot = np.empty(n, np.int64)
                    valid = order >= 0
                    slot[order[valid]] = np.flatnonzero(valid)
                in_blocks = groups(n)
                ids[name] = (np.arange(o)[:, None] // LANES) * in_blocks + slot[None, :] // LANES
                flat_from = None  # a Linear's output sits in its lanes in order
            elif isinstance(m, nn.Flatten):  # at the very start the host flattens: PyTorch's order
                flat_from = tuple(x.shape[1:]) if x.dim() == 4 and name != first else None
            elif not isinstance(m, nn.ReLU):
                flat_from = None
            x = m(x)
    return ids


def cubic_schedule(step: int, steps: int, final: float) -> float:
    """Sparsity at ``step`` of ``steps``: final x (1 - (1 - t)^3), steep at first, gentle at the end."""
    t = min(max(step / max(steps, 1), 0.0), 1.0)
    return final * (1 - (1 - t) ** 3)


class BlockPruner:
    """Masks that zero a growing share of each named layer's blocks, smallest L2 norm first.

    ``targets`` maps module names of ``model`` (its Conv2d/Linear children) to the final
    share of their blocks to remove; the share grows with :func:`cubic_schedule` over
    ``ramp_steps`` calls of :meth:`step` (after each optimizer step), then holds.  A block
    once removed stays removed.  Not safe to share between threads (it mutates the model)."""

    def __init__(self, model: nn.Sequential, input_shape: tuple, targets: dict, ramp_steps: int = 1000,
                 update_every: int = 20) -> None:
        self.model, self.targets = model, dict(targets)
        self.ramp_steps, self.update_every = ramp_steps, update_every
        modules = dict(model.named_children())
        unknown = [n for n in targets if not isinstance(modules.get(n), (nn.Conv2d, nn.Linear))]
        if unknown:
            raise ValueError(f"not Conv2d/Linear children of the model: {', '.join(map(str, unknown))}")
        for name, share in targets.items():
            if not 0 <= share < 1:
                raise ValueError(f"{name}: a sparsity is a share in [0, 1), got {share!r}")
        self._ids = {n: torch.as_tensor(b) for n, b in block_ids(model, input_shape).items() if n in targets}
        self._layers = {n: modules[n] for n in targets}
        self._keep = {n: torch.ones(int(b.max()) + 1, dtype=torch.bool) for n, b in self._ids.items()}
        self.steps = 0

    def _update(self) -> None:
        for name, layer in self._layers.items():
            ids, keep = self._ids[name], self._keep[name]
            w = layer.weight.detach()
            norm = torch.zeros(len(keep), dtype=w.dtype).index_add_(0, ids.flatten(), w.flatten() ** 2)
            norm[~keep] = -1  # removed blocks stay removed
            drop = int(round(cubic_schedule(self.steps, self.ramp_steps, self.targets[name]) * len(keep)))
            if drop > int((~keep).sum()):
                keep[torch.argsort(norm, stable=True)[:drop]] = False

    def step(self) -> None:
        """After an optimizer step: tighten the masks on schedule, and zero what they remove."""
        if self.steps % self.update_every == 0 or self.steps == self.ramp_steps:
            self._update()
        self.steps += 1
        self.apply()

    def apply(self) -> None:
        """Zero every removed block's weights (exactly: from_torch then finds them absent)."""
        with torch.no_grad():
            for name, layer in self._layers.items():
                layer.weight.mul_(self._keep[name][self._ids[name]].to(layer.weight.dtype))

    def sparsity(self) -> dict:
        """The share of each pruned layer's blocks removed so far."""
        return {n: round(float((~k).sum()) / len(k), 4) for n, k in self._keep.items()}
