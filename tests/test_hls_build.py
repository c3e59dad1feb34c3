"""hls_src/ is plain, warning-free C++ for g++ (the HLS pragmas are Vitis HLS's)."""
import re
import shutil
import subprocess
from pathlib import Path

import pytest

HLS = Path(__file__).resolve().parent.parent / "hls_src"
CXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(CXX is None, reason="g++ not installed")


@pytest.mark.parametrize("source", ["streamcnn.cpp", "host_shim/sim_bridge.cpp", "tb/streamcnn_tb.cpp"])
def test_compiles_without_warnings(tmp_path, source):
    r = subprocess.run([CXX, "-std=c++14", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-Wno-unknown-pragmas",
                        f"-I{HLS}", f"-I{HLS / 'host_shim'}", "-c", str(HLS / source), "-o", str(tmp_path / "x.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_kernel_is_synthesizable_style():
    """No heap, no STL containers, no host I/O in the accelerator itself."""
    text = (HLS / "streamcnn.cpp").read_text() + (HLS / "streamcnn.h").read_text()
    for banned in (r"\bnew\b", r"\bmalloc\b", r"std::", r"#include <(vector|deque|map|string)>", r"printf",
                   r"(?<!static_)assert\("):
        assert not re.search(banned, text), banned


def test_testbench_passes_on_golden_checked_vectors(tmp_path):
    import sys

    subprocess.run([sys.executable, str(HLS / "tb" / "make_vectors.py"), str(tmp_path / "vectors")], check=True,
                   capture_output=True)
    tb = tmp_path / "tb"
    subprocess.run([CXX, "-std=c++14", "-O2", f"-I{HLS}", f"-I{HLS / 'host_shim'}", str(HLS / "tb" / "streamcnn_tb.cpp"),
                    str(HLS / "streamcnn.cpp"), "-o", str(tb)], check=True)
    r = subprocess.run([str(tb), str(tmp_path / "vectors")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert "6 passed, 0 failed" in r.stdout and "PASS lenet5_crc_error" in r.stdout
