#!/usr/bin/env python3
"""Store in each shipped model's metadata what its inputs usually look like, for `streamcnn run`'s
``unusual input`` flag.

For every image of the model's test set (shipped with streamcnn), the features of
``streamcnn.datasets.FEATURES`` (mean intensity, background fraction, mid-grey fraction, edge
ratio) are computed on the image as ``streamcnn run`` would decode it; their 0.1th and 99.9th
percentiles, widened by a tenth of their span on each side, become
``metadata["input_statistics"]["ranges"]``.  The script also records the preprocessing
``streamcnn run`` uses (``metadata["image_preprocessing"]``) and re-saves the model with
``Network.save``: weights, scales and everything else stay as they are.

    python scripts/input_statistics.py            # all shipped models
    python scripts/input_statistics.py --check    # only print, write nothing
"""
from __future__ import annotations

import argparse

import numpy as np

from streamcnn import datasets, models

SPLIT = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}
PREPROCESSING = {"mnist": "mnist-digit", "fashion-mnist": "fashion-mnist"}
LOW, HIGH, MARGIN = 0.1, 99.9, 0.1


def statistics(dataset: str) -> dict:
    images, _ = SPLIT[dataset]("test")
    greys = images.astype(np.float32) / 255.0
    ranges = datasets.feature_ranges(greys, LOW, HIGH, MARGIN)
    return {"source": f"the {len(images):,} {dataset} test images",
            "percentiles": [LOW, HIGH], "margin": MARGIN, "ranges": ranges,
            "command": "python scripts/input_statistics.py"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="print the statistics, write nothing")
    args = p.parse_args()
    for name in models.available():
        path = models.path_of(name)
        net = models.load(path)
        dataset = net.metadata.get("dataset")
        if dataset not in SPLIT:
            print(f"{name}: data set {dataset!r} has no statistics here; skipped")
            continue
        stats = statistics(dataset)
        print(f"{name} ({dataset}): {stats['ranges']}")
        if not args.check:
            net.metadata["image_preprocessing"] = PREPROCESSING[dataset]
            net.metadata["input_statistics"] = stats
            net.save(path)
            print(f"  wrote {path}")


if __name__ == "__main__":
    main()
