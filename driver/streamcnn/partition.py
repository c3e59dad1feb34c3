"""A network cut at layer boundaries into stages, one board each (a layer pipeline).

Stage k's output is the int8 tensor golden.run would compute at that boundary, and stage
k + 1 is a network whose input is exactly that tensor (its scale and zero point), so the
stages chained give the whole network's output bit for bit::

    stages = partition.split(network, partition.balanced_cuts(network, caps, 2))
    y = stages[1].run(stages[0].run(x))       # == golden.run(network, x)

Each stage streams only its own layers' weights.  :func:`balanced_cuts` picks the cuts
from the cycle model so the slowest stage, which bounds a pipeline's images per second,
is as fast as it can be.
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .caps import Capabilities
from .errors import LimitError, NetworkError
from .network import Flatten, Network, ReLU


def cut_points(network: Network) -> list[int]:
    """The layer indices a stage may start at: not a ReLU (the accelerator fuses it with the
    layer before), and not right after a Flatten (cutting before it costs the same)."""
    layers = network.layers
    return [i for i in range(1, len(layers))
            if not isinstance(layers[i], ReLU) and not isinstance(layers[i - 1], Flatten)]


def split(network: Network, cuts: Sequence[int]) -> list[Network]:
    """The stages of ``network`` cut before each layer index in ``cuts`` (ascending).

    A stage that starts at a flat tensor (F,) takes it as an (F, 1, 1) input and flattens it
    first, which keeps every value in place."""
    cuts = list(cuts)
    allowed = cut_points(network)
    for c in cuts:
        if c not in allowed:
            raise NetworkError(f"{network.name}: cannot start a stage at layer {c}; the cut points are {allowed}")
    if cuts != sorted(set(cuts)):
        raise NetworkError(f"{network.name}: cuts must be distinct and ascending, got {cuts}")
    shapes, scales, zeros = network.shapes(), network.scales(), network.zero_points()
    bounds = [0] + cuts + [len(network.layers)]
    stages = []
    for k, (start, end) in enumerate(zip(bounds, bounds[1:])):
        layers = [copy.copy(layer) for layer in network.layers[start:end]]
        if start == 0:
            shape, scale, zero = network.input_shape, network.input_scale, network.input_zero_point
        else:
            shape, scale, zero = shapes[start - 1], scales[start - 1], zeros[start - 1]
            scale = 1.0 if scale is None else scale  # int8 inputs pass as they are; the scale is for floats
            if len(shape) == 1:
                shape = (shape[0], 1, 1)
                layers.insert(0, Flatten(name=f"{network.name}-stage{k}-input"))
        stages.append(Network(tuple(shape), layers, input_scale=scale, input_zero_point=zero,
                              name=f"{network.name}-stage{k}",
                              metadata={"stage": k, "stages": len(bounds) - 1, "network": network.name,
                                        "layers": [start, end]}))
    return stages


def stage_input(stage: Network, x: np.ndarray) -> np.ndarray:
    """The previous stage's int8 output, shaped as ``stage``'s input."""
    return np.ascontiguousarray(x).reshape((len(x),) + stage.input_shape)


def seconds_per_image(network: Network, caps: Capabilities) -> float:
    """The cycle model's board time per image, at the largest batch the device takes."""
    from . import compiler, cycles

    batch = network.max_batch(caps)
    if batch < 1:
        network.check(caps, 1)  # raises, naming the limit
    modeled = cycles.model(compiler.compile_network(network, caps, batch), caps)
    return modeled["latency_us"] * 1e-6 / batch


@dataclass
class Plan:
    """Cuts chosen for a pipeline, with each stage's modeled time per image."""

    cuts: list
    stage_seconds: list

    @property
    def images_per_second(self) -> float:
        """A full pipeline's throughput: its slowest stage's."""
        return 1.0 / max(self.stage_seconds)


def balanced_cuts(network: Network, caps: Capabilities, stages: int) -> Plan:
    """The cuts into ``stages`` stages whose slowest stage is fastest by the cycle model (the
    total time breaks ties).  Raises :class:`LimitError` if no split fits the device."""
    if isinstance(stages, bool) or not isinstance(stages, (int, np.integer)) or stages < 1:
        raise NetworkError(f"stages must be a positive integer, got {stages!r}")
    points = cut_points(network)
    if stages - 1 > len(points):
        raise NetworkError(f"{network.name} can be cut into at most {len(points) + 1} stages, not {stages}")
    cost: dict = {}  # (start, end) -> seconds per image, None if that stage does not fit

    def stage_cost(start: int, end: int) -> Optional[float]:
        if (start, end) not in cost:
            piece = split(network, [c for c in (start, end) if 0 < c < len(network.layers)])
            part = piece[1] if start > 0 else piece[0]
            try:
                cost[start, end] = seconds_per_image(part, caps)
            except LimitError:
                cost[start, end] = None
        return cost[start, end]

    best: Optional[tuple] = None
    for cuts in itertools.combinations(points, stages - 1):
        bounds = (0,) + cuts + (len(network.layers),)
        times = [stage_cost(a, b) for a, b in zip(bounds, bounds[1:])]
        if any(t is None for t in times):
            continue
        score = (max(times), sum(times))
        if best is None or score < best[0]:
            best = (score, list(cuts), times)
    if best is None:
        network.check(caps, 1)  # the whole network does not fit: name the limit
        raise LimitError(f"{network.name}: no split into {stages} stages fits the device", limit="stages")
    return Plan(best[1], best[2])


__all__ = ["cut_points", "split", "stage_input", "seconds_per_image", "balanced_cuts", "Plan"]
