#!/usr/bin/env python3
"""Train a small CNN on Fashion-MNIST and ship it as streamcnn's ``fashion-cnn`` model.

28 x 28 input, conv 3x3 (padding 1) -> 16, max pool 2, conv 3x3 -> 32, max pool 2,
dense 128, 10, ReLU activations: a different topology from LeNet-5, for the
runtime topology swap.  Trained on the 60,000 training images of Debian's
dataset-fashion-mnist package, with small shifts; post-training int8
quantization; evaluated on the 10,000 test images streamcnn ships.

    apt-get install dataset-fashion-mnist && pip install -e ".[train]"
    python scripts/train_fashion_mnist.py        # writes driver/streamcnn/model_files/fashion-cnn.scnn
"""
from __future__ import annotations

from pathlib import Path

try:
    import torch
    import torch.nn as nn
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"training needs PyTorch: pip install -e '.[train]' ({e})")

from streamcnn import datasets
from streamcnn.training import arguments, calibration_sample, deterministic, fit, ship

OUT = Path(__file__).resolve().parent.parent / "driver" / "streamcnn" / "model_files" / "fashion-cnn.scnn"


def fashion_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 6 * 6, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def main() -> None:
    args = arguments(__doc__.splitlines()[0], epochs=8, calibration=2000, out=OUT).parse_args()
    start = deterministic(args.seed)
    images, labels = datasets.load_fashion_mnist("train")
    x_train = torch.tensor(datasets.fashion_images(images))
    y_train = torch.tensor(labels, dtype=torch.long)
    x_test, y_test = datasets.test_set("fashion-mnist")

    model = fashion_cnn()
    fit(model, x_train, y_train, args.epochs, args.lr, args.seed, {"rotate_deg": 0, "scale": 0, "shift_px": 1},
        batch=128, log_every=1)
    calib = calibration_sample(x_train, args.calibration, args.seed + 1)
    ship(model, calib, x_test, y_test, name="fashion-cnn", out=args.out, started=start, metadata={
        "description": "a small CNN for Fashion-MNIST clothing images, int8, per-channel weight scales",
        "dataset": "fashion-mnist",
        "labels": datasets.FASHION_MNIST_LABELS,
        "preprocessing": "28x28 grayscale in [0, 1]",
        "training": {"data": "60,000 Fashion-MNIST training images (Debian dataset-fashion-mnist), 1 px shifts",
                     "epochs": args.epochs, "seed": args.seed, "quantization": "post-training quantization",
                     "calibration_images": args.calibration, "torch": torch.__version__,
                     "command": "python scripts/train_fashion_mnist.py"},
        "license": "weights: Apache-2.0; trained on Fashion-MNIST (Zalando SE), MIT",
    })


if __name__ == "__main__":
    main()
