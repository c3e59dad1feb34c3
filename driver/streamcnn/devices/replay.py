"""A device that answers every transfer at once with one recorded answer.

It measures what the host alone costs per batch (the work of :mod:`streamcnn.hostpath`):
with the accelerator's time taken out, what remains is Python and NumPy.  Record the
answer of a real device for the same program and batch, then replay it::

    program = sim.load(net, batch=1); program.run(x)
    replay = ReplayDevice(sim.caps, program.last_answer())
"""
from __future__ import annotations

import numpy as np

from ..caps import Capabilities
from .base import Device


class ReplayDevice(Device):
    """Answers each transfer instantly with ``answer`` (uint64 words), whatever was sent."""

    name = "replay"

    def __init__(self, caps: Capabilities, answer: np.ndarray) -> None:
        super().__init__()
        self._caps = caps
        self._answer = np.array(answer, dtype=np.uint64)
        self._words = len(self._answer)

    def allocate(self, words: int) -> np.ndarray:
        return np.zeros(int(words), np.uint64)

    def _transfer(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> int:
        recv[:self._words] = self._answer
        return self._words
