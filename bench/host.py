#!/usr/bin/env python3
"""What the host costs per batch, with the accelerator's time taken out.

LeNet-5's answer for each batch size is recorded once from the simulator and replayed by
a device that answers at once (streamcnn.devices.replay), so what remains is the driver's
Python and NumPy: the work a PYNQ-Z2's Cortex-A9 does per batch besides waiting.

Per batch size it prints Python-level function calls per batch (cProfile's count, which
includes NumPy's methods and builtins: the same on every machine), microseconds per batch
(median of many runs: this machine's, not the board's), the bytes the host writes into
the send buffer per batch (the INPUT packet's images and header), and, where pynq is
installed, the AXI-Lite register accesses per batch on the simulated PYNQ-Z2.

    python bench/host.py [--batch 1 4 8] [--runs 3000] [--json]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import time

import numpy as np

import streamcnn
from streamcnn import datasets, models
from streamcnn.devices.replay import ReplayDevice


def measure(sim, net, images, batch: int, runs: int) -> dict:
    x = images[:batch]
    recorded = sim.load(net, batch=batch)
    expected = recorded.run(x)
    replay = ReplayDevice(sim.caps, recorded.last_answer())
    program = replay.load(net, batch=batch)
    if not np.array_equal(program.run(x), expected):
        raise SystemExit(f"batch {batch}: the replayed answer gave other outputs")
    before = replay.transfers
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        program.run(x)
    profile.disable()
    calls = pstats.Stats(profile).total_calls / 100
    transfers = (replay.transfers - before) / 100
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        program.run(x)
        times[i] = time.perf_counter() - start
    path = program._loaded.path
    return {"batch": batch, "calls_per_batch": calls, "dma_transfers_per_batch": transfers,
            "microseconds_per_batch": round(float(np.median(times)) * 1e6, 1),
            "microseconds_per_image": round(float(np.median(times)) * 1e6 / batch, 2),
            "bytes_written_per_batch": int(path._slot.nbytes + 8),  # the images and the INPUT header word
            "answers_parsed": path.parsed}


def register_accesses(net, images, batch: int) -> dict:
    """AXI-Lite reads and writes per batch on the simulated PYNQ-Z2 (tests/board_model.py:
    pynq 4.0.0's own drivers against the board's registers), with an answer that takes 100
    status polls; polling reads counted apart.  Needs pynq (the .venv-pynq of the README)."""
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from board_model import SimulatedPynqZ2, make_overlay

    board, polls = SimulatedPynqZ2(), 100
    bit = make_overlay(Path(tempfile.mkdtemp()))
    device = streamcnn.open_device("pynq", bitfile=str(bit), pynq_device=board, download=False)
    program = device.load(net, batch=batch)
    x = images[:3 * batch]
    program.run(x)
    board.busy_reads = polls
    board.reset_register_counts()
    program.run(x)
    n = program.last.batches
    reads, writes = sum(board.register_reads.values()) / n, sum(board.register_writes.values()) / n
    polling = polls + polls // 32
    return {"writes": writes, "reads": reads - polling, "polling_reads": polling, "polls": polls}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 4, 8], help="batch sizes (default 1 4 8; LeNet-5 fits at most 8)")
    p.add_argument("--runs", type=int, default=3000, help="timed runs per batch size (default 3000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    net = models.load("lenet5-mnist")
    images, _ = datasets.test_set("mnist", net.input_shape)
    sim = streamcnn.open_device("sim")
    rows = [measure(sim, net, images, b, args.runs) for b in args.batch]
    try:
        registers = {"per_batch": register_accesses(net, images, args.batch[0]), "batch": args.batch[0]}
    except ImportError as e:
        registers = {"note": f"needs pynq 4.0.0 ({e.name} missing): run with .venv-pynq/bin/python"}
    report = {"network": "lenet5-mnist", "input": "float32 images", "rows": rows, "axi_lite": registers,
              "machine": f"{platform.machine()}, Python {platform.python_version()}, NumPy {np.__version__}"}
    if args.json:
        print(json.dumps(report))
        return
    print(f"host work per batch, {report['network']}, {report['input']} ({report['machine']})")
    print(f"{'batch':>6} {'calls':>6} {'us/batch':>9} {'us/image':>9} {'bytes written':>14}")
    for r in rows:
        print(f"{r['batch']:>6} {r['calls_per_batch']:>6.0f} {r['microseconds_per_batch']:>9.1f} "
              f"{r['microseconds_per_image']:>9.2f} {r['bytes_written_per_batch']:>14,}")
    regs = registers.get("per_batch")
    if regs:
        print(f"AXI-Lite per batch on the simulated PYNQ-Z2: {regs['writes']:.0f} writes, {regs['reads']:.0f} reads, "
              f"and {regs['polling_reads']} polling reads for an answer that took {regs['polls']} polls")
    else:
        print(f"AXI-Lite accesses: {registers['note']}")


if __name__ == "__main__":
    main()
