#!/usr/bin/env python3
"""Images/s of a Dask cluster of 1, 2 and 4 boards, data-parallel and pipelined, and the
cluster's own cost per chunk.

On one 2-core machine, simulator workers would compete for the CPU, so the workers here run
the *modeled* device (streamcnn.devices.replay.ModeledDevice): each program's first batch runs
on the simulator, and every later transfer takes the cycle model's board latency of one batch
and replays that answer.  The time measured is the board's (as modeled) plus everything real
around it: the worker's host path, Dask's scheduling, serialization and transfers between
processes.  The images are quantized once beforehand (int8 crosses the cluster either way).

    python bench/cluster.py --json > bench/results/cluster.json

Workers are local processes on loopback; boards on a LAN add the network's time per chunk
(a 300-image LeNet-5 chunk is 300 KB: about 2.5 ms at 1 Gbit/s).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "driver"))

import streamcnn  # noqa: E402
from streamcnn import cluster, datasets, models, partition  # noqa: E402


def timed(run, repeats: int) -> float:
    """The median seconds of ``repeats`` calls of ``run`` (after one warm-up call)."""
    run()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="lenet5-mnist")
    ap.add_argument("--images", type=int, default=80_000, help="images a run (the test set repeated)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--chunk", type=int, default=None, help="images a Dask task (default: the cluster's choice)")
    ap.add_argument("--stages", type=int, default=2, help="pipeline stages (each with workers / stages boards)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each configuration")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    started = time.perf_counter()

    net = models.load(args.model)
    x, _ = datasets.test_set(net.metadata.get("dataset", "mnist"), net.input_shape)
    x = net.quantize_input(np.resize(x, (args.images,) + x.shape[1:]))
    with streamcnn.open_device("modeled") as board:
        local = board.load(net)
        one_board = len(x) / timed(lambda: local.run(x), args.repeats)
        modeled = partition.seconds_per_image(net, board.caps)

    # The one-worker cluster stays up while each larger one runs, and their runs take turns
    # (one, n, one, n, ...), so a speedup is the ratio of two runs made side by side (this
    # machine's speed drifts); the median ratio is quoted, with its range.
    runs: dict = {}  # (kind, workers) -> program
    rates: dict = {}  # (kind, workers) -> images/s of each run
    ratios: dict = {}  # (kind, workers) -> each run's images/s over the one-worker run beside it
    base = min(args.workers)

    def measure(key, program, reference=None) -> None:
        program.run(x)  # warm-up: every worker records its answers
        rates[key], ratios[key] = [], []
        for _ in range(args.repeats):
            if reference is not None:
                t = time.perf_counter()
                reference.run(x)
                rates[("data_parallel", base)].append(len(x) / (time.perf_counter() - t))
            t = time.perf_counter()
            program.run(x)
            rates[key].append(len(x) / (time.perf_counter() - t))
            ratios[key].append(rates[key][-1] / rates[("data_parallel", base)][-1] if reference is not None else 1.0)

    with cluster.local(base, device="modeled") as c1:
        one = runs["data_parallel", base] = c1.load(net, chunk=args.chunk)
        measure(("data_parallel", base), one)
        with streamcnn.open_device("modeled") as board:  # the cluster's cost a chunk, on one worker
            alone = board.load(net)
            per_chunk = timed(lambda: alone.run(x[:one.chunk_for(len(x))]), args.repeats)
        overhead = len(x) / statistics.median(rates["data_parallel", base]) / one.last.chunks - per_chunk
        for n in args.workers:
            with cluster.local(n, device="modeled") as c:
                if n != base:
                    runs["data_parallel", n] = c.load(net, chunk=args.chunk)
                    measure(("data_parallel", n), runs["data_parallel", n], one)
                if n >= args.stages:
                    runs["pipelined", n] = c.load(net, chunk=args.chunk, stages=args.stages)
                    measure(("pipelined", n), runs["pipelined", n], one)

    rows = {"data_parallel": [], "pipelined": []}
    for (kind, n), program in runs.items():
        row = {"workers": n, "images_per_s": round(statistics.median(rates[kind, n]), 1),
               "speedup": round(statistics.median(ratios[kind, n]), 2),
               "speedup_range": [round(min(ratios[kind, n]), 2), round(max(ratios[kind, n]), 2)],
               "chunk_images": program.chunk_for(len(x)), "images_per_worker": program.last.images_per_worker}
        if kind == "pipelined":
            row.update(stages=args.stages, cuts=program.plan.cuts,
                       modeled_images_per_s=round(n // args.stages * program.plan.images_per_second, 1))
        rows[kind].append(row)
        print(f"{kind.replace('_', '-')}, {n} workers: {row['images_per_s']:.0f} images/s, {row['speedup']}x",
              file=sys.stderr)
    result = {
        "model": net.name, "images": len(x), "batch": local.batch,
        "device": "modeled (cycle-model latency, replayed answers), workers on loopback",
        "one_board_in_process_images_per_s": round(one_board, 1),
        "modeled_board_images_per_s": round(1 / modeled, 1),
        "repeats": args.repeats, **rows,
        "cluster_overhead_ms_per_chunk": round(1e3 * overhead, 2) if overhead is not None else None,
        "streamcnn": streamcnn.__version__,
        "command": "python " + " ".join(["bench/cluster.py"] + sys.argv[1:]),
        "seconds": round(time.perf_counter() - started),
    }
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
