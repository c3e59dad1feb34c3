"""Data sets shipped with streamcnn, and their loaders.

The test sets of MNIST (10,000 digits, CC BY-SA 3.0, see datasets/mnist/README.md)
and Fashion-MNIST (10,000 images, MIT, datasets/fashion-mnist/README.md) are
bundled.  :func:`mnist_images` turns 28 x 28 digits into LeNet-5's input:
zero-padded by 2 to 32 x 32, scaled to [0, 1], NCHW float32;
:func:`fashion_images` scales Fashion-MNIST to [0, 1] at 28 x 28.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Optional, Union

import numpy as np

from . import _resources
from .errors import InputError

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


#: The most an IDX file may hold uncompressed (MNIST's training images are 47 MB).
MAX_IDX_BYTES = 256 << 20


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a NumPy array; :class:`InputError` if it is not one."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = _gunzip(raw, path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise InputError(f"{path} is not an IDX file (bad magic {raw[:4]!r})")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise InputError(f"{path}: the IDX header is cut short")
    dims = [int(d) for d in np.frombuffer(raw, ">u4", ndim, 4)]
    count = math.prod(dims)  # exact: no int64 overflow on a hostile header
    if len(raw) - offset != count * dtype.itemsize:
        raise InputError(f"{path}: header says {tuple(dims)} of {dtype}, but the data has {len(raw) - offset} bytes")
    big_endian = np.frombuffer(raw, dtype, count, offset).reshape(dims)
    return big_endian.astype(np.dtype(f"{dtype.kind}{dtype.itemsize}"))  # same values, native byte order


def _gunzip(raw: bytes, path: Path) -> bytes:
    """gzip data, refused beyond MAX_IDX_BYTES before it is inflated further."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(raw, MAX_IDX_BYTES + 1)
    except zlib.error as e:
        raise InputError(f"{path} is a corrupted gzip file ({e})") from None
    if len(out) > MAX_IDX_BYTES:
        raise InputError(f"{path} inflates to more than {MAX_IDX_BYTES >> 20} MiB, more than an IDX data set holds")
    if not inflate.eof:
        raise InputError(f"{path} is a truncated gzip file")
    return out


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
        raise InputError(f"split must be 'test' or 'train', got {split!r}")
    folder = Path(root) if root is not None else _resources.datasets_dir() / name
    if not (folder / f"{prefix}-images-idx3-ubyte.gz").exists():
        raise FileNotFoundError(f"no {name} {split} split in {folder}"
                                + (" (apt-get install dataset-fashion-mnist)" if name == "fashion-mnist" else ""))
    images = read_idx(folder / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise InputError(f"{folder}: {len(images)} images but {len(labels)} labels")
    return images, labels


def mnist_images(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 digits -> (N, 1, 32, 32) float32 in [0, 1]: LeNet-5's input."""
    x = np.asarray(digits, dtype=np.float32) / 255.0
    return np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]


def fashion_images(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) uint8 -> (N, 1, 28, 28) float32 in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[:, None]


#: The shipped test sets and the input shapes each can be given at (C, H, W): MNIST as it is and
#: zero-padded by 2 (LeNet-5's 32 x 32), Fashion-MNIST as it is.
TEST_SETS = {"mnist": ((1, 28, 28), (1, 32, 32)), "fashion-mnist": ((1, 28, 28),)}


def _shape_text(shape) -> str:
    return " x ".join(map(str, shape))


def test_sets_for(input_shape) -> list:
    """Names of the shipped test sets that can be given at ``input_shape`` (C, H, W)."""
    return [name for name, shapes in TEST_SETS.items() if tuple(input_shape) in shapes]


def choices_text() -> str:
    """``mnist (1 x 28 x 28 or 1 x 32 x 32), fashion-mnist (1 x 28 x 28)``."""
    return ", ".join(f"{name} ({' or '.join(map(_shape_text, shapes))})" for name, shapes in TEST_SETS.items())


def test_set(name: str, input_shape=None) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a shipped test set, preprocessed as its models expect: (N, C, H, W) float32
    in [0, 1].  ``input_shape`` (C, H, W) picks one of the shapes in :data:`TEST_SETS` (default: the first
    of MNIST's that its shipped LeNet-5 takes, 1 x 32 x 32; Fashion-MNIST's 1 x 28 x 28)."""
    from .errors import InputError

    if name not in TEST_SETS:
        raise InputError(f"unknown data set {name!r}; shipped test sets: {choices_text()}")
    if input_shape is not None and tuple(input_shape) not in TEST_SETS[name]:
        raise InputError(f"the {name} test set comes as {' or '.join(map(_shape_text, TEST_SETS[name]))} images, "
                         f"not {_shape_text(input_shape)}; shipped test sets: {choices_text()}")
    if name == "mnist":
        digits, labels = load_mnist("test")
        x = mnist_images(digits)
        if input_shape is not None and tuple(input_shape) == (1, 28, 28):
            x = np.ascontiguousarray(x[:, :, 2:30, 2:30])
        return x, labels
    images, labels = load_fashion_mnist("test")
    return fashion_images(images), labels


#: How ``streamcnn run`` turns an image file into a model's input; a model's metadata names one as
#: ``"image_preprocessing"`` (else it follows from its ``"dataset"``; else ``"resize"``).
PREPROCESSING = {
    "mnist-digit": "a handwritten digit, as MNIST was made: grey, inverted if dark on light, cropped, its longer "
                   "side scaled to 20 pixels, centred by its centre of mass in 28 x 28 (zero-padded to a larger "
                   "input), in [0, 1]",
    "fashion-mnist": "a product photo, as Fashion-MNIST was made: grey, negated if its background is light, "
                     "trimmed, its longer side scaled to 28 pixels, centred in 28 x 28, in [0, 1]",
    "resize": "converted to the model's channels (grey or RGB) and resized to its height x width, in [0, 1]",
}
_BY_DATASET = {"mnist": "mnist-digit", "fashion-mnist": "fashion-mnist"}

#: Images with more pixels than this are refused before they are decoded (a 20000 x 20000 PNG of a
#: few kilobytes would take 400 MB, or 1.6 GB as floats).
MAX_PIXELS = 50_000_000
_WORK_SIDE = 2048  # larger images are scaled down to this longer side before any float arithmetic


def preprocessing_of(network) -> str:
    """The :data:`PREPROCESSING` name ``streamcnn run`` uses for ``network``'s inputs."""
    meta = getattr(network, "metadata", None) or {}
    kind = meta.get("image_preprocessing")
    if kind in PREPROCESSING:
        return kind
    return _BY_DATASET.get(meta.get("dataset"), "resize")


def _open(path):
    """The image at ``path``, decoded, transparency laid on white; InputError for anything unreadable
    or larger than :data:`MAX_PIXELS`."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise ImportError("reading images needs Pillow: pip install pillow") from None
    import warnings

    from .errors import InputError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"{path}: {img.width} x {img.height} pixels is more than streamcnn reads "
                                 f"({MAX_PIXELS:,} pixels); scale the image down")
            img.draft("RGB", (_WORK_SIDE, _WORK_SIDE))  # JPEG: decode at a reduced size
            img.load()
    except Image.DecompressionBombError as e:
        import re

        size = re.search(r"\((\d+) pixels\)", str(e))
        what = f"{int(size[1]):,} pixels" if size else "the image"
        raise InputError(f"{path}: {what} is more than streamcnn reads ({MAX_PIXELS:,} pixels); "
                         f"scale the image down") from None
    except (OSError, ValueError, SyntaxError) as e:
        if isinstance(e, InputError):
            raise
        if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
            raise InputError(f"{path}: {e.strerror}") from None
        raise InputError(f"{path}: not an image Pillow can read ({e})") from None
    if img.mode.startswith(("I", "F")):
        img = _eight_bit(img, path)
    if max(img.size) > _WORK_SIDE:
        img.thumbnail((_WORK_SIDE, _WORK_SIDE), Image.BILINEAR)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img)
    return img


def _eight_bit(img, path):
    """A 16-bit, 32-bit or float grey image as 8-bit grey, scaled rather than clipped (Pillow's
    convert("L") clips them at 255): 16-bit by 65535, floats in [0, 1] by 1, others by their range."""
    from PIL import Image

    a = np.asarray(img, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{path}: the image holds NaN or infinite values")
    low, high = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if img.mode.startswith("I;16") or (low >= 0 and 255 < high <= 65535):
        low, high = 0.0, 65535.0
    elif low >= 0 and high <= 1 and img.mode == "F":
        low, high = 0.0, 1.0
    elif low >= 0 and high <= 255:
        low, high = 0.0, 255.0
    scaled = (a - low) * (255.0 / (high - low)) if high > low else np.zeros_like(a)
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), "L")


def _border(a: np.ndarray) -> float:
    return float(np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])))


def _fit(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """A square 28 x 28 field at the model's height x width: zero-padded around when larger, resized when not."""
    from PIL import Image

    h, w = field.shape
    if (height, width) == (h, w):
        return field
    if height >= h and width >= w:
        top, left = (height - h) // 2, (width - w) // 2
        return np.pad(field, ((top, height - h - top), (left, width - w - left)))
    img = Image.fromarray((np.clip(field, 0, 1) * 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def _scaled(crop: np.ndarray, longer: int) -> np.ndarray:
    """``crop`` (in [0, 1]) with its longer side scaled to ``longer`` pixels."""
    from PIL import Image

    h, w = crop.shape
    scale = longer / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray((np.clip(crop, 0, 1) * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                      dtype=np.float32) / 255.0


def _centred(small: np.ndarray, side: int = 28, up: int = 0) -> np.ndarray:
    """``small`` in the middle of a ``side`` x ``side`` field of zeros (an odd margin's extra pixel
    goes before it if ``up``, after it if not)."""
    field = np.zeros((side, side), np.float32)
    h, w = small.shape
    top, left = (side - h + up) // 2, (side - w + up) // 2
    field[top:top + h, left:left + w] = small
    return field


def _digit_field(x: np.ndarray, path) -> np.ndarray:
    """Grey levels in [0, 1] of any image of one digit -> its 28 x 28 MNIST field."""
    from .errors import InputError

    if _border(x) > 0.5:
        x = 1.0 - x
    x = np.clip(x - _border(x), 0, None)
    if x.max() <= 0.1:
        raise InputError(f"{path}: no digit found (the image is blank)")
    x /= x.max()
    ys, xs = np.nonzero(x > 0.2)
    field = _centred(_scaled(x[ys.min():ys.max() + 1, xs.min():xs.max() + 1], 20))
    total = field.sum()
    cy, cx = (np.indices(field.shape) * field).reshape(2, -1).sum(1) / total
    field = np.roll(field, (int(round(14.0 - cy)), int(round(14.0 - cx))), axis=(0, 1))  # MNIST: centre of mass at (14, 14)
    return np.clip(field, 0, 1)


def _fashion_field(x: np.ndarray, path) -> np.ndarray:
    """Grey levels in [0, 1] of a product photo -> a 28 x 28 Fashion-MNIST image (light object on black)."""
    from .errors import InputError

    if _border(x) > 0.5:
        x = 1.0 - x
    ys, xs = np.nonzero(x > _border(x) + 0.05)
    if len(ys) == 0:
        raise InputError(f"{path}: no object found (the image is blank)")
    # 9 in 10 Fashion-MNIST test images saved as files come back exactly as they were
    return _centred(_scaled(x[ys.min():ys.max() + 1, xs.min():xs.max() + 1], 28), up=1)


def _grey(img) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def load_digit(path: Union[str, Path]) -> np.ndarray:
    """Any image file with one handwritten digit -> (1, 32, 32) float32, as MNIST was made.

    Any size, colour mode or polarity: transparency is laid on white, the image is
    turned to grey, inverted if its border is light (MNIST digits are white on
    black), cropped to the digit, scaled so its longer side is 20 pixels, placed in
    a 28 x 28 field with its centre of mass in the middle, and padded to 32 x 32.
    Images of more than :data:`MAX_PIXELS` pixels raise InputError."""
    return np.pad(_digit_field(_grey(_open(path)), path), 2)[None]


def load_image(path: Union[str, Path], network=None, *, input_shape=None, preprocessing: Optional[str] = None,
               features: bool = False):
    """An image file as ``network``'s input: (C, H, W) float32 in [0, 1].

    ``preprocessing`` (default: :func:`preprocessing_of` the network) is one of
    :data:`PREPROCESSING`; ``input_shape`` defaults to the network's.  With ``features``,
    returns (input, :func:`input_features` of the decoded image)."""
    from .errors import InputError

    shape = tuple(input_shape if input_shape is not None else network.input_shape)
    kind = preprocessing or preprocessing_of(network)
    if kind not in PREPROCESSING:
        raise InputError(f"unknown preprocessing {kind!r}; choose one of {', '.join(PREPROCESSING)}")
    c, h, w = shape
    img = _open(path)
    if kind == "resize":
        if c not in (1, 3):
            raise InputError(f"{path}: the model takes {c}-channel images; image files give 1 (grey) or 3 (RGB)")
        from PIL import Image

        x = np.asarray(img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR), dtype=np.float32) / 255.0
        x = (x[None] if c == 1 else x.transpose(2, 0, 1)).copy()
    else:
        x = prepare(_grey(img), shape, kind, name=path)
    return (x, input_features(_grey(img))) if features else x


def prepare(grey: np.ndarray, input_shape, preprocessing: str, *, name="the image") -> np.ndarray:
    """Grey levels (H, W) in [0, 1] -> a (1, H, W) model input, by the ``"mnist-digit"`` or
    ``"fashion-mnist"`` preprocessing: what :func:`load_image` does once the file is decoded."""
    from .errors import InputError

    c, h, w = tuple(input_shape)
    if preprocessing not in ("mnist-digit", "fashion-mnist"):
        raise InputError(f"prepare() does 'mnist-digit' or 'fashion-mnist', not {preprocessing!r}")
    if c != 1:
        raise InputError(f"{name}: {preprocessing} preprocessing makes 1-channel images; the model takes {c} channels")
    field = (_digit_field if preprocessing == "mnist-digit" else _fashion_field)(np.asarray(grey, np.float32), name)
    return _fit(field, h, w)[None].astype(np.float32)


# -- how unlike the training data an input is -------------------------------------------------


def _feature_grey(grey: np.ndarray) -> np.ndarray:
    """Grey levels as features see them: longer side at most 28 pixels, light on dark, the border's
    level subtracted, the brightest pixel at 1."""
    from PIL import Image

    g = np.asarray(grey, dtype=np.float32)
    if max(g.shape) > 28:
        h, w = g.shape
        size = (max(1, round(w * 28 / max(h, w))), max(1, round(h * 28 / max(h, w))))
        g = np.asarray(Image.fromarray((np.clip(g, 0, 1) * 255).astype(np.uint8)).resize(size, Image.BILINEAR),
                       dtype=np.float32) / 255.0
    if _border(g) > 0.5:
        g = 1.0 - g
    g = np.clip(g - _border(g), 0, None)
    return g / g.max() if g.max() > 0 else g


#: Features of an image (its grey levels as :func:`_feature_grey` makes them), by the name
#: ``streamcnn run`` shows; scripts/input_statistics.py stores their ranges over a model's test set.
FEATURES = {
    "mean intensity": lambda g: float(g.mean()),
    "background fraction": lambda g: float((g < 0.1).mean()),
    "mid-grey fraction": lambda g: float(((g >= 0.1) & (g <= 0.6)).sum() / max(1, (g >= 0.1).sum())),
    "edge ratio": lambda g: float((np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
                                  / 2 / max(float(g.mean()), 1e-6)),
}


def input_features(grey: np.ndarray) -> dict:
    """:data:`FEATURES` of one decoded image: grey levels (H, W) in [0, 1] of any size."""
    g = _feature_grey(grey)
    return {name: f(g) for name, f in FEATURES.items()}


def feature_ranges(greys, low: float = 0.1, high: float = 99.9, margin: float = 0.1) -> dict:
    """``{feature: [lo, hi]}`` over images ``greys`` (each (H, W) in [0, 1]): the ``low`` and ``high``
    percentiles, widened by ``margin`` of their span on each side, rounded outwards to 3 decimals."""
    values = np.array([list(input_features(g).values()) for g in greys])
    ranges = {}
    for name, v in zip(FEATURES, values.T):
        lo, hi = np.percentile(v, [low, high])
        pad = margin * (hi - lo)
        ranges[name] = [float(np.floor((lo - pad) * 1e3) / 1e3), float(np.ceil((hi + pad) * 1e3) / 1e3)]
    return ranges


def unusual_input(features: dict, statistics: Optional[dict]) -> list:
    """What is unlike the training data about an image with ``features`` (:func:`input_features`):
    one phrase per feature outside the ranges of a model's ``metadata["input_statistics"]`` (empty if
    none is, or without statistics)."""
    ranges = (statistics or {}).get("ranges") or {}
    out = []
    for name, (lo, hi) in ranges.items():
        if name in features and not lo <= features[name] <= hi:
            out.append(f"{name} {features[name]:.2f} (typical {lo:g} to {hi:g})")
    return out


def input_statistics(dataset: str) -> dict:
    """``metadata["input_statistics"]`` for a model of ``dataset``'s test set: the
    :func:`feature_ranges` of its images, with where they came from."""
    loaders = {"mnist": load_mnist, "fashion-mnist": load_fashion_mnist}
    if dataset not in loaders:
        raise InputError(f"no test set {dataset!r} to take input statistics from; choose one of {', '.join(loaders)}")
    images, _ = loaders[dataset]("test")
    low, high, margin = 0.1, 99.9, 0.1
    return {"source": f"the {len(images):,} {dataset} test images", "percentiles": [low, high], "margin": margin,
            "ranges": feature_ranges(images.astype(np.float32) / 255.0, low, high, margin),
            "command": "python scripts/input_statistics.py"}


def describe_inputs(metadata: dict) -> dict:
    """``metadata`` with the preprocessing and input statistics of the data set it names
    (what ``streamcnn run`` needs), as the training scripts ship it."""
    dataset = metadata.get("dataset")
    if dataset not in _BY_DATASET:
        return dict(metadata)
    return {**metadata, "image_preprocessing": _BY_DATASET[dataset], "input_statistics": input_statistics(dataset)}

