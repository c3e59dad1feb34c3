"""Data sets shipped with streamcnn, and their loaders.

The test sets of MNIST (10,000 digits, CC BY-SA 3.0, see datasets/mnist/README.md)
and Fashion-MNIST (10,000 images, MIT, datasets/fashion-mnist/README.md) are
bundled.  :func:`mnist_images` turns 28 x 28 digits into LeNet-5's input:
zero-padded by 2 to 32 x 32, scaled to [0, 1], NCHW float32;
:func:`fashion_images` scales Fashion-MNIST to [0, 1] at 28 x 28.
"""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import Optional, Union

import numpy as np

from . import _resources

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a NumPy array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic {raw[:4]!r})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    dims = np.frombuffer(raw, ">u4", ndim, 4).astype(int)
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"{path}: header says {tuple(dims)} of {dtype}, but the data has {len(raw) - offset} bytes")
    big_endian = np.frombuffer(raw, dtype, count, offset).reshape(dims)
    return big_endian.astype(np.dtype(f"{dtype.kind}{dtype.itemsize}"))  # same values, native byte order


#: Where Debian's package dataset-fashion-mnist puts the full data set (training split included).
FASHION_MNIST_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot"]


def load_mnist(split: str = "test", root: Optional[Union[str, Path]] = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits (N, 28, 28) uint8, white on black, and their labels (N,) uint8.

    Only the test split ships with streamcnn (``root`` may point to a directory
    with other IDX files, e.g. the training split, named as in the original)."""
    return _load_idx_pair("mnist", split, root)


def load_fashion_mnist(split: str = "test", root: Optional[Union[str, Path]] = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images (N, 28, 28) uint8 and labels (N,) uint8 (names:
    FASHION_MNIST_LABELS).  The test split ships with streamcnn; the training split
    is read from Debian's dataset-fashion-mnist package (or ``root``)."""
    if root is None and split == "train":
        root = FASHION_MNIST_DEBIAN
    return _load_idx_pair("fashion-mnist", split, root)


def _load_idx_pair(name: str, split: str, root) -> tuple[np.ndarray, np.ndarray]:
    prefix = {"test": "t10k", "train": "train"}.get(split)
    if prefix is None:
        raise ValueError(f"split must be 'test' or 'train', got {split!r}")
    folder = Path(root) if root is not None else _resources.datasets_dir() / name
    if not (folder / f"{prefix}-images-idx3-ubyte.gz").exists():
        raise FileNotFoundError(f"no {name} {split} split in {folder}"
                                + (" (apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""))
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise ValueError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images, labels


def mnist_images(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 digits -> (N, 1, 32, 32) float32 in [0, 1]: LeNet-5's input."""
    x = np.asarray(digits, dtype=np.float32) / 255.0
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]


def fashion_images(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[:, None]


def test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a shipped test set, preprocessed as its models expect."""
    if name == "mnist":
        digits, labels = load_mnist("test")
        return mnist_images(digits), labels
    if name == "fashion-mnist":
        images, labels = load_fashion_mnist("test")
        return fashion_images(images), labels
    raise ValueError(f"unknown data set {name!r}; shipped: mnist, fashion-mnist")


def load_digit(path: Union[str, Path]) -> np.ndarray:
    """Any image file with one handwritten digit -> (1, 32, 32) float32, as MNIST was made.

    Any size, colour mode or polarity: transparency is laid on white, the image is
    turned to grey, inverted if its border is light (MNIST digits are white on
    black), cropped to the digit, scaled so its longer side is 20 pixels, placed in
    a 28 x 28 field with its centre of mass in the middle, and padded to 32 x 32."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise ImportError("reading images needs Pillow: pip install pillow") from None
    from .errors import InputError

    try:
        img = Image.open(path)
        img.load()
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not an image Pillow can read ({e})") from None
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    x = np.asarray(img.convert("L"), dtype=np.float32) / 255.0

    def background(a: np.ndarray) -> float:
        return float(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))

    if background(x) > 0.5:
        x = 1.0 - x
    x = np.clip(x - background(x), 0, None)
    if x.max() <= 0.1:
        raise InputError(f"{path}: no digit found (the image is blank)")
    x /= x.max()
    ys, xs = np.nonzero(x > 0.2)
    crop = x[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                       dtype=np.float32) / 255.0
    field = np.zeros((28, 28), np.float32)
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    field[top:top + size[1], left:left + size[0]] = small
    total = field.sum()
    cy, cx = (np.indices(field.shape) * field).reshape(2, -1).sum(1) / total
    field = np.roll(field, (int(round(14.0 - cy)), int(round(14.0 - cx))), axis=(0, 1))  # MNIST: centre of mass at (14, 14)
    return np.pad(np.clip(field, 0, 1), 2)[None]
