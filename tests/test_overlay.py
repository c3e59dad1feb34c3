"""The overlay build scripts, checked as far as a machine without Xilinx tools can:
Tcl syntax, a dry run of each script under plain tclsh (every Vivado/Vitis HLS
command recorded instead of executed), and the Makefile's plan (make -n)."""
import shutil
import subprocess
from pathlib import Path

import pytest

OVERLAY = Path(__file__).resolve().parent.parent / "overlay"
TCLSH = shutil.which("tclsh")
pytestmark = pytest.mark.skipif(TCLSH is None, reason="tclsh not installed")

# Records every command Tcl does not know (the Xilinx ones) and answers a few.
HARNESS = r"""
set log [open $::env(DRYRUN_LOG) w]
proc unknown {args} {
    global log
    puts $log [join $args " "]
    flush $log
    switch -- [lindex $args 0] {
        version { return $::env(DRYRUN_VERSION) }
        get_property {
            switch -- [lindex $args 1] {
                STATS.WNS { return $::env(DRYRUN_WNS) }
                STATS.WHS { return $::env(DRYRUN_WHS) }
                default { return "write_bitstream Complete!" }
            }
        }
        get_bd_addr_segs { return $::env(DRYRUN_SEGS) }
        create_bd_cell - get_bd_intf_pins - get_bd_pins - get_bd_cells - get_files - get_runs { return [lindex $args end] }
        default { return "" }
    }
}
set script [lindex $::argv 0]
set argv [lrange $::argv 1 end]
set argc [llength $argv]
source $script
"""


SEGMENTS = ("processing_system7_0/Data/SEG_axi_dma_0_Reg processing_system7_0/Data/SEG_streamcnn_top_0_Reg "
            "processing_system7_0/Data/SEG_dfx_decouple_Reg processing_system7_0/Data/SEG_accelerator_Reg")


def dry_run(tmp_path, script, *args, version="2022.1", wns="0.213", whs="0.041", segments=SEGMENTS):
    harness = tmp_path / "harness.tcl"
    harness.write_text(HARNESS)
    log = tmp_path / "calls.log"
    env = {"DRYRUN_LOG": str(log), "DRYRUN_VERSION": version, "DRYRUN_WNS": wns, "DRYRUN_WHS": whs, "DRYRUN_SEGS": segments,
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([TCLSH, str(harness), str(OVERLAY / script), *map(str, args)], capture_output=True,
                       text=True, env=env)
    return r, (log.read_text().splitlines() if log.exists() else [])


@pytest.mark.parametrize("script", ["hls.tcl", "vivado.tcl", "dfx.tcl", "shell.tcl"])
def test_tcl_is_complete(script):
    r = subprocess.run([TCLSH], input=f"set h [open {OVERLAY / script}]; puts [info complete [read $h]]",
                       capture_output=True, text=True)
    assert r.stdout.strip() == "1"


def test_hls_script_dry_run(tmp_path):
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "csim,csynth,cosim,export")
    assert r.returncode == 0, r.stderr
    text = "\n".join(calls)
    assert "set_top streamcnn_top" in calls
    assert "set_part xc7z020clg400-1" in calls
    assert "create_clock -period 10 -name default" in calls
    assert f"csim_design -argv {tmp_path / 'vectors'}" in calls
    assert "csynth_design" in calls and f"cosim_design -argv {tmp_path / 'vectors' / 'cosim'} -trace_level none" in calls
    assert "open_project -reset hls" in calls and "open_solution -reset solution1 -flow_target vivado" in calls
    assert "export_design -format ip_catalog -vendor xilinx.com -library hls -version 1.0" in text
    assert "host_shim" not in text  # Vitis HLS builds the kernel with its own headers
    order = [c.split()[0] for c in calls if c.split()[0].endswith("_design")]
    assert order == ["csim_design", "csynth_design", "cosim_design", "export_design"]


def test_hls_script_without_csynth_reopens_the_checked_solution(tmp_path):
    """cosim and export run after check_hls.py has passed csynth's report: they must not reset it."""
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "cosim")
    assert r.returncode == 0, r.stderr
    assert "open_project hls" in calls and "open_solution solution1 -flow_target vivado" in calls
    assert not any("-reset" in c for c in calls) and "csynth_design" not in calls


def test_hls_script_fails_on_a_cosim_mismatch(tmp_path):
    harness_fail = HARNESS.replace("default { return \"\" }", "cosim_design { error \"C/RTL co-simulation finished: FAIL\" }\n        default { return \"\" }")
    assert harness_fail != HARNESS
    (tmp_path / "harness.tcl").write_text(harness_fail)
    env = {"DRYRUN_LOG": str(tmp_path / "calls.log"), "DRYRUN_VERSION": "2022.1", "DRYRUN_WNS": "0", "DRYRUN_WHS": "0",
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([TCLSH, str(tmp_path / "harness.tcl"), str(OVERLAY / "hls.tcl"), str(tmp_path), "cosim,export"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "C/RTL co-simulation failed: C/RTL co-simulation finished: FAIL" in r.stderr
    assert "export_design" not in (tmp_path / "calls.log").read_text()


def test_hls_script_rejects_unknown_steps(tmp_path):
    r, _ = dry_run(tmp_path, "hls.tcl", tmp_path, "csim,bitstream")
    assert r.returncode == 1 and "unknown step 'bitstream'" in r.stderr


def _vivado_build_tree(build):
    (build / "hls/solution1/impl/ip").mkdir(parents=True)
    (build / "hls/solution1/impl/ip/component.xml").write_text("")
    impl = build / "vivado/streamcnn.runs/impl_1"
    impl.mkdir(parents=True)
    (impl / "streamcnn_wrapper.bit").write_bytes(b"made by the dry run")
    handoff = build / "vivado/streamcnn.gen/sources_1/bd/streamcnn/hw_handoff"
    handoff.mkdir(parents=True)
    (handoff / "streamcnn.hwh").write_text("made by the dry run")


def test_vivado_script_dry_run(tmp_path):
    build, out = tmp_path / "build", tmp_path / "bitstreams"
    _vivado_build_tree(build)
    r, calls = dry_run(tmp_path, "vivado.tcl", build, out, "streamcnn", 2)
    assert r.returncode == 0, r.stderr
    text = "\n".join(calls)
    assert f"create_project -force streamcnn {build / 'vivado'} -part xc7z020clg400-1" in calls
    for setting in ("CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ 100", "CONFIG.PCW_USE_M_AXI_GP0 1",
                    "CONFIG.PCW_USE_S_AXI_HP0 1", "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH 64",
                    "CONFIG.PCW_UIPARAM_DDR_PARTNO {MT41K256M16 RE-125}",
                    "CONFIG.c_include_sg 0", "CONFIG.c_sg_length_width 26",
                    "CONFIG.c_m_axi_mm2s_data_width 64", "CONFIG.c_s_axis_s2mm_tdata_width 64"):
        assert setting in text, setting  # (a Tcl list as text: single words lose their braces)
    assert "create_bd_cell -type ip -vlnv xilinx.com:hls:streamcnn_top:1.0 streamcnn_top_0" in calls
    assert "connect_bd_intf_net axi_dma_0/M_AXIS_MM2S streamcnn_top_0/prog_in" in calls
    assert "connect_bd_intf_net streamcnn_top_0/resp_out axi_dma_0/S_AXIS_S2MM" in calls
    assert "set_property offset 0x40400000 processing_system7_0/Data/SEG_axi_dma_0_Reg" in calls
    assert "set_property offset 0x43C00000 processing_system7_0/Data/SEG_streamcnn_top_0_Reg" in calls
    assert "launch_runs impl_1 -to_step write_bitstream -jobs 2" in calls
    assert f"make_wrapper -files {build / 'vivado' / 'streamcnn.srcs' / 'sources_1' / 'bd' / 'streamcnn' / 'streamcnn.bd'} -top" in calls
    # the overlay: .bit and .hwh with one base name, where the driver looks, and its reports
    assert (out / "streamcnn.bit").read_bytes() == b"made by the dry run"
    assert (out / "streamcnn.hwh").exists()
    assert f"report_timing_summary -max_paths 10 -file {out / 'streamcnn.timing.rpt'}" in calls
    assert f"report_utilization -file {out / 'streamcnn.utilization.rpt'}" in calls
    assert "timing met, WNS 0.213 ns, WHS 0.041 ns" in r.stdout
    # the current automation keys, not the legacy Clk
    assert text.count('Clk_master "Auto" Clk_slave "Auto" Clk_xbar "Auto"') == 4 and ' Clk "Auto"' not in text


@pytest.mark.parametrize("wns,whs", [("-0.120", "0.041"), ("0.213", "-0.004"), ("", "0.041")])
def test_vivado_script_refuses_an_overlay_that_misses_timing(tmp_path, wns, whs):
    build, out = tmp_path / "build", tmp_path / "bitstreams"
    _vivado_build_tree(build)
    r, calls = dry_run(tmp_path, "vivado.tcl", build, out, "streamcnn", 2, wns=wns, whs=whs)
    assert r.returncode == 1
    assert f"timing not met (WNS {wns} ns, WHS {whs} ns at 100 MHz): no overlay written" in r.stderr
    assert not (out / "streamcnn.bit").exists() and not (out / "streamcnn.hwh").exists()
    assert f"report_timing_summary -max_paths 10 -file {out / 'streamcnn.timing.rpt'}" in calls


def test_vivado_version_is_pinned(tmp_path):
    build = tmp_path / "build"
    _vivado_build_tree(build)
    r, calls = dry_run(tmp_path, "vivado.tcl", build, tmp_path / "out", "streamcnn", 2, version="2023.2")
    assert r.returncode == 1 and "pinned to Vivado 2022.1, found 2023.2" in r.stderr
    assert not any(c.startswith("create_project") for c in calls)


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_plan():
    r = subprocess.run(["make", "-n", "-C", str(OVERLAY)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plan = r.stdout
    steps = [plan.index(s) for s in ("make_vectors.py build/mac256/vectors mac256",
                                     "vitis_hls -f hls.tcl -tclargs build/mac256 csim,csynth mac256",
                                     "check_hls.py csynth build/mac256/hls/solution1/syn/report",
                                     "vitis_hls -f hls.tcl -tclargs build/mac256 cosim mac256",
                                     "check_hls.py cosim build/mac256/hls/solution1/sim/report/streamcnn_top_cosim.rpt",
                                     "vitis_hls -f hls.tcl -tclargs build/mac256 export mac256",
                                     "vivado -mode batch -nojournal -nolog -source vivado.tcl -tclargs build/mac256 "
                                     "../bitstreams streamcnn 2")]
    assert steps == sorted(steps)
    for target in ("csim", "cosim", "check", "clean"):
        assert subprocess.run(["make", "-n", "-C", str(OVERLAY), target], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_builds_each_configuration():
    """make CONFIG=mac64: its own build directory, configuration and bitstream name."""
    r = subprocess.run(["make", "-n", "-C", str(OVERLAY), "CONFIG=mac64"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "make_vectors.py build/mac64/vectors mac64" in r.stdout
    assert "vitis_hls -f hls.tcl -tclargs build/mac64 csim,csynth mac64" in r.stdout
    assert "-tclargs build/mac64 ../bitstreams streamcnn-mac64 2" in r.stdout
    assert "mac256" not in r.stdout
    r = subprocess.run(["make", "-n", "-C", str(OVERLAY), "CONFIG=mac1024"], capture_output=True, text=True)
    assert r.returncode != 0 and "no hls_src/config/mac1024.h; choose one of mac256 mac64" in r.stderr


def test_hls_script_compiles_the_configuration_asked_for(tmp_path):
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "csim,csynth", "mac64")
    assert r.returncode == 0, r.stderr
    adds = [c for c in calls if c.startswith("add_files")]
    assert len(adds) == 2 and all(c.endswith("-std=c++14 -DSCNN_CONFIG_MAC64") for c in adds), adds
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "csim,csynth")
    assert all("SCNN_CONFIG" not in c for c in calls)
    r, _ = dry_run(tmp_path, "hls.tcl", tmp_path, "csim", "mac9")
    assert r.returncode == 1 and "unknown configuration 'mac9'" in r.stderr


def dfx_build(tmp_path, variants=("mac256", "mac64")):
    """What dfx.tcl reads and copies, as Vivado would leave it (the dry run runs no tool)."""
    build = tmp_path / "build"
    for v in variants:
        ip = build / v / "hls" / "solution1" / "impl" / "ip"
        ip.mkdir(parents=True)
        (ip / "component.xml").write_text("<component/>")
    dfx = build / "dfx"
    runs = ["impl_1"] + [f"child_{i}_impl_1" for i in range(1, len(variants))]
    for v, run in zip(variants, runs):
        (dfx / "streamcnn.runs" / run).mkdir(parents=True)
        (dfx / "streamcnn.runs" / run / f"streamcnn_i_rp_streamcnn_rm_{v}_inst_0_partial.bit").write_bytes(v.encode())
        hwh = dfx / "streamcnn.gen" / "sources_1" / "bd" / f"rm_{v}" / "hw_handoff"
        hwh.mkdir(parents=True)
        (hwh / f"rm_{v}.hwh").write_text(v)
    (dfx / "streamcnn.runs" / "impl_1" / "streamcnn_wrapper.bit").write_bytes(b"shell")
    shell = dfx / "streamcnn.gen" / "sources_1" / "bd" / "streamcnn" / "hw_handoff"
    shell.mkdir(parents=True)
    (shell / "streamcnn.hwh").write_text("shell")
    return build


def test_dfx_script_dry_run(tmp_path):
    """The library: a static shell, one reconfigurable partition, a configuration and a partial
    bitstream with its .hwh per variant, pr_verify between them."""
    build, out = dfx_build(tmp_path), tmp_path / "library"
    r, calls = dry_run(tmp_path, "dfx.tcl", build, out, 2, "mac256", "mac64")
    assert r.returncode == 0, r.stderr
    text = "\n".join(calls)
    assert "set_property PR_FLOW 1" in text
    for v, ip in (("mac256", "streamcnn_top"), ("mac64", "streamcnn_top_mac64")):
        assert f"create_bd_design rm_{v}" in calls
        assert f"create_bd_cell -type ip -vlnv xilinx.com:hls:{ip}:1.0 accelerator" in calls
        assert f"create_pr_configuration -name config_{v} -partitions streamcnn_i/rp_streamcnn:rm_{v}_inst_0" in calls
        assert (out / f"streamcnn-{v}.bit").read_bytes() == v.encode() and (out / f"streamcnn-{v}.hwh").read_text() == v
    assert "create_bd_cell -type container -reference rm_mac256 rp_streamcnn" in calls
    # every module shows the accelerator's own pin names, which the shell connects to
    assert "make_bd_intf_pins_external -name prog_in accelerator/prog_in" in calls
    # the partition behind a decoupler the driver controls through a GPIO at 0x41200000
    assert "create_bd_cell -type ip -vlnv xilinx.com:ip:dfx_decoupler:1.0 dfx_decoupler" in calls
    for intf in ("prog_in", "resp_out", "s_axi_control"):
        assert f"connect_bd_intf_net dfx_decoupler/rp_{intf} rp_streamcnn/{intf}" in calls
    assert "connect_bd_intf_net axi_dma_0/M_AXIS_MM2S dfx_decoupler/s_prog_in" in calls
    assert "connect_bd_intf_net dfx_decoupler/s_resp_out axi_dma_0/S_AXIS_S2MM" in calls
    assert "connect_bd_net dfx_decouple/gpio_io_o dfx_decoupler/decouple" in calls
    assert "set_property offset 0x41200000 processing_system7_0/Data/SEG_dfx_decouple_Reg" in calls
    assert "set_property offset 0x43C00000 processing_system7_0/Data/SEG_accelerator_Reg" in calls
    # the container's clock and reset, which the bus automation does not reach through the decoupler
    for kind in ("clk", "rst"):
        assert f"get_bd_pins -quiet -of_objects rp_streamcnn -filter TYPE == {kind}" in calls
    assert any(c.startswith("connect_bd_net processing_system7_0/FCLK_CLK0 ") for c in calls)
    last_validate = max(i for i, c in enumerate(calls) if c == "validate_bd_design")  # the shell's, after every net
    assert last_validate > max(i for i, c in enumerate(calls) if c.startswith("connect_bd_net"))
    assert "CONFIG.ENABLE_DFX true CONFIG.LIST_SYNTH_BD rm_mac256.bd:rm_mac64.bd" in text  # (a Tcl list as text)
    child = [c for c in calls if c.startswith("create_run child_1_impl_1 -parent_run impl_1 -flow ")]
    assert len(child) == 1 and child[0].endswith(" -pr_config config_mac64")  # the parent run's own flow
    assert "launch_runs impl_1 child_1_impl_1 -to_step write_bitstream -jobs 2" in calls
    bd = build / "dfx" / "streamcnn.srcs" / "sources_1" / "bd" / "streamcnn" / "streamcnn.bd"
    assert calls.index(f"make_wrapper -files {bd} -top") < calls.index("launch_runs impl_1 child_1_impl_1 "
                                                                        "-to_step write_bitstream -jobs 2")
    routed = build / "dfx" / "streamcnn.runs"
    assert (f"pr_verify -initial {routed / 'impl_1' / 'streamcnn_wrapper_routed.dcp'} -additional "
            f"{routed / 'child_1_impl_1' / 'streamcnn_wrapper_routed.dcp'} -file {out / 'pr_verify.rpt'}") in calls
    xdc = (build / "dfx" / "pblock.xdc").read_text()
    assert "set_property HD.RECONFIGURABLE true [get_cells streamcnn_i/rp_streamcnn]" in xdc
    assert "resize_pblock [get_pblocks pblock_rp_streamcnn] -add {CLOCKREGION_X0Y1:CLOCKREGION_X1Y2" in xdc
    assert "SNAPPING_MODE ON" in xdc
    assert (out / "streamcnn-shell.bit").read_bytes() == b"shell" and (out / "streamcnn-shell.hwh").exists()
    assert (out / "library.txt").read_text().splitlines() == [
        "partition rp_streamcnn", "variant mac256 streamcnn-mac256.bit", "variant mac64 streamcnn-mac64.bit"]


def test_a_shell_whose_accelerator_has_no_address_segment_is_refused(tmp_path):
    """The driver finds the accelerator at 0x43C00000: a block design where no segment matched
    its pattern stops the build rather than leaving the address to chance."""
    build, out = dfx_build(tmp_path), tmp_path / "library"
    r, calls = dry_run(tmp_path, "dfx.tcl", build, out, 2, "mac256", "mac64",
                       segments="processing_system7_0/Data/SEG_axi_dma_0_Reg processing_system7_0/Data/SEG_dfx_decouple_Reg")
    assert r.returncode == 1 and "no address segment of the PS matches *accelerator* (for 0x43C00000)" in r.stderr
    assert not any(c.startswith("launch_runs") for c in calls)


def test_dfx_script_refuses_a_variant_that_misses_timing_or_has_no_ip(tmp_path):
    build, out = dfx_build(tmp_path), tmp_path / "library"
    r, _ = dry_run(tmp_path, "dfx.tcl", build, out, 2, "mac256", "mac64", wns="-0.1")
    assert r.returncode == 1 and "mac256 misses timing (WNS -0.1 ns" in r.stderr and not (out / "library.txt").exists()
    r, calls = dry_run(tmp_path, "dfx.tcl", build, out, 2, "mac256", "mac128")
    assert r.returncode == 1 and "no HLS IP for mac128" in r.stderr and not any("create_project" in c for c in calls)


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_library_builds_each_variant_then_the_dfx_design():
    r = subprocess.run(["make", "-n", "-C", str(OVERLAY), "library"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for v in ("mac256", "mac64"):
        assert f"vitis_hls -f hls.tcl -tclargs build/{v} csim,csynth {v}" in out
        assert f"vitis_hls -f hls.tcl -tclargs build/{v} export {v}" in out
    assert out.rstrip().splitlines()[-2].endswith("-source dfx.tcl -tclargs build ../bitstreams/library 2 mac256 mac64")


def test_each_configuration_exports_its_own_ip_name(tmp_path):
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "export", "mac64")
    assert r.returncode == 0 and any("export_design" in c and "-ipname streamcnn_top_mac64" in c for c in calls)
    r, calls = dry_run(tmp_path, "hls.tcl", tmp_path, "export")
    assert any("export_design" in c and "-ipname streamcnn_top " in c for c in calls)
    r = subprocess.run(["make", "-n", "-C", str(OVERLAY), "CONFIG=mac64"], capture_output=True, text=True)
    assert "-tclargs build/mac64 ../bitstreams streamcnn-mac64 2 streamcnn_top_mac64" in r.stdout
