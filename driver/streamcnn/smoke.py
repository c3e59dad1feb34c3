"""The smoke test: what a device must get right, compared bit for bit with the golden model.

1. its capabilities record;
2. random LeNet-like topologies: topology ``i`` of seed ``s`` is drawn from
   ``numpy.random.default_rng([s, i])``, so any failure can be replayed alone
   (``streamcnn smoke-test --seed s --only i``); on an accelerator library, on every variant;
3. the shipped LeNet-5 on MNIST test digits: bit-exact outputs, accuracy,
   latency of one inference (batch 1) and images per second (default batch).
"""
from __future__ import annotations

import time
from typing import Callable, Iterable, Optional

import numpy as np

from . import golden, zoo
from .devices import Device
from .errors import StreamCNNError
from .evaluate import check_count


def topology(seed: int, index: int, device: Device):
    """(network, batch, images) of topology ``index`` for ``seed``."""
    rng = np.random.default_rng([seed, index])
    batch = int(rng.integers(1, 5))
    net = zoo.random_network(rng, device.caps, batch, name=f"random-{seed}-{index}")
    # 2 batches and one image more: the last batch is padded
    images = rng.uniform(-1, 1, (2 * batch + 1,) + net.input_shape).astype(np.float32)
    return net, batch, images


def run(device: Device, count: int, seed: int = 1, only: Optional[Iterable[int]] = None,
        progress: Optional[Callable] = None, variant: Optional[str] = None) -> dict:
    """Run ``count`` random topologies (or just ``only``); return the report.  On a device with
    an accelerator library, ``variant`` runs them all on that variant (drawn within its maxima)."""
    check_count("count", count, minimum=0)
    check_count("seed", seed, minimum=0)
    if only is not None:
        only = list(only)
        for i in only:
            check_count("topology index", i, minimum=0)
    indices = only if only is not None else list(range(count))
    load_options = {}
    if variant is not None:
        if not hasattr(device, "swap"):
            raise StreamCNNError(f"the {device.name} device has no accelerator library to pick variant {variant!r} from")
        device.swap(variant)  # the topologies are drawn within its capabilities
        load_options["variant"] = variant
    failures = []
    start = time.perf_counter()
    for i in (progress(indices) if progress else indices):
        net, batch, images = topology(seed, i, device)
        try:
            out = device.load(net, batch=batch, **load_options).run(images)
        except StreamCNNError as e:
            failures.append({"index": i, "error": f"{type(e).__name__}: {e}", "network": net.summary()})
            continue
        expected = golden.run(net, images)
        if not np.array_equal(out, expected):
            failures.append({"index": i, "error": f"{int((out != expected).sum())} of {out.size} outputs differ "
                                                  f"from the golden model", "network": net.summary()})
    mismatches = len(failures)
    return {
        "device": device.name,
        "seed": seed,
        "topologies": len(indices),
        "mismatches": mismatches,
        "ok": mismatches == 0,
        "seconds": round(time.perf_counter() - start, 3),
        "failures": failures,
    }


def run_every_variant(device: Device, count: int, seed: int = 1, only: Optional[Iterable[int]] = None,
                      progress: Optional[Callable] = None) -> dict:
    """:func:`run` on each variant of a device's accelerator library in turn (each swapped in,
    the same seeds); the report sums them and adds ``variants`` ({name: topologies, mismatches,
    seconds}).  A variant that cannot be swapped in is a failure (``index`` None) and the others
    are still tested; every failure names its ``variant``."""
    parts = {}
    for v in device.library.variants:
        try:
            parts[v.name] = run(device, count, seed, only=only, progress=progress, variant=v.name)
        except StreamCNNError as e:
            parts[v.name] = {"device": device.name, "seed": seed, "topologies": 0, "mismatches": 1, "ok": False,
                             "seconds": 0.0, "failures": [{"index": None, "error": f"{type(e).__name__}: {e}",
                                                           "network": ""}]}
    return {"device": device.name, "seed": seed,
            "topologies": sum(r["topologies"] for r in parts.values()),
            "mismatches": sum(r["mismatches"] for r in parts.values()),
            "ok": all(r["ok"] for r in parts.values()),
            "seconds": round(sum(r["seconds"] for r in parts.values()), 3),
            "failures": [dict(f, variant=name) for name, r in parts.items() for f in r["failures"]],
            "variants": {name: {k: r[k] for k in ("topologies", "mismatches", "seconds")} for name, r in parts.items()}}


def lenet5(device: Device, count: int = 100, latency_runs: int = 20) -> dict:
    """The shipped LeNet-5 on the first ``count`` (at least 1; at most all 10,000) MNIST test digits."""
    from . import datasets, models

    check_count("count", count)
    check_count("latency_runs", latency_runs)
    net = models.load("lenet5-mnist")
    images, labels = datasets.test_set("mnist")
    images, labels = images[:count], labels[:count]  # all 10,000 if count is larger
    count = len(images)
    program = device.load(net)
    start = time.perf_counter()
    out = program.run(images)
    seconds = time.perf_counter() - start
    single = device.load(net, batch=1)
    single.run(images[0])  # warm up
    times = []
    for image in images[:latency_runs]:
        t = time.perf_counter()
        single.run(image)
        times.append(time.perf_counter() - t)
    mismatches = int(np.any(out != golden.run(net, images), axis=1).sum())
    return {
        "images": count,
        "mismatches": mismatches,
        "accuracy": round(float((out.argmax(1) == labels).mean()), 4),
        "latency_ms": round(1000 * float(np.median(times)), 3),
        "images_per_s": round(count / seconds, 1),
        "batch": program.batch,
    }
