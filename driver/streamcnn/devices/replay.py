"""A device that answers every transfer at once with one recorded answer.

It measures what the host alone costs per batch (the work of :mod:`streamcnn.hostpath`):
with the accelerator's time taken out, what remains is Python and NumPy.  Record the
answer of a real device for the same program and batch, then replay it::

    program = sim.load(net, batch=1); program.run(x)
    replay = ReplayDevice(sim.caps, program.last_answer())
"""
from __future__ import annotations

import time

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


class ModeledDevice(Device):
    """``open_device("modeled")``: a stand-in for a board when timing a cluster on one machine.

    Each program's first transfer runs on the simulator and its answer is recorded; every later
    transfer of that program takes the cycle model's board latency of one batch (in
    :meth:`_start`/:meth:`_complete`, so the host prepares the next batch meanwhile, as on the
    board) and answers with the recorded words, whatever images were sent.  The time it reports
    is the board's and the host's, not this CPU's simulation; its outputs after the first batch
    are the first batch's.  Programs are told apart by their header and their last words."""

    name = "modeled"

    def __init__(self, *, config: str = "mac256") -> None:
        from .sim import SimDevice

        super().__init__()
        self._sim = SimDevice(config=config)
        self._caps = self._sim.caps
        self._seconds: dict = {}  # program key -> modeled seconds per transfer
        self._answers: dict = {}  # program key -> recorded answer words
        self._deadline = 0.0

    @staticmethod
    def _key(words: np.ndarray, n: int) -> tuple:
        from ..protocol import C

        return n, words[:C["SCNN_HDR_WORDS"]].tobytes(), words[max(0, n - 32):n].tobytes()

    def allocate(self, words: int) -> np.ndarray:
        return self._sim.allocate(words)

    def load(self, network, batch=None, **compile_options):
        from .. import cycles

        program = super().load(network, batch, **compile_options)
        prog = program.compiled
        self._seconds[self._key(prog.words, len(prog.words))] = cycles.model(prog, self._caps)["latency_us"] * 1e-6
        return program

    def _transfer(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> int:
        self._start(send, send_words, recv)
        return self._complete()

    def _start(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> None:
        key = self._key(send, send_words)
        answer = self._answers.get(key)
        if answer is None:
            n = self._sim._transfer(send, send_words, recv)
            answer = recv[:n].copy()
            if key in self._seconds:  # a loaded program's: replayed from now on
                self._answers[key] = answer
        self._deadline = time.perf_counter() + self._seconds.get(key, 0.0)
        recv[:len(answer)] = answer
        self._pending = len(answer)

    def _complete(self) -> int:
        wait = self._deadline - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        return self._pending

    def _release(self) -> None:
        self._sim.close()
