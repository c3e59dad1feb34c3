"""Training helpers for the shipped models (needs PyTorch): augmentation, a training
loop, and shipping a trained model as an int8 streamcnn model file.

Used by scripts/train_lenet5.py and scripts/train_fashion_mnist.py; deterministic for
a given seed, PyTorch version and machine.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    raise ImportError("training needs PyTorch: pip install 'streamcnn[train]'") from None

from . import datasets, golden
from .importers import from_torch
from .network import Network


def arguments(description: str, *, epochs: int, calibration: int, out: Path) -> argparse.ArgumentParser:
    """The options every training script takes (add more to the parser it returns)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibration", type=int, default=calibration, help="training images that set the scales")
    ap.add_argument("--out", type=Path, default=out)
    return ap


def deterministic(seed: int) -> float:
    """Seed PyTorch, fix the threads, refuse nondeterministic kernels; return the start time."""
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    return time.time()


def calibration_sample(x: torch.Tensor, count: int, seed: int) -> np.ndarray:
    """``count`` training images, drawn with their own seed, as the calibration set."""
    return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:count]].numpy()


def augment(x: torch.Tensor, gen: torch.Generator, rotate_deg: float = 10, scale: float = 0.1,
            shift_px: float = 2) -> torch.Tensor:
    """Random rotation (+-rotate_deg), scaling (1 +- scale) and shift (+-shift_px) per image."""
    n, size = x.shape[0], x.shape[-1]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(rotate_deg)
    zoom = 1 + (torch.rand(n, generator=gen) * 2 - 1) * scale
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (2 * shift_px / size)  # in [-1, 1] units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int,
        augmentation: Optional[dict] = None, batch: int = 64, log_every: int = 10,
        step_hook: Optional[Callable[[], None]] = None) -> None:
    """Adam with a one-cycle learning rate; ``augmentation`` (augment()'s keywords) per batch;
    ``step_hook`` called after every optimizer step (a pruner's masks)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * math.ceil(len(x) / batch))
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            xb = augment(x[idx], gen, **augmentation) if augmentation is not None else x[idx]
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step_hook is not None:
                step_hook()
            total += loss.item() * len(idx)
        if (epoch + 1) % log_every == 0 or epoch + 1 == epochs:
            print(f"epoch {epoch + 1:3d}/{epochs}: loss {total / len(x):.4f}", flush=True)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(1) == labels).mean())


def ship(model: torch.nn.Module, calibration: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, *,
         name: str, out: Path, metadata: dict, started: float, weight_bits=8) -> Network:
    """Quantize a trained model (weights ``weight_bits`` wide, as from_torch takes it), measure
    it on the test set, and write its model file."""
    model.eval()
    with torch.no_grad():
        acc_torch = accuracy(model(torch.tensor(test_x)).numpy(), test_y)
    print(f"float (PyTorch) test accuracy: {acc_torch:.4f}", flush=True)
    net = from_torch(model, calibration, name=name, weight_bits=weight_bits)
    acc_float = accuracy(golden.run_float(net, test_x), test_y)
    acc_int8 = accuracy(golden.run(net, test_x).astype(np.float32), test_y)
    print(f"int8 golden test accuracy: {acc_int8:.4f} (float path of the int8 weights: {acc_float:.4f})")
    net.metadata = {**datasets.describe_inputs(metadata), "accuracy": {"test_images": len(test_y), "float_pytorch": acc_torch,
                                             "float_path": acc_float, "int8": acc_int8}}
    out.parent.mkdir(parents=True, exist_ok=True)
    net.save(out)
    print({"model": str(out), **net.metadata["accuracy"], "seconds": round(time.time() - started)})
    return net
