"""Trained networks shipped with streamcnn, by name, and model files by path.

    >>> net = streamcnn.models.load("lenet5-mnist")
    >>> net = streamcnn.models.load("my-model.scnn")
    >>> net = streamcnn.models.load("quantized-by-onnxruntime.onnx")   # a QDQ model, as quantized
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

from . import modelfile
from ._resources import PACKAGE
from .errors import ModelFileError
from .network import Network

MODEL_DIR = PACKAGE / "model_files"
SUFFIX = ".scnn"


def available() -> list[str]:
    """Names of the shipped models."""
    return sorted(p.stem for p in MODEL_DIR.glob(f"*{SUFFIX}"))


def path_of(name_or_path: Union[str, Path]) -> Path:
    """The file a model name or path refers to."""
    candidate = Path(name_or_path)
    if candidate.suffix == SUFFIX or candidate.exists() or "/" in str(name_or_path):
        return candidate
    shipped = MODEL_DIR / f"{name_or_path}{SUFFIX}"
    if not shipped.exists():
        raise ModelFileError(f"no model named {str(name_or_path)!r}; shipped models: "
                             f"{', '.join(available()) or 'none'} (or give a path to a {SUFFIX} file)")
    return shipped


def load(name_or_path: Union[str, Path]) -> Network:
    """A shipped model by name (``"lenet5-mnist"``), a model file by path, or an ONNX model
    quantized already (QDQ, as onnxruntime's ``quantize_static`` writes) by a path ending in
    ``.onnx``: :func:`streamcnn.from_onnx` with its own scales; a float ONNX model needs
    calibration images, so from_onnx itself."""
    path = path_of(name_or_path)
    if path.suffix == ".onnx":
        from .importers import from_onnx

        return from_onnx(path)
    return modelfile.load(path)
