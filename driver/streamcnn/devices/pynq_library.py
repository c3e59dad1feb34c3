"""The accelerator library on a PYNQ board: a static shell whose one reconfigurable partition
holds any variant of the accelerator, swapped by partial reconfiguration as networks need.

``streamcnn.open_device("pynq", library="bitstreams/library")`` (the folder ``make -C overlay
library`` writes, see :mod:`streamcnn.library`) loads the shell.  Its full bitstream holds the
library's first variant, but its ``.hwh`` shows only the partition's boundary, so pynq learns
that variant's registers from its partial ``.hwh`` without programming anything
(``pr_download(..., program=False)``).  Then:

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


def default_library() -> Path:
    """$STREAMCNN_LIBRARY, else bitstreams/library/ beside the default bitstream."""
    import os

    env = os.environ.get("STREAMCNN_LIBRARY")
    return Path(env) if env else default_bitfile().parent / "library"


class PynqLibraryDevice(PynqDevice):
    """The accelerator library on a PYNQ board (``open_device("pynq", library=FOLDER)``).

    :attr:`library` lists the variants; :attr:`variant` is the one the partition holds;
    :attr:`swaps` counts the partial reconfigurations so far and :attr:`swap_seconds` the time
    they took.  Thread-safe like every PynqDevice: swaps and runs take turns under the board's
    lock."""

    def __init__(self, library: Union[str, Path, None] = None, *, timeout: float = 2.0, download: bool = True,
                 pynq_device=None) -> None:
        pynq = self._import_pynq()
        self.library = library_mod.read(library if library is not None else default_library())
        self.overlay = pynq.Overlay(str(self.library.shell), download=download, device=pynq_device)
        self.swaps, self.swap_seconds = 0, 0.0
        self._decoupler = self._find_decoupler(pynq)
        first = self.library.variants[0]
        self._install(first, program=False)  # the shell's own module: metadata only
        self._setup(pynq, self.overlay.ip_dict, self._driver, pynq_device, timeout, self.overlay.bitfile_name)
        self._check_variant(first)
        self._variant = first.name

    def _find_decoupler(self, pynq):
        """The AXI GPIO driving the partition's DFX decoupler (overlay/dfx.tcl: ``<partition>_decouple``)."""
        name = f"{self.library.partition}_decouple"
        description = self.overlay.ip_dict.get(name)
        if description is None or not str(description.get("type", "")).startswith(GPIO_VLNV):
            raise OverlayError(f"the shell {self.library.shell.name} has no AXI GPIO {name} driving the partition's "
                               f"decoupler: swapping a module without one could wedge the AXI buses. Rebuild the "
                               f"library with this release's `make -C overlay library`")
        return pynq.DefaultIP(description)

    def _decouple(self, on: bool) -> None:
        """Hold the partition's interfaces quiet (on) or join them to the shell again (off), and
        wait until the decoupler's status (GPIO channel 2) says so."""
        self._decoupler.write(GPIO_DATA, int(on))
        deadline = time.monotonic() + self.timeout
        while bool(self._decoupler.read(GPIO2_DATA) & 1) != on:
            if time.monotonic() > deadline:
                raise OverlayError(f"the partition's decoupler did not {'decouple' if on else 'couple'} within "
                                   f"{self.timeout} s (its status stayed {not on}); power-cycle the board")

    @property
    def variant(self) -> Optional[str]:
        return getattr(self, "_variant", None)

    def _install(self, variant: library_mod.Variant, program: bool = True) -> None:
        """pynq's partial reconfiguration: ``variant``'s partial bitstream into the partition
        (or, with ``program=False``, only its metadata), and the overlay's IP dictionary with it."""
        try:
            self.overlay.pr_download(self.library.partition, str(variant.bitfile), program=program)
        except (AttributeError, RuntimeError, ValueError, OSError) as e:
            raise OverlayError(f"pynq could not load {variant.bitfile.name} into the partition "
                               f"{self.library.partition} of {self.library.shell.name}: {e}. Is the shell "
                               f"loaded, and is the library from one `make -C overlay library` run?") from e

    def _check_variant(self, variant: library_mod.Variant) -> None:
        if self.caps != variant.caps:
            found, wanted = self.caps.as_dict(), variant.caps.as_dict()
            differ = ", ".join(f"{k} {found[k]} (expected {wanted[k]})" for k in wanted if found[k] != wanted[k])
            raise OverlayError(f"after loading {variant.bitfile.name} the accelerator reports {differ}: that "
                               f"is not the {variant.name} variant the library lists; rebuild the library with "
                               f"`make -C overlay library` (this streamcnn's hls_src/)")

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
            self._variant = None  # unknown hardware until the new module is checked
            self._decouple(True)  # nothing from the partition reaches the shell while it changes
            try:
                self._install(variant)
            finally:
                self._decouple(False)
            self._bind_accelerator(self.overlay.ip_dict, self._driver)
            self._check_variant(variant)
            self._variant = name
            self.swaps += 1
            self.swap_seconds += time.perf_counter() - start

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
            return super().load(network, batch, **compile_options)

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
