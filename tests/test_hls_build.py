"""hls_src/ is plain, warning-free C++ for g++ (the HLS pragmas are Vitis HLS's)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HLS = Path(__file__).resolve().parent.parent / "hls_src"
CXX = shutil.which("g++")
#: What Vitis HLS synthesizes: streamcnn.cpp and the headers it includes (not the shim, not the testbench).
KERNEL = [HLS / "streamcnn.cpp", *sorted(HLS.glob("*.h")), *sorted(HLS.glob("config/*.h"))]
#: The compiler flags of each accelerator configuration (hls_src/config/).
CONFIG_FLAGS = {"mac256": [], "mac64": ["-DSCNN_CONFIG_MAC64"]}


def kernel_text() -> str:
    return "".join(p.read_text() for p in KERNEL)
pytestmark = pytest.mark.skipif(CXX is None, reason="g++ not installed")


def test_every_configuration_is_tested():
    from streamcnn import protocol

    assert sorted(CONFIG_FLAGS) == sorted(protocol.CONFIGS) == sorted(p.stem for p in HLS.glob("config/*.h"))


@pytest.mark.parametrize("config", CONFIG_FLAGS)
@pytest.mark.parametrize("source", ["streamcnn.cpp", "host_shim/sim_bridge.cpp", "tb/streamcnn_tb.cpp"])
def test_compiles_without_warnings(tmp_path, source, config):
    r = subprocess.run([CXX, "-std=c++14", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-Wno-unknown-pragmas",
                        *CONFIG_FLAGS[config],
                        f"-I{HLS}", f"-I{HLS / 'host_shim'}", "-c", str(HLS / source), "-o", str(tmp_path / "x.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_kernel_is_synthesizable_style():
    """No heap, no STL containers, no host I/O in the accelerator itself."""
    text = kernel_text()
    for banned in (r"\bnew\b", r"\bmalloc\b", r"std::", r"#include <(vector|deque|map|string)>", r"printf",
                   r"(?<!static_)assert\("):
        assert not re.search(banned, text), banned


@pytest.mark.parametrize("config", CONFIG_FLAGS)
def test_testbench_passes_on_golden_checked_vectors(tmp_path, config):
    import sys

    subprocess.run([sys.executable, str(HLS / "tb" / "make_vectors.py"), str(tmp_path / "vectors"), config], check=True,
                   capture_output=True)
    tb = tmp_path / "tb"
    subprocess.run([CXX, "-std=c++14", "-O2", *CONFIG_FLAGS[config], f"-I{HLS}", f"-I{HLS / 'host_shim'}",
                    str(HLS / "tb" / "streamcnn_tb.cpp"),
                    str(HLS / "streamcnn.cpp"), "-o", str(tb)], check=True)
    r = subprocess.run([str(tb), str(tmp_path / "vectors")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert "8 passed, 0 failed" in r.stdout and "PASS lenet5_crc_error" in r.stdout and "PASS lenet5_compressed" in r.stdout
    # co-simulation's small set, each also in the full set
    cosim = sorted(p.name for p in (tmp_path / "vectors" / "cosim").iterdir())
    assert cosim == sorted(f"{n}.{d}.bin" for n in ("caps", "truncated", "lenet5_crc_error", "lenet5", "lenet5_batch3",
                                                    "lenet5_compressed") for d in ("in", "out"))
    assert all((tmp_path / "vectors" / "cosim" / n).read_bytes() == (tmp_path / "vectors" / n).read_bytes() for n in cosim)
    r = subprocess.run([str(tb), str(tmp_path / "vectors" / "cosim")], capture_output=True, text=True)
    assert r.returncode == 0 and "6 passed, 0 failed" in r.stdout, r.stdout
    # the shifts and reciprocal multiplies that replace dividers, checked over every value they can get
    assert "ok: constant divisions, 298485 values, 0 wrong" in r.stdout
    # the packed multiply of the 256-MAC array, over every weight and pair of activations
    assert "ok: packed multiply, 16777216 weight x activation pairs, 0 wrong products" in r.stdout
    # the weight stream's widening, popcount and priority encoder
    assert "ok: weight stream decoding, 3211328 values, 0 wrong" in r.stdout


SHIM_PROBE = r"""
#include <cstdio>
#include <hls_stream.h>
int main() {
    unsigned long faults[4];
    { hls::stream<int, 4> fifo("fifo"); fifo.write(1); fifo.read(); }        /* clean */
    faults[0] = hls::shim::internal_faults();
    { hls::stream<int, 4> fifo("fifo"); fifo.write(1); }                     /* left holding a word */
    faults[1] = hls::shim::internal_faults();
    { hls::stream<int, 4> fifo("fifo"); fifo.read(); }                       /* read while empty */
    faults[2] = hls::shim::internal_faults();
    { hls::stream<int> port; port.write(1); port.read(); port.read(); }      /* unnamed: a top-level port */
    faults[3] = hls::shim::internal_faults();
    std::printf("%lu %lu %lu %lu\n", faults[0], faults[1], faults[2], faults[3]);
}
"""


def test_shim_reports_internal_fifo_faults(tmp_path):
    """The simulator's check that decode and execute agree on every FIFO word rests on this."""
    (tmp_path / "probe.cpp").write_text(SHIM_PROBE)
    subprocess.run([CXX, "-std=c++14", f"-I{HLS / 'host_shim'}", str(tmp_path / "probe.cpp"), "-o",
                    str(tmp_path / "probe")], check=True)
    out = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["0", "1", "2", "2"]


def test_design_fifos_are_named_so_the_simulator_checks_them():
    text = kernel_text()
    declared = re.findall(r"^\s*(\w+_fifo_t) (\w+)(\(\"\w+\"\))?;", text, re.M)
    assert {name for _, name, _ in declared} == {"cmds", "entries"}
    assert all(named for _, _, named in declared)
