"""The cycle model: its loop counts are the accelerator's own counters; bounds and totals add up."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamcnn import cycles, models, smoke


@pytest.mark.parametrize("index", range(12))
def test_modeled_iterations_are_the_accelerators_counters(device, index):
    net, batch, images = smoke.topology(7, index, device)
    program = device.load(net, batch=batch)
    program.run(images[:batch])
    modeled = cycles.model(program.compiled, device.caps)
    assert [row["iterations"] for row in modeled["layers"]] == [c.iterations for c in program.last.counters]
    assert [row["stream_words"] for row in modeled["layers"]] == [c.words for c in program.last.counters]


def test_lenet5_model_and_bounds(device):
    net = models.load("lenet5-mnist")
    m = cycles.model(device.load(net, batch=1).compiled, device.caps)
    assert m["macs"] == 6 * 28 * 28 * 25 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert m["compute_bound_us"] == pytest.approx(m["macs"] / device.caps.macs_per_cycle / 100, rel=1e-3)
    assert m["dma_bound_us"] == pytest.approx(m["bytes_streamed"] / 800, rel=1e-3)
    assert m["cycles"] > sum(row["cycles"] for row in m["layers"])  # plus outputs and the trailer
    # no faster than either process alone: decode reading every word, execute's own loops
    assert m["cycles"] > m["decode_cycles"]
    assert m["cycles"] > sum(row["copy_cycles"] + row["compute_cycles"] for row in m["layers"])
    # issue 6: batch-1 latency within 1.3x of the larger bound (the FC weights, 85% of the bytes,
    # stream into the prefetch FIFO while the convolutions compute)
    assert 1 <= m["ratio_to_bound"] <= 1.3
    m8 = cycles.model(device.load(net, batch=8).compiled, device.caps)
    assert m8["images_per_s"] > m["images_per_s"]  # weights streamed once per batch


def test_prefetch_is_what_hides_the_weight_stream(device):
    """With a prefetch FIFO of one tile, the FC weights can no longer arrive during the
    convolutions, and execute waits for them (on the 64-MAC array, where the convolutions take
    long enough to hide most of the stream; on 256 MACs batch 1 is DMA-bound either way)."""
    import dataclasses

    program = device.load(models.load("lenet5-mnist"), batch=1).compiled
    mac64 = dataclasses.replace(device.caps, pixels=1)
    full = cycles.model(program, mac64)
    one_tile = cycles.model(program, dataclasses.replace(mac64, prefetch_entries=576))
    assert one_tile["execute_wait_cycles"] > full["execute_wait_cycles"] + 2000
    assert one_tile["cycles"] > full["cycles"] + 2000


def test_fifo_depths_are_the_accelerators():
    text = (Path(__file__).resolve().parent.parent / "hls_src" / "streamcnn_types.h").read_text()
    depth = {m[0]: int(m[1]) for m in re.findall(r"const unsigned (\w+_FIFO_DEPTH) = (\d+);", text)}
    assert depth == {"CMD_FIFO_DEPTH": cycles.COMMAND_FIFO}


def test_bench_command():
    r = subprocess.run([sys.executable, "-m", "streamcnn", "bench", "--device", "sim", "--batch", "1", "--batch", "4",
                        "--images", "64", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert [m["batch"] for m in report["modeled"]] == [1, 4]
    assert report["measured"][1]["images_per_s"] > 0
    assert len(report["modeled"][0]["layers"]) == 8
    text = subprocess.run([sys.executable, "-m", "streamcnn", "bench", "--device", "sim", "--batch", "1"],
                          capture_output=True, text=True).stdout
    assert "the larger bound" in text and "7-linear" in text


def test_peers_benchmark_runs_and_reports_one_transfer_per_batch():
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "peers.py"
    r = subprocess.run([sys.executable, str(script), "--images", "64", "--repeats", "1"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["bit_exact"]
    assert {"streamcnn_sim", "streamcnn_golden", "numpy_float"} <= set(report["images_per_s"])
    if "pytorch_cpu" in report["images_per_s"]:
        assert "same outputs as numpy_float: True" in report["notes"]["pytorch_cpu"]


def test_every_pipelined_loop_is_in_the_model():
    """The overlay build checks cycles.PIPELINES against Vitis HLS's report: a pipelined loop
    missing from it would escape the check, so the C++ must have exactly these, with these IIs."""
    hls = Path(__file__).resolve().parent.parent / "hls_src"
    text = "".join(p.read_text() for p in [hls / "streamcnn.cpp", *sorted(hls.glob("*.h"))])
    found = {m[0]: int(m[1]) for m in re.findall(
        r"^(\w+):\n\s*for \(.*\n(?:#pragma HLS (?!PIPELINE).*\n)*#pragma HLS PIPELINE II = (\d+)", text, re.M)}
    assert found == {p.label: p.ii for p in cycles.PIPELINES}


@pytest.mark.parametrize("doc", ["performance.md", "resources.md"])
def test_docs_show_the_pipeline_table(doc):
    text = (Path(__file__).resolve().parent.parent / "docs" / doc).read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \|", text, re.M)
    assert rows == [(p.label, str(p.ii), str(p.max_depth)) for p in cycles.PIPELINES]
