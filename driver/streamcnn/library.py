"""The accelerator library: variants of the accelerator for one reconfigurable partition, and
which of them a network should run on.

``make -C overlay library`` (overlay/dfx.tcl) writes ``bitstreams/library/``: the full
bitstream of the static shell with its ``.hwh``, one partial bitstream and ``.hwh`` per variant,
and ``library.txt``::

    partition rp_streamcnn
    variant mac256 streamcnn-mac256.bit
    variant mac64 streamcnn-mac64.bit

A variant is a configuration of ``hls_src/config/``, so what it can do is known before it is
loaded (:func:`expected_caps`, from the same headers the hardware was built from); once loaded,
the device's own capabilities record is read and must agree.  :func:`choose` picks the variant
a network fits that is fastest by the cycle model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from . import protocol
from .caps import Capabilities
from .errors import LimitError, OverlayError
from .network import Network

LIBRARY_FILE = "library.txt"
SHELL = "streamcnn-shell"


def expected_caps(config: str) -> Capabilities:
    """The capabilities an accelerator built from ``config`` reports (its header and the common
    maxima of streamcnn_config.h, this release's hardware and format versions)."""
    values = protocol.config(config)
    major, minor, patch = protocol.HW_VERSION
    maxima = {name: values[name] for name in Capabilities.__dataclass_fields__
              if name not in ("hw_version", "format_version")}
    return Capabilities(hw_version=(major << 16) | (minor << 8) | patch, format_version=protocol.FORMAT_VERSION,
                        **maxima)


@dataclass(frozen=True)
class Variant:
    """One reconfigurable module: its configuration, partial bitstream (with its .hwh beside it)
    and the capabilities it will report."""

    name: str
    bitfile: Path
    caps: Capabilities


@dataclass(frozen=True)
class Library:
    """A static shell and the variants its partition can hold (the first one is in the shell)."""

    folder: Path
    partition: str
    shell: Path
    variants: tuple

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise OverlayError(f"the library in {self.folder} has no variant {name!r} (it has "
                           f"{', '.join(v.name for v in self.variants)})")


def read(folder: Union[str, Path]) -> Library:
    """The library in ``folder``: its ``library.txt`` checked line by line, every bitstream and
    ``.hwh`` it names present.  Raises :class:`OverlayError` naming what is wrong."""
    folder = Path(folder)
    listing = folder / LIBRARY_FILE
    if not listing.is_file():
        raise OverlayError(f"no accelerator library in {folder} (no {LIBRARY_FILE}): build it with "
                           f"`make -C overlay library`; see bitstreams/README.md")
    partition, variants = None, []
    for number, line in enumerate(listing.read_text(errors="replace").splitlines(), 1):
        words = line.split()
        where = f"{listing}, line {number}"
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "partition" and len(words) == 2 and partition is None:
            partition = words[1]
        elif words[0] == "variant" and len(words) == 3:
            name, bit = words[1], folder / words[2]
            if name not in protocol.CONFIGS:
                raise OverlayError(f"{where}: variant {name!r} is not a configuration this streamcnn knows "
                                   f"({', '.join(protocol.CONFIGS)}); install the streamcnn release it was built with")
            if any(v.name == name for v in variants):
                raise OverlayError(f"{where}: variant {name} is listed twice")
            variants.append(Variant(name, bit, expected_caps(name)))
        else:
            raise OverlayError(f"{where}: expected 'partition NAME' once, then 'variant CONFIG FILE.bit' lines, "
                               f"got {line.strip()!r}")
    if partition is None or not variants:
        raise OverlayError(f"{listing} names {'no partition' if partition is None else 'no variant'}")
    shell = folder / f"{SHELL}.bit"
    for bit in [shell] + [v.bitfile for v in variants]:
        for path in (bit, bit.with_suffix(".hwh")):
            if not path.is_file():
                raise OverlayError(f"the library in {folder} lacks {path.name}: pynq needs every bitstream "
                                   f"with its .hwh beside it; rebuild with `make -C overlay library`")
    return Library(folder, partition, shell, tuple(variants))


def choose(network: Network, variants: Sequence[Variant], current: Optional[str] = None) -> Variant:
    """The variant ``network`` fits that runs it fastest by the cycle model (images per second
    at the largest batch each takes); between equals, ``current``, so nothing is swapped for
    nothing.  :class:`LimitError` naming each variant's reason if it fits none."""
    from .partition import seconds_per_image

    timed, reasons = [], []
    for v in variants:
        try:
            network.check(v.caps, 1)
            timed.append((seconds_per_image(network, v.caps), v.name != current, v))
        except LimitError as e:
            reasons.append(f"{v.name}: {e}")
    if not timed:
        raise LimitError(f"{network.name} fits no variant of the accelerator library ({'; '.join(reasons)})",
                         limit="variants")
    return min(timed, key=lambda t: t[:2])[2]


__all__ = ["Library", "Variant", "read", "choose", "expected_caps", "LIBRARY_FILE", "SHELL"]
