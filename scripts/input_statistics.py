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
    python scripts/input_statistics.py --flagged  # how much of each test set each model flags
"""
from __future__ import annotations

import argparse

from streamcnn import datasets, models


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="print the statistics, write nothing")
    p.add_argument("--flagged", action="store_true",
                   help="print the fraction of each shipped test set each model flags as unusual; write nothing")
    args = p.parse_args()
    if args.flagged:
        loaders = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}
        for name in models.available():
            stats = models.load(name).metadata.get("input_statistics")
            for dataset, load in loaders.items():
                greys = load("test")[0].astype("float32") / 255
                share = sum(bool(datasets.unusual_input(datasets.input_features(g), stats)) for g in greys) / len(greys)
                print(f"{name}: {100 * share:.2f}% of the {dataset} test images flagged as unusual")
        return
    for name in models.available():
        path = models.path_of(name)
        net = models.load(path)
        dataset = net.metadata.get("dataset")
        described = datasets.describe_inputs(net.metadata)
        if "input_statistics" not in described:
            print(f"{name}: data set {dataset!r} has no statistics here; skipped")
            continue
        print(f"{name} ({dataset}): {described['input_statistics']['ranges']}")
        if not args.check:
            net.metadata = described
            net.save(path)
            print(f"  wrote {path}")


if __name__ == "__main__":
    main()
