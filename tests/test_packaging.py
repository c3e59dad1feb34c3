"""A regular (non-editable) install: the files the package reads at run time travel inside it."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_regular_install_carries_what_the_package_reads(tmp_path):
    build = tmp_path / "lib"
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(build)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    package = build / "streamcnn"
    for relative in ("_hls_src/streamcnn.cpp", "_hls_src/config/mac64.h", "_hls_src/host_shim/hls_stream.h",
                     "_notebooks/01_lenet5_mnist.ipynb", "_bench/results/cluster.json",
                     "_bench/results/compression_sweep.json", "_datasets/mnist/README.md",
                     "model_files/lenet5-mnist.scnn"):
        assert (package / relative).is_file(), relative
    # imported from there (no checkout around it), the package finds its own copies
    probe = ("import streamcnn._resources as r; from streamcnn.plots import bench_result; "
             "print(r.bench_results_dir()); print(r.notebooks_dir()); print(len(bench_result('cluster')))")
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(build), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"})
    assert r.returncode == 0, r.stderr
    results, notebooks, keys = r.stdout.split()
    assert Path(results) == package / "_bench" / "results" and Path(notebooks) == package / "_notebooks"
    assert int(keys) > 0
