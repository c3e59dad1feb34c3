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
and can inject faults: a DMA slave error, or a send that stalls part way.  Its fabric holds one
accelerator configuration at a time; a partial bitstream of the accelerator library swaps it
(the reconfigurable partition of overlay/dfx.tcl), and only while the partition is quiet.

`make_overlay` writes the .bit/.hwh pair the Overlay loads: the .hwh is
pynqmetadata's sample PYNQ-Z2 design (an AXI DMA plus an HLS IP), edited so the
HLS IP is streamcnn_top with its registers and the DMA is 64 bits wide.  `make_library` writes
an accelerator library: the shell with the accelerator's place a DFX block design container,
and a partial .bit/.hwh per variant.  All are test fixtures made in a temporary directory; a
stand-in .bit holds only the name of the configuration it stands for, never a bitstream.

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
from pynq.pl_server import device as _pynq_device, hwh_parser
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
VLNVS = {"mac256": "xilinx.com:hls:streamcnn_top:1.0", "mac64": "xilinx.com:hls:streamcnn_top_mac64:1.0"}
PARTITION = "rp_streamcnn"
DECOUPLE, GPIO_BASE = "dfx_decouple", 0x41200000  # the AXI GPIO driving the partition's decoupler
FIXTURE_BIT = b"board_model stand-in bitstream, not a bitstream: "
# pynq picks its legacy .hwh parser (partial bitstreams' metadata) by the CPU it runs on; the
# board's is an ARMv7 (a Zynq-7000), so the model's is too, wherever pynq imported the name
HWH = hwh_parser._HWHZynq
for _module in (hwh_parser, _pynq_device, pynq.pl_server, pynq.pl):
    _module.HWH = HWH
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


def _design(vlnv: str) -> str:
    """The sample design's .hwh with the HLS IP made a streamcnn accelerator of this VLNV."""
    text = SAMPLE_HWH.read_text()
    # the HLS IP becomes streamcnn_top, with its output registers instead of resize_accel's inputs
    start = text.index('<REGISTER NAME="src_rows">')
    end = text.index("</REGISTERS>", start)
    ours = "".join(_register_xml(n, off) for n, off in IP_REGISTERS.items())
    text = text[:start] + ours.lstrip() + "          " + text[end:]
    text = text.replace("xilinx.com:hls:resize_accel:1.0", vlnv)
    text = text.replace("resize_accel_0", "streamcnn_top_0").replace('MODTYPE="resize_accel"',
                                                                      'MODTYPE="streamcnn_top"')
    # the DMA moves 64-bit words
    for param in ("c_m_axi_mm2s_data_width", "c_m_axis_mm2s_tdata_width", "c_m_axi_s2mm_data_width",
                  "c_s_axis_s2mm_tdata_width"):
        text = re.sub(rf'(<PARAMETER NAME="{param}" VALUE=")\d+(")', r"\g<1>64\g<2>", text)
    return text


def _fixture_bit(path: Path, config: str) -> Path:
    """A stand-in .bit: the board model reads which accelerator configuration it "holds"."""
    path.write_bytes(FIXTURE_BIT + config.encode())
    return path


def make_overlay(folder: Path, name: str = "streamcnn", config: str = "mac256") -> Path:
    """Write NAME.bit (a stand-in) and NAME.hwh (the edited sample design); return the .bit path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.hwh").write_text(_design(VLNVS[config]))
    return _fixture_bit(folder / f"{name}.bit", config)


def _accelerator_module(text: str) -> tuple:
    """(start, end) of the accelerator's MODULE element in a design's .hwh text."""
    start = text.index('<MODULE COREREVISION="2002121546" FULLNAME="/streamcnn_top_0"')
    return start, text.index("</MODULE>", start) + len("</MODULE>")


def make_library(folder: Path, variants=("mac256", "mac64"), holds: dict = None) -> Path:
    """Write an accelerator library as overlay/dfx.tcl does (bitstreams/library/): the shell,
    whose .hwh shows only the partition's boundary (a block design container, as Vivado writes
    it for DFX), one partial .bit and .hwh per variant (the reconfigurable module's own block
    design: the accelerator and the address of its AXI-Lite port) and library.txt.  ``holds``
    maps a variant to the configuration its .bit really holds (a mislabelled library).
    Returns the folder."""
    holds = holds or {}
    folder.mkdir(parents=True, exist_ok=True)
    first = variants[0]
    text = _design(VLNVS[first])
    start, end = _accelerator_module(text)
    module = text[start:end]
    # the container keeps the accelerator's boundary (ports, bus interfaces), not its registers
    body = module[module.index(">") + 1:]
    body = body[:body.index("<ADDRESSBLOCKS>")] + body[body.index("</ADDRESSBLOCKS>") + len("</ADDRESSBLOCKS>"):]
    gpio_parameters = "".join(
        f'\n        <PARAMETER NAME="{name}" VALUE="{value}"/>' for name, value in (
            ("C_GPIO_WIDTH", 1), ("C_ALL_OUTPUTS", 1), ("C_IS_DUAL", 1), ("C_GPIO2_WIDTH", 1), ("C_ALL_INPUTS_2", 1),
            ("C_BASEADDR", f"0x{GPIO_BASE:08X}"), ("C_HIGHADDR", f"0x{GPIO_BASE + SPAN - 1:08X}")))
    gpio_module = f"""
    <MODULE COREREVISION="27" FULLNAME="/{DECOUPLE}" HWVERSION="2.0" INSTANCE="{DECOUPLE}" IPTYPE="PERIPHERAL" IS_ENABLE="1" MODCLASS="PERIPHERAL" MODTYPE="axi_gpio" VLNV="xilinx.com:ip:axi_gpio:2.0">
      <PARAMETERS>{gpio_parameters}
      </PARAMETERS>
      <PORTS/>
      <BUSINTERFACES>
        <BUSINTERFACE BUSNAME="ps7_0_axi_periph_M02_AXI" DATAWIDTH="32" NAME="S_AXI" TYPE="SLAVE" VLNV="xilinx.com:interface:aximm:1.0">
          <PARAMETER NAME="PROTOCOL" VALUE="AXI4LITE"/>
          <PORTMAPS/>
        </BUSINTERFACE>
      </BUSINTERFACES>
    </MODULE>"""
    container = (f'<MODULE BD="rm_{first}" BDTYPE="BLOCK_CONTAINER" FULLNAME="/{PARTITION}" '
                 f'INSTANCE="{PARTITION}" IPTYPE="PERIPHERAL" IS_ENABLE="1" MODCLASS="PERIPHERAL" '
                 f'MODTYPE="bd_container" VLNV="xilinx.com:ip:bd_container:1.0">') + body
    shell = (text[:start] + container + gpio_module + text[end:]).replace('"streamcnn_top_0"', f'"{PARTITION}"')
    # the decoupler's AXI GPIO on the PS's bus
    memrange = next(line for line in shell.splitlines() if "<MEMRANGE" in line and f'INSTANCE="{PARTITION}"' in line)
    gpio_range = (memrange.replace(f'INSTANCE="{PARTITION}"', f'INSTANCE="{DECOUPLE}"')
                  .replace(f'BASEVALUE="0x{IP_BASE:08X}"', f'BASEVALUE="0x{GPIO_BASE:08X}"')
                  .replace(f'HIGHVALUE="0x{IP_BASE + SPAN - 1:08X}"', f'HIGHVALUE="0x{GPIO_BASE + SPAN - 1:08X}"')
                  .replace('SLAVEBUSINTERFACE="s_axi_AXILiteS"', 'SLAVEBUSINTERFACE="S_AXI"'))
    shell = shell.replace(memrange, memrange + "\n" + gpio_range)
    shell = shell.replace(f'<PERIPHERAL INSTANCE="{PARTITION}"/>',
                          f'<PERIPHERAL INSTANCE="{PARTITION}"/>\n        <PERIPHERAL INSTANCE="{DECOUPLE}"/>')
    (folder / "streamcnn-shell.hwh").write_text(shell)
    _fixture_bit(folder / "streamcnn-shell.bit", first)
    listing = [f"partition {PARTITION}"]
    for variant in variants:
        design = _design(VLNVS[variant])
        start, end = _accelerator_module(design)
        module = design[start:end].replace('FULLNAME="/streamcnn_top_0"', 'FULLNAME="/accelerator"')
        module = module.replace('"streamcnn_top_0"', '"accelerator"')
        (folder / f"streamcnn-{variant}.hwh").write_text(f"""<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="Wed Feb 12 16:19:27 2020" VIVADOVERSION="2019.2">
  <SYSTEMINFO ARCH="zynq" DEVICE="7z020" NAME="rm_{variant}" PACKAGE="clg400" SPEEDGRADE="-1"/>
  <EXTERNALPORTS/>
  <EXTERNALINTERFACES>
    <BUSINTERFACE BUSNAME="s_axi_control" NAME="s_axi_control" TYPE="SLAVE">
      <MEMORYMAP>
        <MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_S_AXI_CONTROL_BASEADDR" BASEVALUE="0x{IP_BASE:08X}" HIGHNAME="C_S_AXI_CONTROL_HIGHADDR" HIGHVALUE="0x{IP_BASE + SPAN - 1:08X}" INSTANCE="accelerator" IS_DATA="TRUE" IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="s_axi_control" MEMTYPE="REGISTER" SLAVEBUSINTERFACE="s_axi_control"/>
      </MEMORYMAP>
    </BUSINTERFACE>
  </EXTERNALINTERFACES>
  <MODULES>
    {module}
  </MODULES>
</EDKSYSTEM>
""")
        _fixture_bit(folder / f"streamcnn-{variant}.bit", holds.get(variant, variant))
        listing.append(f"variant {variant} streamcnn-{variant}.bit")
    (folder / "library.txt").write_text("\n".join(listing) + "\n")
    return folder


class SimulatedPynqZ2(Device):
    arch = "armv7l"  # a Zynq-7000, as pynq.ps expects

    def __init__(self, config: str = "mac256"):
        super().__init__("streamcnn-simulated-pynq-z2")
        self.capabilities = {"REGISTER_RW": True}
        self.slcr = dict(SLCR_RESET)
        self.config = config  # the accelerator configuration the fabric holds
        self.decoupled = False  # the partition's decoupler (the AXI GPIO's channel 1, bit 0)
        self.decouple_request = 0  # what channel 1 was last written
        self.decouple_lag = 2  # status reads (channel 2) before the decoupler follows a request
        self.decoupler_stuck = False  # the decoupler never follows a request to decouple
        self.fault_partial_download = None  # an exception the next partial download raises
        self._lag_left = 0
        self.reconfigurations = []  # the configurations partial bitstreams loaded, in order
        self._ffi, self._lib = simbuild.load(config)
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
        # as pynq's embedded device parses the .hwh, without the XRT memory (xclbin) part: a
        # partial bitstream's with the legacy parser (update_partial_region takes no other)
        hwh = Path(bitfile_name).with_suffix(".hwh")
        if partial:
            return HWH(hwh_name=str(hwh))
        parser = RuntimeMetadataParser(Metadata(input=hwh))
        parser.refresh_hierarchy_dict()
        return parser

    def download(self, bitstream, parser=None):
        """Program the fabric: the accelerator becomes the configuration the stand-in .bit
        holds.  A partial bitstream reconfigures the partition only, which must be quiet: no
        transfer in flight, the accelerator idle (the driver holds off while it swaps)."""
        data = Path(bitstream.bitfile_name).read_bytes()
        if data.startswith(FIXTURE_BIT):
            config = data[len(FIXTURE_BIT):].decode()
            if bitstream.partial:
                if self.fault_partial_download is not None:  # e.g. the FPGA manager refusing it
                    error, self.fault_partial_download = self.fault_partial_download, None
                    raise error
                busy = [ch for ch in (MM2S, S2MM) if self.dma[ch]["busy"]]
                assert not busy and not self.ip["running"], "the partition was reconfigured mid-transfer"
                assert self.decoupled, "the partition was reconfigured while coupled to the shell"
                self.reconfigurations.append(config)
                self.events.append(f"reconfigure {config}")
            self.config = config
            self._ffi, self._lib = simbuild.load(config)
            self.ip.update(ctrl=0x4, running=False, consumed=None, **{k: 0 for k in IP_REGISTERS})
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
        for name, base in (("dma", DMA_BASE), ("ip", IP_BASE), ("gpio", GPIO_BASE), ("slcr", SLCR_BASE)):
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

    def _check_coupled(self, address: int) -> None:
        """A decoupled partition's AXI-Lite port answers nothing (on the board the CPU would
        stall on the read or write): the driver must not touch the accelerator meanwhile."""
        if self.decoupled and IP_BASE <= address < IP_BASE + SPAN:
            raise AssertionError(f"the driver accessed the accelerator at {address:#x} while its partition was decoupled")

    def _read(self, address: int) -> int:
        self._check_coupled(address)
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
        if GPIO_BASE <= address < GPIO_BASE + SPAN:  # channel 1 drives the decoupler, channel 2 reads its status
            off = address - GPIO_BASE
            if off == 0x0:
                return self.decouple_request
            if off == 0x8:
                if self.decouple_request != self.decoupled and not (self.decouple_request and self.decoupler_stuck):
                    if self._lag_left:
                        self._lag_left -= 1
                    else:
                        self.decoupled = bool(self.decouple_request)
                        self.events.append("decouple" if self.decoupled else "couple")
                return int(self.decoupled)
            return 0
        raise AssertionError(f"read of unmapped register {address:#x}")

    def _write(self, address: int, value: int) -> None:
        if GPIO_BASE <= address < GPIO_BASE + SPAN:
            if address - GPIO_BASE == 0x0:  # the decoupler follows after a few status reads
                self.decouple_request, self._lag_left = value & 1, self.decouple_lag
            return
        self._check_coupled(address)
        if self.decoupled and address - DMA_BASE in (MM2S + 0x28, S2MM + 0x28):
            raise AssertionError("the driver started a DMA transfer while the partition was decoupled")
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
