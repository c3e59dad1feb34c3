#!/usr/bin/env python3
"""Images per second of the simulator (and the golden model) on a LeNet-5-shaped network.

One process, one core (the simulator is single-threaded), random weights and
images, outputs checked bit for bit against the golden model.  Prints JSON.

    python bench/sim_throughput.py [--images 4096] [--repeats 5] [--batch B]
"""
import argparse
import json
import platform
import time

import numpy as np

import streamcnn
from streamcnn import golden, zoo


def best_rate(fn, n_images: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return n_images / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=None, help="images per DMA transfer (default: as many as fit)")
    args = ap.parse_args()

    net = zoo.lenet5(0)
    x = np.random.default_rng(0).uniform(-1, 1, (args.images,) + net.input_shape).astype(np.float32)
    device = streamcnn.open_device("sim")
    prog = device.load(net, batch=args.batch)
    out = prog.run(x)
    exact = bool(np.array_equal(out, golden.run(net, x)))
    report = {
        "network": "LeNet-5 (1x32x32, random weights)",
        "images": args.images,
        "batch": prog.batch,
        "bit_exact": exact,
        "sim_images_per_s": round(best_rate(lambda: prog.run(x), args.images, args.repeats)),
        "sim_batch1_images_per_s": round(best_rate(lambda: device.load(net, batch=1).run(x[:512]), 512, args.repeats)),
        "golden_images_per_s": round(best_rate(lambda: golden.run(net, x), args.images, args.repeats)),
        "bytes_per_transfer": prog.compiled.nbytes,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
