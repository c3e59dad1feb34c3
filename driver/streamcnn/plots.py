"""Plots for notebooks: image grids, confusion matrices, per-layer errors and bytes
(needs matplotlib: pip install 'streamcnn[notebooks]')."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

try:
    import matplotlib.pyplot as plt
except ImportError:  # pragma: no cover
    raise ImportError("plots need matplotlib: pip install 'streamcnn[notebooks]'") from None


def bench_result(name: str) -> dict:
    """A committed measurement of the bench scripts (``bench/results/NAME.json``), from the
    source checkout or, in a regular install, from the copy the package carries."""
    import json

    from ._resources import bench_results_dir

    return json.loads((bench_results_dir() / f"{name}.json").read_text())


def image_grid(images: np.ndarray, labels: Optional[np.ndarray] = None, predictions: Optional[np.ndarray] = None,
               names: Optional[Sequence[str]] = None, cols: int = 8):
    """Images (N, 1, H, W) with their predictions; wrong ones in red."""
    n = len(images)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i][0], cmap="gray")
        if predictions is not None:
            text = names[predictions[i]] if names else str(predictions[i])
            wrong = labels is not None and predictions[i] != labels[i]
            ax.set_title(text, fontsize=8, color="red" if wrong else "black")
    fig.tight_layout()
    return fig


def confusion(counts: np.ndarray, names: Optional[Sequence[str]] = None, title: str = "confusion matrix"):
    """A confusion matrix (rows: true class, columns: prediction), counts in the cells."""
    k = len(counts)
    names = list(names) if names else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(0.55 * k + 2, 0.55 * k + 1.5))
    ax.imshow(np.log1p(counts), cmap="Blues")
    for t in range(k):
        for p in range(k):
            if counts[t, p]:
                ax.text(p, t, counts[t, p], ha="center", va="center", fontsize=7,
                        color="white" if t == p else "black")
    ax.set_xticks(range(k), names, rotation=90 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def layer_errors(rows: Sequence[dict], title: str = "int8 against the float path, per layer"):
    """Bars of compare_layers() rows: RMS and largest error in output steps."""
    names = [r["layer"] for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(rows) + 2), 3))
    ax.bar(x - 0.2, [r["rms_error_steps"] for r in rows], 0.4, label="RMS error")
    ax.bar(x + 0.2, [r["max_error_steps"] for r in rows], 0.4, label="largest error")
    ax.set_xticks(x, names, rotation=30)
    ax.set_ylabel("output steps (LSB)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def bytes_per_layer(sizes: dict, title: str = "bytes streamed per layer and run"):
    """Bars of CompiledProgram.layer_bytes() (one dict, or {network name: dict})."""
    series = sizes if all(isinstance(v, dict) for v in sizes.values()) else {"": sizes}
    fig, axes = plt.subplots(1, len(series), figsize=(4.5 * len(series), 3), squeeze=False)
    for ax, (name, data) in zip(axes[0], series.items()):
        ax.bar(range(len(data)), [v / 1024 for v in data.values()])
        ax.set_xticks(range(len(data)), list(data), rotation=45, ha="right")
        ax.set_ylabel("KiB")
        ax.set_title(name or title)
    fig.tight_layout()
    return fig
