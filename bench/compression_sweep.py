#!/usr/bin/env python3
"""Accuracy against bytes streamed: LeNet-5 on MNIST across block sparsities and weight widths.

The hls4ml CNN paper plots accuracy against FPGA resources as pruning and quantization-aware
training shrink a model; a streaming engine pays in bytes over the DMA instead.  This trains
LeNet-5 once in float (as scripts/train_lenet5.py does), then for every sparsity and width
fine-tunes a copy with its weights fake-quantized to that width while magnitude block pruning
(streamcnn.pruning) removes that share of fc1's and fc2's 8x8 blocks (less of conv2's and
fc3's, see LIMITS), quantizes
it, and measures the int8 golden model's accuracy on the 10,000 MNIST test digits and the
program's bytes and modeled latency at batch 1 (streamcnn.cycles, on the shipped 256-MAC
configuration; the simulator gives the same programs as the board).

    python bench/compression_sweep.py --json > bench/results/compression_sweep.json

notebooks/04_compressed_weights.ipynb plots the committed result.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

try:
    import torch
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"the sweep trains models: pip install -e '.[train]' ({e})")

from train_lenet5 import AUGMENTATION, lenet5, mnist_split  # noqa: E402

import streamcnn  # noqa: E402
from streamcnn import compiler, cycles, golden  # noqa: E402
from streamcnn.pruning import BlockPruner  # noqa: E402
from streamcnn.qat import fake_quantize_model  # noqa: E402
from streamcnn.training import accuracy, calibration_sample, deterministic, fit  # noqa: E402

#: The share of each layer's blocks pruned at sparsity level s: fc1 and fc2 (915 of the 992
#: blocks) take s; conv2 (50) at most 0.6 and fc3 (22, the 10 outputs) at most 0.3, as in the
#: shipped model; conv1's 5 blocks are kept.  The measured share of all blocks is reported.
LIMITS = {"3": 0.6, "7": 1.0, "9": 1.0, "11": 0.3}  # conv2, fc1, fc2, fc3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.0, 0.5, 0.75, 0.85, 0.92])
    ap.add_argument("--bits", type=int, nargs="+", default=[8, 4, 2], choices=(8, 4, 2))
    ap.add_argument("--epochs", type=int, default=60, help="float training epochs")
    ap.add_argument("--finetune-epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    start = deterministic(args.seed)

    x_train, y_train, x_test, test_labels = mnist_split()
    caps = streamcnn.open_device("sim").caps

    rows = []
    with contextlib.redirect_stdout(sys.stderr):  # the training's progress: stdout is the result
        base = lenet5()
        fit(base, x_train, y_train, args.epochs, 3e-3, args.seed, AUGMENTATION, log_every=args.epochs)
        calib = calibration_sample(x_train, 1000, args.seed + 1)
        steps = args.finetune_epochs * -(-len(x_train) // 64)
        for bits in args.bits:
            for share in args.sparsity:
                model = copy.deepcopy(base)
                pruner = BlockPruner(model, (1, 32, 32), {n: min(share, most) for n, most in LIMITS.items()},
                                     ramp_steps=int(0.7 * steps))
                qmodel = fake_quantize_model(model, calib, weight_bits=bits)
                fit(qmodel, x_train, y_train, args.finetune_epochs, 1e-3, args.seed + 2, AUGMENTATION,
                    log_every=args.finetune_epochs, step_hook=pruner.step)
                pruner.apply()
                net = streamcnn.from_torch(qmodel.float_model(), calib, name=f"lenet5-{bits}bit-{share}",
                                         weight_bits=bits)
                prog = compiler.compile_network(net, caps, 1)
                modeled = cycles.model(prog, caps)
                weighted = [hw for hw in prog.hw_layers if hw.op.name in ("CONV", "FC")]
                total = sum(hw.blocks_per_group * len(hw.group_blocks) for hw in weighted)
                row = {"weight_bits": bits, "target_sparsity": share,
                       "block_sparsity": round(1 - sum(int(hw.group_blocks.sum()) for hw in weighted) / total, 4),
                       "int8_accuracy": accuracy(golden.run(net, x_test).astype(np.float32), test_labels),
                       "bytes_batch1": modeled["bytes_streamed"], "latency_us_batch1": modeled["latency_us"]}
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    result = {"model": "LeNet-5 (scripts/train_lenet5.py's), MNIST", "test_images": len(test_labels),
              "float_epochs": args.epochs, "finetune_epochs": args.finetune_epochs, "seed": args.seed,
              "torch": torch.__version__, "seconds": round(time.time() - start), "results": rows,
              "command": "python " + " ".join(["bench/compression_sweep.py"] + sys.argv[1:])}
    print(json.dumps(result, indent=1) if args.json else result)


if __name__ == "__main__":
    main()
