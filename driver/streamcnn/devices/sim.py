"""The simulator device: the accelerator's own C++ (hls_src/), compiled for the
host, behind the same interface as the board.

It holds transfers to the rules the board's AXI DMA imposes (PG021, simple
mode), so a program that would hang or fail on the board fails here too, with
an explanation:

* buffers 8-byte aligned (no data realignment engine), whole 64-bit words;
* at most 2**26 - 1 bytes per transfer (a 26-bit length register);
* the accelerator must consume every word MM2S sends and never read past TLAST;
* the response must end in TLAST, exactly on its last word, with TKEEP all
  ones, and fit the receive buffer.

:meth:`SimDevice.inject_stall` models a stuck accelerator for tests: the
transfer cannot complete, so the wait times out (:class:`DMATimeoutError`,
modelled: the simulator knows at once and does not sleep out the timeout), and
the device recovers the way the board driver does, by flushing the
accelerator with one word carrying TLAST.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import DMAError, DMATimeoutError
from ..protocol import CONFIGS
from . import simbuild
from .base import Device

MAX_TRANSFER_BYTES = (1 << 26) - 1
NO_STALL = (1 << 64) - 1


def _check_buffer(buf: np.ndarray, what: str, nbytes: int) -> None:
    if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous:
        raise DMAError(f"the {what} buffer must be a contiguous NumPy array (allocate it with device.allocate)")
    if buf.ctypes.data % 8:
        raise DMAError(f"the {what} buffer starts at {buf.ctypes.data:#x}, not 8-byte aligned: "
                       "the AXI DMA (no DRE) needs 64-bit aligned addresses")
    if nbytes % 8:
        raise DMAError(f"the {what} transfer is {nbytes} bytes, not whole 64-bit words")
    if nbytes > MAX_TRANSFER_BYTES:
        raise DMAError(f"the {what} transfer is {nbytes} bytes; the DMA's 26-bit length register "
                       f"allows at most {MAX_TRANSFER_BYTES}")
    if nbytes == 0:
        raise DMAError(f"the {what} transfer is empty")


class SimDevice(Device):
    """``streamcnn.open_device("sim")``: the accelerator simulated on the host.

    ``config`` names the accelerator configuration of hls_src/config/ to simulate
    (``protocol.CONFIGS``: "mac256", the shipped overlay's, or "mac64")."""

    name = "sim"

    def __init__(self, *, timeout: float = 2.0, config: str = CONFIGS[0]) -> None:
        super().__init__()
        self._ffi, self._lib = simbuild.load(config)
        self.config = config
        self.timeout = timeout
        self._stall_after: Optional[int] = None

    def inject_stall(self, after_words: int = 0) -> None:
        """Fault injection: in the next transfer the accelerator stops taking input after
        ``after_words`` words, as a hung IP would.  That transfer raises
        :class:`DMATimeoutError` (as the board's would after ``timeout`` seconds) and the
        device recovers; the transfers after it work as before."""
        if after_words < 0:
            raise ValueError(f"after_words must be >= 0, got {after_words}")
        self._stall_after = int(after_words)

    def allocate(self, words: int) -> np.ndarray:
        buf = np.zeros(int(words), dtype=np.uint64)
        assert buf.ctypes.data % 8 == 0  # NumPy aligns to at least 16 bytes
        return buf

    def _transfer(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> int:
        _check_buffer(send, "send", send_words * send.itemsize)
        _check_buffer(recv, "receive", recv.nbytes)
        if send.dtype != np.uint64 or recv.dtype != np.uint64:
            raise DMAError("send and receive buffers must be uint64 words")
        if send_words > len(send):
            raise DMAError(f"cannot send {send_words} words from a {len(send)}-word buffer")
        stall, self._stall_after = self._stall_after, None
        res = self._run(send, send_words, recv, NO_STALL if stall is None else stall)
        if res.stalled:
            self.recover()
            raise DMATimeoutError(
                f"timeout: the transfer did not finish in {self.timeout} s (simulated). The accelerator stopped "
                f"taking input after {res.in_consumed} of {send_words} words (MM2S busy, no TLAST on S2MM). "
                "The accelerator was flushed; the device is ready again.")
        hang = "on the board this transfer would never complete (the DMA wait hangs)"
        if res.in_underflows:
            raise DMAError(f"the accelerator tried to read past TLAST ({res.in_underflows} reads): {hang}")
        if res.internal_faults:
            raise DMAError(f"{res.internal_faults} faults on the FIFOs between the accelerator's decode and execute "
                           f"processes (a read of an empty FIFO, or words left in one): {hang}")
        if res.in_consumed != send_words:
            raise DMAError(f"the accelerator consumed {res.in_consumed} of {send_words} words sent: {hang}")
        if res.keep_errors:
            raise DMAError(f"{res.keep_errors} response words had TKEEP/TSTRB not all ones")
        if res.out_beats > len(recv):
            raise DMAError(f"the response is {res.out_beats} words and the receive buffer holds {len(recv)}: {hang}")
        if res.out_beats == 0 or res.first_tlast != res.out_beats - 1:
            where = "missing" if res.first_tlast >= res.out_beats else f"on word {res.first_tlast}"
            raise DMAError(f"the response's TLAST is {where}, not on its last word {res.out_beats - 1}: {hang}")
        return int(res.out_copied)

    def _run(self, send: np.ndarray, send_words: int, recv: np.ndarray, stall_after: int):
        ffi = self._ffi
        res = ffi.new("struct scnn_sim_result *")
        self._lib.scnn_sim_transfer(ffi.from_buffer("uint64_t[]", send), send_words,
                                    ffi.from_buffer("uint64_t[]", recv, require_writable=True), len(recv),
                                    stall_after, res)
        return res

    def recover(self) -> None:
        """What the board driver does after a timeout: one word with TLAST, which the
        accelerator drains and answers with a status trailer, so it is idle again."""
        word, answer = self.allocate(1), self.allocate(4096)
        res = self._run(word, 1, answer, NO_STALL)
        if res.stalled or res.out_beats == 0 or res.first_tlast != res.out_beats - 1:
            raise DMAError("the simulated accelerator did not answer the flush word; open the device again")
