"""A simulated PYNQ-Z2 for pynq's own, unmodified Overlay and DMA drivers.

`SimulatedPynqZ2` is a `pynq.Device` with the REGISTER_RW capability: pynq's MMIO
reads and writes its registers, and it models
  * the AXI DMA at 0x40400000 in direct register mode (PG021): DMACR, DMASR, address
    and LENGTH registers of both channels; writing LENGTH starts a transfer;
  * the streamcnn IP's AXI-Lite registers at 0x43C00000: ap_ctrl_hs control and
    the status, packet_index, words and hw_version outputs;
  * memory: buffers with physical addresses, as `pynq.allocate` returns them;
and moves data by running the accelerator itself (the simulator library built
from hls_src/).  It records what the driver does (order of DMA starts, transfers)
and can inject faults: a DMA slave error, or a send that stalls part way.

`make_overlay` writes the .bit/.hwh pair the Overlay loads: the .hwh is
pynqmetadata's sample PYNQ-Z2 design (an AXI DMA plus an HLS IP), edited so the
HLS IP is streamcnn_top with its registers and the DMA is 64 bits wide.  Both
files are test fixtures made in a temporary directory, never a bitstream.

pynq's private APIs are used (Device internals, its metadata parser), so the
tests pin pynq 4.0.0.
"""
from __future__ import annotations

import re
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pynq
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device
from pynqmetadata.frontends import Metadata
from pynqmetadata.views.runtime import RuntimeMetadataParser

from streamcnn.devices import simbuild

DMA_BASE, IP_BASE, SPAN = 0x40400000, 0x43C00000, 0x10000
SLCR_BASE = 0xF8000000  # the PS's clock registers, which Overlay.download() programs
# PYNQ-Z2 after boot: 50 MHz reference; ARM, DDR, IO PLL feedback dividers 26, 21, 20 (bits 18:12);
# FCLK0 from the IO PLL divided by 10 and 1: 100 MHz
SLCR_RESET = {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x170: (1 << 20) | (10 << 8)}
MM2S, S2MM = 0x00, 0x30
IP_REGISTERS = {"status": 0x10, "packet_index": 0x20, "words": 0x30, "hw_version": 0x40}
SAMPLE_HWH = Path(pynq.__file__).resolve().parent.parent / "pynqmetadata" / "tests" / "hwhs" / "resizer.hwh"


def _register_xml(name: str, offset: int) -> str:
    return f"""            <REGISTER NAME="{name}">
              <PROPERTY NAME="DESCRIPTION" VALUE="Data signal of {name}"/>
              <PROPERTY NAME="ADDRESS_OFFSET" VALUE="{offset}"/>
              <PROPERTY NAME="SIZE" VALUE="32"/>
              <PROPERTY NAME="ACCESS" VALUE="read-only"/>
              <PROPERTY NAME="IS_ENABLED" VALUE="true"/>
              <PROPERTY NAME="RESET_VALUE" VALUE="0"/>
              <FIELDS>
                <FIELD NAME="{name}">
                  <PROPERTY NAME="DESCRIPTION" VALUE="Bit 31 to 0 Data signal of {name}"/>
                  <PROPERTY NAME="ADDRESS_OFFSET" VALUE="0"/>
                  <PROPERTY NAME="ACCESS" VALUE="read-only"/>
                  <PROPERTY NAME="MODIFIED_READ_VALUES" VALUE=""/>
                  <PROPERTY NAME="WRITE_CONSTRAINT" VALUE="0"/>
                  <PROPERTY NAME="READ_ACTION" VALUE=""/>
                  <PROPERTY NAME="BIT_OFFSET" VALUE="0"/>
                  <PROPERTY NAME="BIT_WIDTH" VALUE="32"/>
                </FIELD>
              </FIELDS>
            </REGISTER>
"""


def make_overlay(folder: Path, name: str = "streamcnn") -> Path:
    """Write NAME.bit (empty) and NAME.hwh (the edited sample design); return the .bit path."""
    text = SAMPLE_HWH.read_text()
    # the HLS IP becomes streamcnn_top, with its output registers instead of resize_accel's inputs
    start = text.index('<REGISTER NAME="src_rows">')
    end = text.index("</REGISTERS>", start)
    ours = "".join(_register_xml(n, off) for n, off in IP_REGISTERS.items())
    text = text[:start] + ours.lstrip() + "          " + text[end:]
    text = text.replace("xilinx.com:hls:resize_accel:1.0", "xilinx.com:hls:streamcnn_top:1.0")
    text = text.replace("resize_accel_0", "streamcnn_top_0").replace('MODTYPE="resize_accel"',
                                                                      'MODTYPE="streamcnn_top"')
    # the DMA moves 64-bit words
    for param in ("c_m_axi_mm2s_data_width", "c_m_axis_mm2s_tdata_width", "c_m_axi_s2mm_data_width",
                  "c_s_axis_s2mm_tdata_width"):
        text = re.sub(rf'(<PARAMETER NAME="{param}" VALUE=")\d+(")', r"\g<1>64\g<2>", text)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.hwh").write_text(text)
    bit = folder / f"{name}.bit"
    bit.write_bytes(b"")
    return bit


class SimulatedPynqZ2(Device):
    arch = "armv7l"  # a Zynq-7000, as pynq.ps expects

    def __init__(self):
        super().__init__("streamcnn-simulated-pynq-z2")
        self.capabilities = {"REGISTER_RW": True}
        self.slcr = dict(SLCR_RESET)
        self._ffi, self._lib = simbuild.load()
        self.memory: dict = {}  # physical address -> uint8 array
        self._next_address = 0x1000_0000
        self.events: list = []  # what the driver did, in order
        self.reset_register_counts()  # AXI-Lite accesses by register, since the last reset
        self.fault_slave_error = False  # the next send reports a DMA slave error
        self.fault_stall_after = None  # the next send stops after this many words
        self.busy_reads = 0  # after each transfer, S2MM's status reads busy this many times (a slow answer)
        self._busy_left = 0
        self._reset_dma()
        self.ip = {"ctrl": 0x4, "running": False, "consumed": None, **{k: 0 for k in IP_REGISTERS}}

    # -- what pynq asks of a device ------------------------------------------------

    def get_bitfile_metadata(self, bitfile_name, partial=False):
        # as pynq's embedded device parses the .hwh, without the XRT memory (xclbin) part
        parser = RuntimeMetadataParser(Metadata(input=Path(bitfile_name).with_suffix(".hwh")))
        parser.refresh_hierarchy_dict()
        return parser

    def download(self, bitstream, parser=None):
        self.post_download(bitstream, parser)

    def gen_cache(self, bitstream, parser=None):
        pass

    def allocate(self, shape, dtype, **kwargs):
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        raw = np.zeros(nbytes + 64, np.uint8)
        offset = (-raw.ctypes.data) % 64
        mem = raw[offset:offset + nbytes]
        buf = mem.view(dtype).reshape(shape).view(PynqBuffer)
        buf.device, buf.coherent, buf.offset = self, False, 0
        buf.device_address = buf.bo = self._next_address
        self.memory[self._next_address] = mem
        self._next_address += (nbytes + 4095) // 4096 * 4096
        return buf

    def flush(self, bo, offset, ptr, size):
        self.flushed.append(size)  # bytes of cache the driver cleaned, per call

    def invalidate(self, bo, offset, ptr, size):
        pass

    def read_registers(self, address, length):
        self.register_reads[self._register_name(address)] += 1
        return struct.pack("<I", self._read(address))

    def write_registers(self, address, data):
        self.register_writes[self._register_name(address)] += 1
        self._write(address, int.from_bytes(bytes(data)[:4], "little"))

    def _register_name(self, address: int) -> str:
        """'dma+0x34', 'ip+0x0', ...: which register an AXI-Lite access touched."""
        for name, base in (("dma", DMA_BASE), ("ip", IP_BASE), ("slcr", SLCR_BASE)):
            if base <= address < base + SPAN:
                return f"{name}+{address - base:#x}"
        return f"{address:#x}"

    def reset_register_counts(self) -> None:
        self.register_reads, self.register_writes = Counter(), Counter()
        self.flushed: list = []

    # -- the model ---------------------------------------------------------------------

    def _reset_dma(self):
        self.dma = {MM2S: {"cr": 0, "sr": 0x1, "addr": 0, "length": 0, "busy": False},
                    S2MM: {"cr": 0, "sr": 0x1, "addr": 0, "length": 0, "busy": False}}
        self._pending_send = None

    def _buffer(self, address: int, nbytes: int) -> np.ndarray:
        for base, mem in self.memory.items():
            if base <= address and address + nbytes <= base + len(mem):
                return mem[address - base:address - base + nbytes]
        raise AssertionError(f"the driver gave the DMA an unmapped address {address:#x}")

    def _read(self, address: int) -> int:
        if DMA_BASE <= address < DMA_BASE + SPAN:
            off = address - DMA_BASE
            ch = self.dma[MM2S if off < S2MM else S2MM]
            reg = off - (MM2S if off < S2MM else S2MM)
            if ch is self.dma[S2MM] and reg == 0x04 and self._busy_left:
                self._busy_left -= 1  # the answer is still on its way
                return ch["sr"] & ~0x2
            return {0x00: ch["cr"], 0x04: ch["sr"], 0x18: ch["addr"] & 0xFFFFFFFF, 0x1C: ch["addr"] >> 32,
                    0x28: ch["length"]}.get(reg, 0)
        if IP_BASE <= address < IP_BASE + SPAN:
            off = address - IP_BASE
            if off == 0x00:
                value = self.ip["ctrl"]
                self.ip["ctrl"] &= ~0x2  # ap_done clears on read
                return value
            for name, reg in IP_REGISTERS.items():
                if off == reg:
                    return self.ip[name]
            return 0
        if SLCR_BASE <= address < SLCR_BASE + 0x200:
            return self.slcr.get(address - SLCR_BASE, 0)
        raise AssertionError(f"read of unmapped register {address:#x}")

    def _write(self, address: int, value: int) -> None:
        if DMA_BASE <= address < DMA_BASE + SPAN:
            off = address - DMA_BASE
            base = MM2S if off < S2MM else S2MM
            ch, reg = self.dma[base], off - base
            if reg == 0x00:
                if value & 0x4:  # soft reset: both channels, transfers abandoned
                    self.events.append("dma-reset")
                    self._reset_dma()
                    return
                ch["cr"] = value
                ch["sr"] = (ch["sr"] & ~0x1) | 0x2 if value & 0x1 else (ch["sr"] | 0x1)
            elif reg == 0x18:
                ch["addr"] = (ch["addr"] & ~0xFFFFFFFF) | value
            elif reg == 0x1C:
                ch["addr"] = (ch["addr"] & 0xFFFFFFFF) | (value << 32)
            elif reg == 0x28:
                ch["length"], ch["busy"] = value, True
                ch["sr"] &= ~0x2
                self.events.append("recv" if base == S2MM else "send")
                if base == MM2S:
                    self._pending_send = (ch["addr"], value)
                self._progress()
            return
        if IP_BASE <= address < IP_BASE + SPAN:
            if address - IP_BASE == 0x00 and value & 0x1:
                self.events.append("ap_start")
                self.ip["running"] = True
                self.ip["ctrl"] = 0x1
                self._progress()
            return
        if SLCR_BASE <= address < SLCR_BASE + 0x200:
            self.slcr[address - SLCR_BASE] = value
            return
        raise AssertionError(f"write of unmapped register {address:#x}")

    def _progress(self) -> None:
        """Move data when the IP runs, a send is pending and a receive is armed."""
        send, recv = self._pending_send, self.dma[S2MM]
        if send is None or not self.ip["running"] or not recv["busy"]:
            return  # a send without an armed receive stalls the accelerator's output: nothing moves
        addr, nbytes = send
        words = self._buffer(addr, nbytes).view(np.uint64)
        if self.fault_slave_error:
            self.fault_slave_error = False
            self.dma[MM2S]["sr"] |= 0x20
            return
        if self.fault_stall_after is not None:  # the accelerator saw part of the program; MM2S hangs
            self.ip["consumed"] = words[:self.fault_stall_after].copy()
            self.fault_stall_after = None
            return
        if self.ip["consumed"] is not None:  # the rest of an interrupted program, then this transfer
            words = np.concatenate([self.ip["consumed"], words])
            self.ip["consumed"] = None
        self._pending_send = None
        out = self._buffer(recv["addr"], recv["length"]).view(np.uint64)
        res = self._ffi.new("struct scnn_sim_result *")
        self._lib.scnn_sim_transfer(self._ffi.from_buffer("uint64_t[]", np.ascontiguousarray(words)), len(words),
                                    self._ffi.from_buffer("uint64_t[]", out, require_writable=True), len(out),
                                    (1 << 64) - 1, res)  # no injected stall: this model stalls MM2S itself
        assert res.in_consumed == len(words) and res.out_beats <= len(out), "the transfer would hang the board"
        self.events.append("done")
        self._busy_left = self.busy_reads
        for ch in (MM2S, S2MM):
            self.dma[ch]["busy"] = False
            self.dma[ch]["sr"] |= 0x2
        recv["length"] = 8 * int(res.out_copied)
        self.ip.update(status=res.status_reg, packet_index=res.packet_reg, words=res.words_reg,
                       hw_version=res.hw_version_reg, running=False, ctrl=0x4 | 0x2)
