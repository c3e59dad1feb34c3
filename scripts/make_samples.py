#!/usr/bin/env python3
"""Write datasets/mnist/samples/: MNIST test digits as image files to try `streamcnn run` on.

One digit per class as it is in MNIST (28 x 28, white on black, PNG), and a few
variants that exercise the preprocessing: dark on light, enlarged, RGB JPEG,
transparent background.  The digits are MNIST's (CC BY-SA 3.0, see
datasets/mnist/README.md).
"""
from pathlib import Path

import numpy as np
from PIL import Image

from streamcnn import datasets

OUT = Path(__file__).resolve().parent.parent / "datasets" / "mnist" / "samples"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    digits, labels = datasets.load_mnist("test")
    first = {int(k): int(np.argmax(labels == k)) for k in range(10)}
    for k, i in first.items():
        Image.fromarray(digits[i]).save(OUT / f"digit{k}-mnist{i}.png")
    seven, two, nine = digits[first[7]], digits[first[2]], digits[first[9]]
    Image.fromarray(255 - seven).resize((140, 140), Image.BILINEAR).save(OUT / "digit7-dark-on-light-large.png")
    rgb = np.stack([255 - two, 255 - two // 2, 255 - two // 3], -1).astype(np.uint8)
    Image.fromarray(rgb).resize((64, 80), Image.BILINEAR).save(OUT / "digit2-rgb.jpg", quality=90)
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = nine  # black ink, transparent paper
    Image.fromarray(rgba, "RGBA").save(OUT / "digit9-transparent.png")
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT}")


if __name__ == "__main__":
    main()
