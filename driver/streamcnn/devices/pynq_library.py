"""The accelerator library on a PYNQ board: a static shell whose one reconfigurable partition
holds any variant of the accelerator, swapped by partial reconfiguration as networks need.

``streamcnn.open_device("pynq", library="bitstreams/library")`` (the folder ``make -C overlay
library`` writes, see :mod:`streamcnn.library`) loads the shell.  Its ``.hwh`` shows only the
partition's boundary, so pynq learns the module's registers from a variant's partial ``.hwh``
without programming anything (``pr_download(..., program=False)``), and the module is
recognised by the capabilities it reports (the shell's own is the library's first).  Then:

* ``load(network)`` picks the variant the network fits that the cycle model finds fastest
  (:func:`streamcnn.library.choose`, which keeps the loaded one between equals) and swaps it in
  with pynq's ``Overlay.pr_download`` only if it is not loaded already;
* after every swap the accelerator's capabilities are read again and must be the ones the
  variant was built with (:func:`streamcnn.library.expected_caps`): a partial bitstream that is
  not what the library says is refused, never run;
* a program remembers its variant: running it after another network swapped the partition
  swaps its own variant back in first (one swap), so it never runs on the wrong hardware.

Swaps happen under the board's lock, between transfers: nothing is in flight while the
partition is reconfigured, and the partition is decoupled from the shell meanwhile (a DFX
Decoupler driven by an AXI GPIO, overlay/dfx.tcl), so the undefined outputs of a module being
rewritten never reach the DMA or the AXI-Lite interconnect.  The DMA and its buffers are in the
static shell and survive swaps.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional, Union

from .. import library as library_mod
from ..errors import OverlayError
from ..network import Network
from .base import Program
from .pynq import PynqDevice, default_bitfile

GPIO_VLNV = "xilinx.com:ip:axi_gpio:"
GPIO_DATA, GPIO2_DATA = 0x0, 0x8  # AXI GPIO (PG144): channel 1 drives decouple, channel 2 reads its status
#: the AXI GPIO that drives the partition's decoupler (overlay/dfx.tcl)
DECOUPLE_GPIO = "dfx_decouple"

# What each board's partition holds: {pynq device (None: the default one): variant name, or None
# when unknown}.  One process drives a board, so every device object on it shares this record
# (and PynqDevice's board lock, which guards it): a swap by one is seen by all.
_partition: dict = {}


def default_library() -> Path:
    """$STREAMCNN_LIBRARY, else bitstreams/library/ beside the default bitstream."""
    env = os.environ.get("STREAMCNN_LIBRARY")
    return Path(env) if env else default_bitfile().parent / "library"


def forget_partition(pynq_device=None) -> None:
    """A full bitstream was loaded on this board: whatever the partition held is gone."""
    _partition.pop(pynq_device, None)


class PynqLibraryDevice(PynqDevice):
    """The accelerator library on a PYNQ board (``open_device("pynq", library=FOLDER)``).

    :attr:`library` lists the variants; :attr:`variant` is the one the partition holds;
    :attr:`swaps` counts the partial reconfigurations this object made and :attr:`swap_seconds`
    the time they took.  Thread-safe like every PynqDevice: swaps and runs take turns under the
    board's lock, and device objects on one board share what its partition holds."""

    def __init__(self, library: Union[str, Path, None] = None, *, timeout: float = 2.0, download: bool = True,
                 pynq_device=None) -> None:
        pynq = self._import_pynq()
        if library is not None and not str(library).strip():
            raise OverlayError("library= names the folder of an accelerator library (make -C overlay library); "
                               "got an empty path")
        self.library = library_mod.read(library if library is not None else default_library())
        self.swaps, self.swap_seconds = 0, 0.0
        with PynqDevice._board_lock:
            self.overlay = pynq.Overlay(str(self.library.shell), download=download, device=pynq_device)
            if download:  # the full bitstream: the partition holds the shell's own module again
                forget_partition(pynq_device)
            self._decoupler = self._find_decoupler(pynq)
            self._decouple(False, timeout)  # a process that died mid-swap may have left it decoupled
            known = _partition.get(pynq_device)
            guess = self.library.variant(known) if known else self.library.variants[0]
            self._install(guess, program=False)  # pynq learns the module's registers from its .hwh
            _partition[pynq_device] = None  # until the module is identified: the capabilities come from it
            self._setup(pynq, self.overlay.ip_dict, self._driver, pynq_device, timeout, self.overlay.bitfile_name)
            held = self._identify()
            if held is not guess:  # another module is in (a swap before this open): its metadata
                self._install(held, program=False)
                self._bind_accelerator(self.overlay.ip_dict, self._driver)
            _partition[pynq_device] = held.name

    @property
    def variant(self) -> Optional[str]:
        return _partition.get(getattr(self, "_pynq_device", None))

    @property
    def caps(self):
        """The loaded variant's capabilities (read from it and checked when it came in); read
        from the hardware while the partition's content is unknown."""
        with self._lock:
            name = self.variant
            if name is not None:
                return self.library.variant(name).caps
            return PynqDevice.caps.fget(self)

    def _identify(self) -> library_mod.Variant:
        """The variant whose capabilities the accelerator reports (read from the hardware)."""
        found = PynqDevice.caps.fget(self)
        for v in self.library.variants:
            if v.caps == found:
                return v
        raise OverlayError(f"the partition of {self.library.shell.name} holds an accelerator with capabilities "
                           f"{found.as_dict()}, none of the library's variants "
                           f"({', '.join(v.name for v in self.library.variants)}); load the shell again "
                           f"(open_device with download=True) or rebuild the library with `make -C overlay library`")

    def _find_decoupler(self, pynq):
        """The AXI GPIO driving the partition's DFX decoupler (overlay/dfx.tcl: ``dfx_decouple``)."""
        description = self.overlay.ip_dict.get(DECOUPLE_GPIO)
        if description is None or not str(description.get("type", "")).startswith(GPIO_VLNV):
            raise OverlayError(f"the shell {self.library.shell.name} has no AXI GPIO {DECOUPLE_GPIO} driving the "
                               f"partition's decoupler: swapping a module without one could wedge the AXI buses. "
                               f"Rebuild the library with this release's `make -C overlay library`")
        return pynq.DefaultIP(description)

    def _decouple(self, on: bool, timeout: Optional[float] = None) -> None:
        """Hold the partition's interfaces quiet (on) or join them to the shell again (off), and
        wait until the decoupler's status (GPIO channel 2) says so."""
        timeout = self.timeout if timeout is None else timeout
        self._decoupler.write(GPIO_DATA, int(on))
        deadline = time.monotonic() + timeout
        while bool(self._decoupler.read(GPIO2_DATA) & 1) != on:
            if time.monotonic() > deadline:
                if on:  # leave it coupled, as it was: the accelerator stays usable
                    self._decoupler.write(GPIO_DATA, 0)
                raise OverlayError(f"the partition's decoupler did not {'decouple' if on else 'couple'} within "
                                   f"{timeout} s (its status stayed {int(not on)}); power-cycle the board")

    def _install(self, variant: library_mod.Variant, program: bool = True) -> None:
        """pynq's partial reconfiguration: ``variant``'s partial bitstream into the partition
        (or, with ``program=False``, only its metadata), and the overlay's IP dictionary with it."""
        try:
            self.overlay.pr_download(self.library.partition, str(variant.bitfile), program=program)
        except Exception as e:  # pynq's own errors are of many kinds (XML, OS, fpga_manager, KeyError)
            raise OverlayError(f"pynq could not load {variant.bitfile.name} (with its .hwh) into the partition "
                               f"{self.library.partition} of {self.library.shell.name}: {type(e).__name__}: {e}. "
                               f"Is the library from one `make -C overlay library` run?") from e

    def swap(self, name: str) -> None:
        """Load the variant ``name`` into the partition unless it is there already, then check
        the capabilities it reports.  Raises :class:`OverlayError` for an unknown variant, a
        failed load or a module that is not the variant it should be."""
        variant = self.library.variant(name)
        with self._lock:
            self._check_open()
            if name == self.variant:
                return
            if self._interrupted:  # a run cut short: leave the DMA and accelerator idle first
                self.recover()
                self._interrupted = False
            start = time.perf_counter()
            _partition[self._pynq_device] = None  # unknown hardware until the new module is checked
            self._caps = None
            self._decouple(True)  # nothing from the partition reaches the shell while it changes
            try:
                self._install(variant)
            finally:
                self._decouple(False)
            self.swaps += 1
            self.swap_seconds += time.perf_counter() - start
            try:
                self._bind_accelerator(self.overlay.ip_dict, self._driver)
            except OverlayError as e:
                raise OverlayError(f"after loading {variant.bitfile.name}, from its .hwh: {e}") from e
            found = PynqDevice.caps.fget(self)
            if found != variant.caps:
                wanted = variant.caps.as_dict()
                differ = ", ".join(f"{k} {v} (expected {wanted[k]})" for k, v in found.as_dict().items()
                                   if v != wanted[k])
                raise OverlayError(f"after loading {variant.bitfile.name} the accelerator reports {differ}: that "
                                   f"is not the {variant.name} variant the library lists; rebuild the library with "
                                   f"`make -C overlay library` (this streamcnn's hls_src/)")
            _partition[self._pynq_device] = name

    def choose(self, network: Network) -> library_mod.Variant:
        """The variant ``load(network)`` would run ``network`` on (nothing is loaded)."""
        return library_mod.choose(network, self.library.variants, self.variant)

    def load(self, network: Network, batch: Optional[int] = None, *, variant: Optional[str] = None,
             **compile_options) -> Program:
        """As :meth:`Device.load`, on the variant :meth:`choose` picks (or the one named by
        ``variant``), swapped in first if it is not loaded.  A :class:`LimitError` names each
        variant's reason when the network fits none, before anything is swapped or sent."""
        self._check_open()
        with self._lock:
            chosen = self.library.variant(variant) if variant is not None else self.choose(network)
            if variant is not None:
                network.check(chosen.caps, 1)  # raises, naming the limit, before the swap
            self.swap(chosen.name)
        # compiled outside the board's lock (other threads' runs go on meanwhile) for the variant
        # chosen: if another thread swaps it out first, the program's first run swaps it back
        return self._load_for(chosen.caps, chosen.name, network, batch, compile_options)

    def _claim(self, program: Program) -> None:
        if program.variant != self.variant:
            self.swap(program.variant)

    def describe_library(self) -> list:
        """One dict per variant: its name, whether it is loaded, its MACs per cycle and
        activation buffer, and its capabilities."""
        return [{"variant": v.name, "loaded": v.name == self.variant, "bitfile": str(v.bitfile),
                 "macs_per_cycle": v.caps.macs_per_cycle, "act_words": v.caps.act_words,
                 "caps": v.caps.as_dict()} for v in self.library.variants]

    def __repr__(self) -> str:
        return (f"<PynqLibraryDevice {self.library.folder}: {self.variant} of "
                f"{', '.join(v.name for v in self.library.variants)}, {self.swaps} swaps>")


__all__ = ["PynqLibraryDevice", "default_library"]
