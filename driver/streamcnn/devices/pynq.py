"""The PYNQ board device: the streamcnn overlay on a PYNQ-Z2, driven through pynq.

``streamcnn.open_device("pynq", bitfile=...)`` loads the overlay (the .bit with
its .hwh beside it), finds the AXI DMA and the streamcnn IP by their VLNVs,
reads the accelerator's capabilities and refuses an overlay whose program
format this driver does not speak.

Every batch is one receive and one send on the DMA (receive first, so the answer
never stalls); while the accelerator runs one batch the host prepares the next in a
second pair of buffers (Program.run); buffers are allocated once and reused, and the wait has a
deadline: it polls both DMA status registers and the IP's control register,
and on a DMA error or a timeout raises :class:`DMAError` with a register dump
and a hint, after resetting the DMA and flushing the accelerator so the device
stays usable.  pynq is imported only here.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Optional

import numpy as np

from .._resources import PACKAGE
from ..errors import DependencyError, DMAError, DMATimeoutError, OverlayError, StreamCNNError
from .base import Device

IP_VLNV = "xilinx.com:hls:streamcnn_top:1.0"
#: the accelerator's VLNV in each configuration (hls.tcl names the IP after it, so that the
#: variants of the reconfigurable library can sit side by side in one Vivado project)
IP_VLNVS = (IP_VLNV, "xilinx.com:hls:streamcnn_top_mac64:1.0")
DMA_VLNV = "xilinx.com:ip:axi_dma:"
BITFILE_NAME = "streamcnn.bit"

# AXI DMA, direct register mode (PG021)
MM2S, S2MM = 0x00, 0x30
DMACR, DMASR, LENGTH = 0x00, 0x04, 0x28
CR_RUN, CR_RESET = 0x1, 0x4
SR_HALTED, SR_IDLE = 0x1, 0x2
SR_INTERNAL, SR_SLAVE, SR_DECODE = 0x10, 0x20, 0x40
SR_ERRORS = SR_INTERNAL | SR_SLAVE | SR_DECODE

# The HLS IP's AXI-Lite control register (ap_ctrl_hs)
AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
IP_OUTPUTS = ("status", "packet_index", "words", "hw_version")

FLUSH_RESPONSE_WORDS = 4096
#: While the receive channel is busy, the send channel's status is read every this many polls.
MM2S_POLL_EVERY = 32


def default_bitfile() -> Path:
    """$STREAMCNN_BITFILE, else bitstreams/streamcnn.bit of the source checkout."""
    env = os.environ.get("STREAMCNN_BITFILE")
    return Path(env) if env else PACKAGE.parent.parent / "bitstreams" / BITFILE_NAME


class PynqDevice(Device):
    """The streamcnn overlay on a PYNQ board (``open_device("pynq")``).

    A process drives one board, so every PynqDevice it opens shares one lock: two
    device objects (or threads) on the same DMA and IP take turns, never interleave."""

    name = "pynq"
    _board_lock = threading.RLock()

    def __init__(self, bitfile: Optional[str] = None, *, timeout: float = 2.0, download: bool = True,
                 pynq_device=None) -> None:
        pynq = self._import_pynq()
        path = Path(bitfile) if bitfile else default_bitfile()
        if not path.is_file():
            raise OverlayError(f"no bitstream at {path}: build it with `make -C overlay` (Vivado and Vitis HLS), "
                               f"or copy streamcnn.bit and streamcnn.hwh there; see bitstreams/README.md")
        hwh = path.with_suffix(".hwh")
        if not hwh.is_file():
            raise OverlayError(f"{hwh} is missing: pynq needs the .hwh made with the bitstream beside it, with "
                               f"the same base name; see bitstreams/README.md")
        with PynqDevice._board_lock:  # a download replaces the fabric: never under another object's run
            self.overlay = pynq.Overlay(str(path), download=download, device=pynq_device)
            if download:
                from .pynq_library import forget_partition

                forget_partition(pynq_device)  # an accelerator library's partition is gone with it
        self._setup(pynq, self.overlay.ip_dict, self._driver, pynq_device, timeout, self.overlay.bitfile_name)

    @staticmethod
    def _import_pynq():
        try:
            import pynq
        except ImportError:
            raise DependencyError("the pynq device needs the pynq package: it comes with the PYNQ image on the "
                                  "board; elsewhere install it with pip install 'streamcnn[board]'") from None
        return pynq

    def _driver(self, name: str):
        """pynq's driver for the overlay's IP ``name``; the accelerator as plain registers (pynq
        would make it a StreamCNNDriver, see pynq_ip: a second device on the same hardware)."""
        description = self.overlay.ip_dict[name]
        if str(description.get("type", "")).startswith(IP_VLNVS):
            return self._pynq.DefaultIP(description)
        return getattr(self.overlay, name)

    # -- setup ----------------------------------------------------------------------

    def _setup(self, pynq, ip_dict: dict, driver, pynq_device, timeout: float, where: str) -> None:
        """Find the DMA and the accelerator in ``ip_dict`` (``driver(name)`` gives an IP's pynq
        driver) and read the capabilities."""
        Device.__init__(self)
        self._lock = PynqDevice._board_lock
        self._pynq = pynq
        self._pynq_device = pynq_device
        self.timeout = timeout
        self._where = where
        self._flush_buffers = None
        self._in_flight, self._interrupted = None, False
        self._largest_answer = 0  # words: the largest receive buffer a transfer has armed
        self._ip_dict = ip_dict
        self.dma = driver(self._find_ip(DMA_VLNV, "an AXI DMA"))
        self._bind_accelerator(ip_dict, driver)

    def _bind_accelerator(self, ip_dict: dict, driver) -> None:
        """Drive the accelerator ``ip_dict`` shows, and read its capabilities now: an overlay this
        driver cannot drive is refused at open (and a swapped-in variant as soon as it is in)."""
        self._ip_dict = ip_dict
        ip_name = self._find_ip(IP_VLNVS, "the streamcnn accelerator")
        self._offsets = self._ip_register_offsets(ip_name)  # checked before any driver is made
        self.ip = driver(ip_name)
        self._caps = None
        self.caps

    def _find_ip(self, vlnv, what: str) -> str:
        """The one IP whose VLNV starts with ``vlnv`` (or one of a tuple of them)."""
        names = [name for name, d in self._ip_dict.items() if str(d.get("type", "")).startswith(vlnv)]
        if len(names) != 1:
            found = ", ".join(f"{n} ({d.get('type')})" for n, d in self._ip_dict.items())
            wanted = " or ".join(vlnv) if isinstance(vlnv, tuple) else f"{vlnv}..."
            raise OverlayError(f"the overlay {self._where} has {len(names)} instances of {what} "
                               f"({wanted}), expected one; its IP: {found}. Is this the streamcnn overlay?")
        return names[0]

    def _ip_register_offsets(self, ip_name: str) -> dict:
        registers = self._ip_dict[ip_name].get("registers", {})
        missing = [r for r in IP_OUTPUTS if r not in registers]
        if missing:
            raise OverlayError(f"the streamcnn IP in this overlay lacks registers {missing} (has "
                               f"{sorted(registers)}); rebuild the overlay from this release's overlay/")
        return {r: int(registers[r]["address_offset"]) for r in IP_OUTPUTS}

    # -- Device interface ---------------------------------------------------------------

    def allocate(self, words: int) -> np.ndarray:
        kwargs = {"target": self._pynq_device} if self._pynq_device is not None else {}
        buf = self._pynq.allocate(shape=(int(words),), dtype=np.uint64, **kwargs)
        buf[:] = 0
        return buf

    def _sync_to_device(self, buf) -> None:
        pass  # pynq's send channel flushes the buffer it is given before each transfer (PynqBuffer.flush)

    def _transfer(self, send, send_words: int, recv) -> int:
        self._start(send, send_words, recv)
        return self._complete()

    def _start(self, send, send_words: int, recv) -> None:
        if self._interrupted:  # a wait was cut short (Ctrl-C): the DMA may still be busy
            self.recover()
            self._interrupted = False
        nbytes = send_words * 8
        limit = self.dma.buffer_max_size
        for what, n, buf in (("send", nbytes, send), ("receive", recv.nbytes, recv)):
            if n > limit:
                raise DMAError(f"the {what} transfer is {n} bytes; this DMA moves at most {limit} "
                               f"(its length register); use a smaller batch")
            if buf.physical_address % 8:
                raise DMAError(f"the {what} buffer at {buf.physical_address:#x} is not 8-byte aligned")
        if len(recv) > self._largest_answer:
            self._largest_answer = len(recv)
        self.ip.write(0x00, AP_START)
        try:
            self.dma.recvchannel.transfer(recv)  # receive first: the answer can never stall the accelerator
            self.dma.sendchannel.transfer(send, nbytes=nbytes)
        except RuntimeError as e:  # pynq's "DMA channel not started / not idle"
            self._fail(f"the AXI DMA refused the transfer ({e})", "A transfer was still in flight.")
        self._in_flight = recv

    def _complete(self) -> int:
        recv, self._in_flight = self._in_flight, None
        try:
            self._wait(time.monotonic() + self.timeout)
        except StreamCNNError:
            raise  # _fail has recovered
        except BaseException:  # Ctrl-C mid-wait: recover before the next transfer
            self._interrupted = True
            raise
        recv.invalidate()
        return self.dma.read(S2MM + LENGTH) // 8

    # -- waiting, diagnosis, recovery -------------------------------------------------------

    def _wait(self, deadline: float) -> None:
        # One register read per poll: the receive channel's status.  The answer ends after the
        # accelerator has drained its input, so S2MM idle comes last; MM2S's status (for its
        # errors) and the IP's are read once then, and every MM2S_POLL_EVERY polls meanwhile.
        polls = 0
        while True:
            s2mm = self.dma.read(S2MM + DMASR)
            if s2mm & (SR_IDLE | SR_ERRORS) or polls % MM2S_POLL_EVERY == MM2S_POLL_EVERY - 1:
                mm2s = self.dma.read(MM2S + DMASR)
                if (mm2s | s2mm) & SR_ERRORS:
                    self._fail("the AXI DMA reported an error", _error_hint(mm2s, s2mm))
                if mm2s & SR_IDLE and s2mm & SR_IDLE and self.ip.read(0x00) & (AP_DONE | AP_IDLE):
                    return
            polls += 1
            if time.monotonic() > deadline:
                mm2s = self.dma.read(MM2S + DMASR)
                self._fail(f"timeout: the transfer did not finish in {self.timeout} s", _timeout_hint(mm2s, s2mm),
                           DMATimeoutError)
            if polls > 1000:
                time.sleep(0.0005)  # long transfers: stop burning the CPU the host may need

    def registers(self) -> dict:
        """A dump of the DMA and accelerator registers, for error reports."""
        dump = {f"{ch}_{reg}": self.dma.read(base + off) for ch, base in (("mm2s", MM2S), ("s2mm", S2MM))
                for reg, off in (("dmacr", DMACR), ("dmasr", DMASR), ("length", LENGTH))}
        dump["ip_ctrl"] = self.ip.read(0x00)
        dump.update({f"ip_{name}": self.ip.read(off) for name, off in self._offsets.items()})
        return dump

    def _fail(self, what: str, hint: str, error: type = DMAError) -> None:
        dump = self.registers()
        try:
            self.recover()
            recovered = "The DMA was reset and the accelerator flushed; the device is ready again."
        except StreamCNNError as e:
            recovered = f"Recovery failed: {e}"
        text = ", ".join(f"{k}={v:#010x}" for k, v in dump.items())
        raise error(f"{what}. {hint} {recovered}\nregisters: {text}")

    def recover(self) -> None:
        """Reset the DMA, and if the accelerator is mid-program, feed it one word with
        TLAST: it drains to TLAST and answers, so it becomes idle again.

        The answer a stuck program still owes is at most the receive capacity it was sent
        with (the accelerator never answers beyond it), so S2MM is armed with the largest
        receive buffer any transfer has used, and re-armed until the accelerator is idle."""
        self._reset_dma()
        if self.ip.read(0x00) & AP_IDLE:
            return
        words = max(FLUSH_RESPONSE_WORDS, self._largest_answer)
        if self._flush_buffers is None or len(self._flush_buffers[1]) < words:
            self._flush_buffers = (self.allocate(1), self.allocate(words))
        word, answer = self._flush_buffers
        self.dma.recvchannel.transfer(answer)
        self.dma.sendchannel.transfer(word, nbytes=8)
        deadline = time.monotonic() + self.timeout
        while not (self.ip.read(0x00) & AP_IDLE):
            if self.dma.read(S2MM + DMASR) & SR_IDLE:  # the buffer is full and the answer goes on
                self.dma.recvchannel.transfer(answer)
            if time.monotonic() > deadline:
                self._reset_dma()
                raise StreamCNNError("the accelerator stayed busy after a DMA reset and a flush; reload the "
                                     "overlay (open the device again) or power-cycle the board")
        self._reset_dma()

    def _reset_dma(self) -> None:
        self.dma.write(MM2S + DMACR, CR_RESET)  # resets both channels (PG021)
        deadline = time.monotonic() + 0.1
        while self.dma.read(MM2S + DMACR) & CR_RESET and time.monotonic() < deadline:
            pass
        self.dma.sendchannel.start()
        self.dma.recvchannel.start()

    def _release(self) -> None:
        self._flush_buffers = None


def _error_hint(mm2s: int, s2mm: int) -> str:
    sr = mm2s | s2mm
    side = "send (MM2S)" if mm2s & SR_ERRORS else "receive (S2MM)"
    if sr & SR_SLAVE:
        return (f"Slave error on the {side} channel: the DMA could not access memory. Buffers must come from "
                "device.allocate (pynq.allocate); check the HP port's 64-bit width in the overlay.")
    if sr & SR_DECODE:
        return f"Decode error on the {side} channel: the buffer address is not mapped."
    return (f"Internal error on the {side} channel: a zero length, or a stream that ended before the "
            "length the DMA was given.")


def _timeout_hint(mm2s: int, s2mm: int) -> str:
    if not mm2s & SR_IDLE:
        return ("The accelerator stopped taking input: is the overlay the streamcnn one, and was the IP started? "
                "(ip_ctrl bit 0 is ap_start)")
    if not s2mm & SR_IDLE:
        return ("The answer never ended: the accelerator did not assert TLAST, or the receive buffer is smaller "
                "than its answer.")
    return "The DMA finished but the accelerator did not report done."
