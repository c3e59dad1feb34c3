"""pynq's driver for the streamcnn IP: ``Overlay("streamcnn.bit").streamcnn_top_0`` is a
streamcnn device.

pynq binds IP drivers by VLNV (``bindto``: the accelerator's, in either configuration) and imports the modules registered under the
``pynq.lib`` entry point whenever it opens an overlay; streamcnn registers this one, so with
streamcnn installed in the board's pynq environment::

    from pynq import Overlay
    ol = Overlay("/home/xilinx/streamcnn/bitstreams/streamcnn.bit")
    device = ol.streamcnn_top_0            # a streamcnn.Device (a PynqDevice)
    device.load(network).run(images)

The driver finds the overlay's AXI DMA itself (from the loaded bitstream's IP dictionary) and
reads the accelerator's capabilities, as ``open_device("pynq")`` does.  Importing this module
needs pynq.
"""
from __future__ import annotations

from abc import ABCMeta

from pynq import DefaultIP
from pynq.overlay import RegisterIP

from .pynq import DMA_VLNV, IP_VLNVS, PynqDevice


class _Meta(RegisterIP, ABCMeta):
    """pynq's driver registry and the Device interface's abstract base, together."""


class StreamCNNDriver(DefaultIP, PynqDevice, metaclass=_Meta):
    """The streamcnn accelerator as pynq creates it for its VLNV: a pynq ``DefaultIP`` (its
    AXI-Lite registers: ``read``, ``write``, ``register_map``) and a streamcnn device."""

    bindto = list(IP_VLNVS)  # either configuration

    def __init__(self, description: dict) -> None:
        import pynq
        from pynq.lib.dma import DMA

        DefaultIP.__init__(self, description)
        board = description["device"]
        ip_dict = dict(board.ip_dict)
        mine = next((name for name, d in ip_dict.items() if d.get("phys_addr") == description["phys_addr"]), None)
        if mine is None:  # not the bitstream the board holds: still, this IP is this IP
            mine = description["fullpath"]
            ip_dict[mine] = description

        def driver(name: str):
            if name == mine:
                return self  # its registers are DefaultIP's
            return DMA({**ip_dict[name], "device": board})

        self._setup(pynq, ip_dict, driver, board, 2.0, getattr(board, "bitfile_name", "loaded on the board"))

    def __repr__(self) -> str:
        return f"<streamcnn pynq device at {self.mmio.base_addr:#x}>"


__all__ = ["StreamCNNDriver", "DMA_VLNV", "IP_VLNVS"]
