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


def open_device(name: str = "auto", **options) -> Device:
    """Open a device: ``"sim"`` (the simulator; options: ``config``, the accelerator
    configuration to simulate, "mac256" or "mac64", and ``timeout``, reported by a
    modelled stuck accelerator, see :meth:`SimDevice.inject_stall`), ``"pynq"`` (the
    FPGA on a PYNQ board; options: ``bitfile``, ``timeout``), ``"auto"`` (the
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

        return PynqDevice(**options)
    if name == "modeled":
        from .replay import ModeledDevice

        return ModeledDevice(**options)
    raise StreamCNNError(f"unknown device {name!r}; choose one of {', '.join(DEVICES + TIMING_DEVICES)}")


__all__ = ["Device", "Program", "RunStats", "open_device", "on_board", "DEVICES"]
