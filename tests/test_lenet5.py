"""The main job: the shipped LeNet-5 classifies the 10,000 MNIST test digits on the simulator."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamcnn import datasets, evaluate, models

SAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "mnist" / "samples"


@pytest.fixture(scope="module")
def report(device):
    net = models.load("lenet5-mnist")
    images, labels = datasets.test_set("mnist")
    return evaluate.evaluate(net, device, images, labels)


def test_lenet5_on_all_10000_test_digits(report):
    assert report["images"] == 10000
    assert report["accuracy_device"] >= 0.985
    assert report["accuracy_device"] == report["accuracy_golden"]
    assert report["device_vs_golden_mismatches"] == 0
    assert abs(report["accuracy_golden"] - report["accuracy_float"]) <= 0.003
    assert report["images_per_s"] > 0


def test_shipped_accuracy_is_what_the_engine_measures(report):
    meta = models.load("lenet5-mnist").metadata["accuracy"]
    assert meta["int8"] == pytest.approx(report["accuracy_golden"])
    assert meta["float_path"] == pytest.approx(report["accuracy_float"])


def cli(*args):
    env = dict(os.environ, STREAMCNN_DEVICE="sim")
    return subprocess.run([sys.executable, "-m", "streamcnn", *args], capture_output=True, text=True, env=env)


def test_eval_command_json():
    r = cli("eval", "--model", "lenet5-mnist", "--device", "sim", "--limit", "300", "--batch", "5", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("images", "accuracy_float", "accuracy_golden", "accuracy_device", "device_vs_golden_mismatches",
                "images_per_s"):
        assert key in out
    assert out["images"] == 300 and out["batch"] == 5 and out["device_vs_golden_mismatches"] == 0
    assert out["accuracy_device"] > 0.95


def test_run_command_reads_the_sample_digits():
    files = sorted(SAMPLES.iterdir())
    r = cli("run", "--device", "sim", "--json", *map(str, files))
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    assert len(results) == len(files) >= 10
    for res in results:
        expected = Path(res["image"]).name[len("digit")]
        assert res["prediction"] == expected, res
        assert 0.5 < res["confidence"] <= 1.0
    text = cli("run", "--device", "sim", str(files[0]))
    assert text.returncode == 0 and text.stdout.startswith(str(files[0]) + ": ")


def test_run_names_a_bad_file(tmp_path):
    (tmp_path / "x.png").write_text("nope")
    r = cli("run", "--device", "sim", str(tmp_path / "x.png"))
    assert r.returncode == 1 and "not an image" in r.stderr and "Traceback" not in r.stderr
