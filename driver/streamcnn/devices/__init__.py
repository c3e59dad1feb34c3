"""Devices: the simulator, and (on a PYNQ board) the FPGA."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StreamCNNError
from .base import Device, Program, RunStats

DEVICES = ("auto", "sim", "pynq")
#: devices for timing only (their outputs are replayed, not computed)
TIMING_DEVICES = ("modeled",)


def on_board() -> bool:
    """True on a Zynq board running a PYNQ image (an FPGA manager is present)."""
    return Path("/dev/xdevcfg").exists() or Path("/sys/class/fpga_manager/fpga0").exists()


def _library_by_default() -> bool:
    """No bitstream named: $STREAMCNN_BITFILE's overlay if set, else the accelerator library if
    there is one ($STREAMCNN_LIBRARY, or bitstreams/library/), else bitstreams/streamcnn.bit."""
    from .pynq_library import default_library

    if os.environ.get("STREAMCNN_BITFILE"):
        return False
    return bool(os.environ.get("STREAMCNN_LIBRARY")) or (default_library() / "library.txt").is_file()


def open_device(name: str = "auto", **options) -> Device:
    """Open a device: ``"sim"`` (the simulator; options: ``config``, the accelerator
    configuration to simulate, "mac256" or "mac64", and ``timeout``, reported by a
    modelled stuck accelerator, see :meth:`SimDevice.inject_stall`), ``"pynq"`` (the
    FPGA on a PYNQ board; options: ``bitfile``, the overlay, or ``library``, the folder of an
    accelerator library whose variants are swapped as networks need them, see
    :class:`streamcnn.devices.pynq_library.PynqLibraryDevice`, and ``timeout``; with neither,
    the library in bitstreams/library/ if there is one, else bitstreams/streamcnn.bit), ``"auto"`` (the
    board when present, otherwise the simulator) or ``"modeled"`` (a stand-in for a board
    when timing: it takes the cycle model's latency and replays a recorded answer, see
    :class:`streamcnn.devices.replay.ModeledDevice`; option ``config``).

    The choice can also come from the environment variable STREAMCNN_DEVICE."""
    if name == "auto":
        name = os.environ.get("STREAMCNN_DEVICE", "pynq" if on_board() else "sim")
    if name == "sim":
        from .sim import SimDevice

        return SimDevice(**options)
    if name == "pynq":
        from .pynq import PynqDevice
        from .pynq_library import PynqLibraryDevice

        bitfile, library = options.pop("bitfile", None), options.pop("library", None)
        if bitfile is not None and library is not None:
            raise StreamCNNError("give the pynq device a bitfile (one overlay) or a library (a shell and its "
                                 "variants), not both")
        if library is not None or (bitfile is None and _library_by_default()):
            return PynqLibraryDevice(library, **options)
        return PynqDevice(bitfile, **options)
    if name == "modeled":
        from .replay import ModeledDevice

        return ModeledDevice(**options)
    raise StreamCNNError(f"unknown device {name!r}; choose one of {', '.join(DEVICES + TIMING_DEVICES)}")


__all__ = ["Device", "Program", "RunStats", "open_device", "on_board", "DEVICES"]
