"""The command line: info and smoke-test, as JSON, with exit statuses."""
import json
import os
import subprocess
import sys

import numpy as np

from streamcnn import cli, golden
from streamcnn import protocol as P

HW = ".".join(map(str, P.HW_VERSION))


def run(*args):
    env = dict(os.environ, STREAMCNN_DEVICE="sim")
    return subprocess.run([sys.executable, "-m", "streamcnn", *args], capture_output=True, text=True, env=env)


def test_info_json():
    r = run("info", "--device", "sim", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["device"] == "sim" and info["hw_version"] == HW and info["format_version"] == P.FORMAT_VERSION
    assert info["macs_per_cycle"] == 256 and info["pixels"] == 4 and info["config"] == "mac256"
    assert info["max_kernel"] == 7
    r = run("info", "--device", "sim", "--config", "mac64", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["macs_per_cycle"] == 64 and info["pixels"] == 1 and info["config"] == "mac64"


def test_smoke_test_json():
    r = run("smoke-test", "--device", "sim", "--random", "6", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["topologies"], report["mismatches"], report["ok"]) == (6, 0, True)
    assert report["capabilities"]["hw_version"] == HW
    lenet = report["lenet5"]
    assert lenet["images"] == 100 and lenet["mismatches"] == 0 and lenet["accuracy"] > 0.95
    assert lenet["latency_ms"] > 0 and lenet["images_per_s"] > 0


def test_smoke_test_fails_on_a_mismatch(monkeypatch, capsys):
    real = golden.run
    monkeypatch.setattr(golden, "run", lambda net, x, **kw: real(net, x, **kw) ^ np.int8(1))
    status = cli.main(["smoke-test", "--device", "sim", "--random", "2", "--lenet", "0", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1 and report["mismatches"] == 2 and not report["ok"]


def test_text_output_and_help():
    r = run("smoke-test", "--device", "sim", "--random", "2", "--lenet", "10")
    assert r.returncode == 0, r.stderr
    assert "2 random topologies: 0 mismatches" in r.stdout and "LeNet-5 on 10 MNIST digits: 0 mismatches" in r.stdout
    assert r.stdout.rstrip().endswith("OK")
    r = run("--help")
    assert "smoke-test" in r.stdout and "info" in r.stdout


def test_board_device_without_pynq_or_bitstream_is_a_clear_error():
    r = run("info", "--device", "pynq")
    assert r.returncode == 1 and "streamcnn: error:" in r.stderr
    assert "pynq package" in r.stderr or "no bitstream at" in r.stderr


def test_board_options_that_contradict_each_other_are_named(capsys, tmp_path):
    """--bitfile (one overlay), --library (a library of them) and --config (the simulator's):
    one at a time, and only with the device they are for."""
    import importlib.util

    cases = [
        (["--bitfile", "a.bit", "--library", "lib"], "--bitfile names one overlay and --library a library"),
        (["--library", "lib", "--config", "mac64"], "--config is for the simulator and --library for the pynq"),
        (["--library", "lib", "--device", "sim"], "--library is for the pynq device; the simulator has no bitstream"),
        (["--config", "mac64", "--device", "pynq"], "the bitstream (--bitfile or --library) decides"),
    ]
    for extra, message in cases:
        assert cli.main(["info", *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith("streamcnn: error: ") and message in err, err
    assert cli.main(["info", "--library", str(tmp_path), "--device", "pynq"]) == 1
    err = capsys.readouterr().err
    wanted = f"no accelerator library in {tmp_path}" if importlib.util.find_spec("pynq") else "needs the pynq package"
    assert wanted in err, err
