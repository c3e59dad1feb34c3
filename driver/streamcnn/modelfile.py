"""The streamcnn model file (``.scnn``): a quantized :class:`Network` on disk.

A zip archive (every entry CRC-checked by zip itself) holding

* ``network.json``: ``{"format": "streamcnn-network", "version": 1, "name": ...,
  "input_shape": [C, H, W], "input_scale": s, "metadata": {...}, "layers": [...]}``,
  one object per layer with its type, name, geometry and scales, and the names
  of its arrays;
* one ``.npy`` file per array (int8 weights, int32 biases, int64 multipliers and
  shifts, float64 weight scales), read with ``allow_pickle=False``.

docs/model-format.md describes it; the version changes whenever it does.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Union

import numpy as np

from .errors import ModelFileError, NetworkError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU

FORMAT = "streamcnn-network"
VERSION = 1
_ARRAYS = {"Conv2d": ("weight", "bias", "multiplier", "shift", "weight_scale"),
           "Linear": ("weight", "bias", "multiplier", "shift", "weight_scale")}
_TYPES = {cls.__name__: cls for cls in (Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Flatten)}


def save(network: Network, path: Union[str, Path]) -> Path:
    """Write ``network`` (with its ``metadata``) to ``path``."""
    path = Path(path)
    layers = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, layer in enumerate(network.layers):
            kind = type(layer).__name__
            entry: dict = {"type": kind, "name": layer.name}
            if isinstance(layer, Conv2d):
                entry.update(stride=list(layer.stride), padding=list(layer.padding))
            if isinstance(layer, (MaxPool2d, AvgPool2d)):
                entry.update(kernel_size=layer.kernel_size, stride=layer.stride)
            if kind in _ARRAYS:
                entry["output_scale"] = layer.output_scale
                entry["arrays"] = {}
                for name in _ARRAYS[kind]:
                    value = getattr(layer, name)
                    if value is None:
                        continue
                    member = f"layers/{i}/{name}.npy"
                    buf = io.BytesIO()
                    np.save(buf, np.asarray(value), allow_pickle=False)
                    z.writestr(member, buf.getvalue())
                    entry["arrays"][name] = member
            layers.append(entry)
        header = {"format": FORMAT, "version": VERSION, "name": network.name,
                  "input_shape": list(network.input_shape), "input_scale": network.input_scale,
                  "metadata": network.metadata, "layers": layers}
        z.writestr("network.json", json.dumps(header, indent=1))
    return path


def load(path: Union[str, Path]) -> Network:
    """Read a model file; every problem raises :class:`ModelFileError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as z:
            header = _header(z, path)
            layers = [_layer(z, path, i, entry) for i, entry in enumerate(header["layers"])]
    except zipfile.BadZipFile as e:
        raise ModelFileError(f"{path} is not a streamcnn model file, or it is truncated or corrupted ({e})") from None
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{path}: malformed model file ({type(e).__name__}: {e})") from None
    try:
        return Network(tuple(header["input_shape"]), layers, input_scale=float(header["input_scale"]),
                       name=str(header["name"]), metadata=dict(header.get("metadata") or {}))
    except NetworkError as e:
        raise ModelFileError(f"{path}: the network it holds is invalid: {e}") from None


def _header(z: zipfile.ZipFile, path: Path) -> dict:
    try:
        raw = z.read("network.json")
    except KeyError:
        raise ModelFileError(f"{path} is a zip file but not a streamcnn model (no network.json)") from None
    header = json.loads(raw)
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a streamcnn model (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path} is model format version {header.get('version')}; this streamcnn reads "
                             f"version {VERSION}: upgrade streamcnn or re-export the model")
    return header


def _layer(z: zipfile.ZipFile, path: Path, i: int, entry: dict):
    kind = entry["type"]
    if kind not in _TYPES:
        raise ModelFileError(f"{path}: layer {i} has unknown type {kind!r}")
    cls = _TYPES[kind]
    if kind in _ARRAYS:
        arrays = {name: np.load(io.BytesIO(z.read(member)), allow_pickle=False)
                  for name, member in entry["arrays"].items()}
        missing = set(_ARRAYS[kind]) - {"weight_scale"} - set(arrays)
        if missing:
            raise ModelFileError(f"{path}: layer {i} ({entry['name']}) lacks arrays {sorted(missing)}")
        extra = {"stride": tuple(entry["stride"]), "padding": tuple(entry["padding"])} if kind == "Conv2d" else {}
        return cls(**arrays, output_scale=entry.get("output_scale"), name=entry["name"], **extra)
    if kind in ("MaxPool2d", "AvgPool2d"):
        return cls(int(entry["kernel_size"]), int(entry["stride"]), name=entry["name"])
    return cls(name=entry["name"])
