"""Accuracy of a model on its test set: float path, golden model and device side by side."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from . import golden
from .devices import Device
from .errors import InputError
from .network import Network, as_images

CHUNK = 512  # images per progress step


def check_count(name: str, value, minimum: int = 1, optional: bool = False) -> Optional[int]:
    """``value`` as an int of at least ``minimum`` (None passes if ``optional``); InputError otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    if value < minimum:
        raise InputError(f"{name} must be {'a positive' if minimum == 1 else 'an'} integer"
                         f"{'' if minimum == 1 else ' of at least ' + str(minimum)}, got {value}")
    return int(value)


def _chunks(n: int, progress: Optional[Callable], desc: str):
    """Chunk starts; ``progress(desc, total)`` may return a bar with update(images)."""
    bar = progress(desc, n) if progress else None
    for start in range(0, n, CHUNK):
        yield start
        if bar is not None:
            bar.update(min(CHUNK, n - start))
    if bar is not None:
        bar.close()


def evaluate(network: Network, device: Device, images: np.ndarray, labels: np.ndarray, *,
             batch: Optional[int] = None, progress: Optional[Callable] = None, return_outputs: bool = False):
    """Run ``images`` through the float path, the golden model and ``device``.

    Returns the accuracies, the number of images whose int8 outputs differ
    between device and golden model (any byte), and the device's images/s.
    ``progress(description, total_images)`` may return a progress bar (tqdm's
    interface: ``update(n)``, ``close()``).  With ``return_outputs``, returns
    (report, the device's int8 outputs)."""
    check_count("batch", batch, optional=True)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise InputError(f"labels must be a non-empty 1-D array, one per image, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be integer class indices, got {labels.dtype}")
    if labels.min() < 0:
        raise InputError(f"labels must be class indices of at least 0, got {labels.min()}")
    images = as_images(images)
    network.quantize_input(images[:1] if images.ndim else images)  # names bad images before any work
    if len(images) != len(labels):
        raise InputError(f"{len(images)} images but {len(labels)} labels")
    n = len(labels)
    program = device.load(network, batch=batch)
    float_out, golden_out, device_out = [], [], []
    device_seconds = 0.0
    for s in _chunks(n, progress, f"{device.name}"):
        part = images[s:s + CHUNK]
        t = time.perf_counter()
        device_out.append(program.run(part))
        device_seconds += time.perf_counter() - t
    for s in _chunks(n, progress, "golden"):
        part = images[s:s + CHUNK]
        golden_out.append(golden.run(network, part))
        float_out.append(golden.run_float(network, part))
    dev, gold, flt = (np.concatenate(o) for o in (device_out, golden_out, float_out))

    def accuracy(out: np.ndarray) -> float:
        return round(float((out.argmax(1) == labels).mean()), 6)

    report = {
        "model": network.name,
        "device": device.name,
        "batch": program.batch,
        "images": n,
        "accuracy_float": accuracy(flt),
        "accuracy_golden": accuracy(gold),
        "accuracy_device": accuracy(dev),
        "device_vs_golden_mismatches": int(np.any(dev.reshape(n, -1) != gold.reshape(n, -1), axis=1).sum()),
        "images_per_s": round(n / device_seconds, 1) if device_seconds > 0 else None,
    }
    return (report, dev) if return_outputs else report


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: Optional[int] = None) -> np.ndarray:
    """counts[true class, predicted class]."""
    k = classes or int(max(labels.max(), predictions.max())) + 1
    counts = np.zeros((k, k), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts


def compare_layers(network: Network, device: Device, images: np.ndarray) -> list:
    """Every accelerator layer's output on the device against the golden model (bit for
    bit) and against the float path (error in units of the layer's output step)."""
    outputs = device.load(network).run(images, all_layers=True)
    names = [layer.name for layer in network.layers]
    gold = golden.run(network, images, all_layers=True)
    flt = golden.run_float(network, images, all_layers=True)
    scales, zeros = network.scales(), network.zero_points()
    rows = []
    for name, out in outputs.items():
        i = names.index(name)
        error = (out.astype(np.float64) - zeros[i]) - flt[i] / scales[i]
        rows.append({
            "layer": name,
            "shape": tuple(out.shape[1:]),
            "device_vs_golden_mismatches": int((out != gold[i]).sum()),
            "rms_error_steps": round(float(np.sqrt(np.mean(error ** 2))), 3),
            "max_error_steps": round(float(np.abs(error).max()), 3),
        })
    return rows
