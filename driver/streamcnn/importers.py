"""Import float models from PyTorch and ONNX, then quantize them for streamcnn.

Both importers turn a model into the float layers of :mod:`streamcnn.quantization`
(BatchNorm folded into the convolution before it) and quantize them with
calibration images; an ONNX model quantized already (QDQ) keeps its own integers,
scales and zero points instead.  Supported: Conv2d (groups 1, dilation 1, zero padding),
BatchNorm2d after a Conv2d, ReLU, MaxPool2d and AvgPool2d (square, no padding,
floor mode), Flatten (and ``x.view(x.size(0), -1)``, ``torch.flatten(x, 1)``), Linear;
Dropout and Identity are skipped (inference).  In a PyTorch forward() the functional
forms work too (``F.relu``, ``F.max_pool2d``, ``F.avg_pool2d``, ``F.linear``, ``F.conv2d``,
``x.flatten(1)``, ``x.reshape(x.size(0), -1)``...).  The model must be a single chain
from input to output.

Every problem is a named streamcnn error: :class:`UnsupportedError` for a valid model
using what streamcnn does not run (naming the operator and where it is),
:class:`ModelFileError` for a file that is not a valid ONNX model, :class:`LimitError`
for an array larger than any accelerator layer can use (refused before it is read),
:class:`InputError` for calibration images that cannot calibrate anything, and
:class:`NetworkError` for layers whose shapes do not fit together.

The stages live in :mod:`streamcnn.importers_torch` (torch.fx graph -> layers),
:mod:`streamcnn.importers_onnx_graph` (file -> checked graph), :mod:`streamcnn.importers_onnx`
(graph -> layers) and :mod:`streamcnn.importers_common` (what both share).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import InputError, NetworkError
from .importers_common import (GENERIC_TORCH_NAMES, MAX_TENSOR_ELEMENTS, calibrate, calibration_array,
                               check_shapes, fold_batchnorm, network_metadata, network_name)
from .importers_onnx import QDQ, layers_of, live_graph, load_model, onnx_layers
from .importers_onnx_qdq import input_shape as qdq_input_shape
from .importers_onnx_qdq import is_qdq
from .importers_onnx_qdq import network as qdq_network
from .importers_onnx import default_name as _onnx_default_name
from .importers_torch import torch_layers
from .network import Network

__all__ = ["from_torch", "from_onnx", "torch_layers", "onnx_layers", "layers_of", "live_graph", "load_model",
           "fold_batchnorm", "MAX_TENSOR_ELEMENTS"]


def from_torch(module, calibration_images: np.ndarray, *, input_scale: Optional[float] = None,
               name: Optional[str] = None, metadata: Optional[dict] = None, weight_bits=8) -> Network:
    """Quantize a PyTorch model (evaluation mode) for streamcnn.

    ``calibration_images`` (N, C, H, W) set the input shape and every activation scale.
    The network is called ``name``, by default the module's class name (``"torch-model"``
    for a bare ``nn.Sequential``), and carries ``metadata`` (e.g. ``{"dataset": "mnist"}``).
    Weights are ``weight_bits`` wide (8, 4 or 2; or a dict by layer name, as
    :func:`streamcnn.quantize` takes it).  Blocks of zero weights (pruning's) stay zero, and
    the compiler leaves them out of the stream by itself."""
    x = calibration_array(calibration_images)
    cls = type(module).__name__
    name = network_name(name, cls if cls not in GENERIC_TORCH_NAMES else "torch-model")
    metadata = network_metadata(metadata)
    was_training = getattr(module, "training", False)
    if hasattr(module, "eval"):
        module.eval()
    try:
        layers = torch_layers(module)
    finally:
        if hasattr(module, "train"):
            module.train(was_training)
    return calibrate(layers, x, input_scale, name, metadata, weight_bits)


def from_onnx(path, calibration_images: Optional[np.ndarray] = None, *, input_scale: Optional[float] = None,
              name: Optional[str] = None, metadata: Optional[dict] = None) -> Network:
    """An ONNX model for streamcnn: a quantized (QDQ) model as it was quantized, a float one
    quantized with calibration images.

    ``path`` is a file or an ``onnx.ModelProto``.  A QDQ model (as onnxruntime's
    ``quantize_static`` writes, QInt8 or QUInt8 activations, weights per channel or per tensor)
    runs with its own integer weights, scales and zero points, nothing recalibrated
    (:mod:`streamcnn.importers_onnx_qdq`); ``calibration_images`` then only give the input's
    size if the model leaves it open, and ``input_scale`` is refused.  For a float model,
    ``calibration_images`` (N, C, H, W) set the input shape and every activation's scale and
    zero point.  The network is called ``name``, by default the file's stem (for a ModelProto
    its graph's name unless that is an exporter's generic one, else ``"onnx-model"``), and
    carries ``metadata``."""
    x = None if calibration_images is None else calibration_array(calibration_images)
    metadata = network_metadata(metadata)
    model, base_dir = load_model(path)
    name = network_name(name, _onnx_default_name(model, path))
    qdq = QDQ()
    layers = layers_of(model, base_dir, qdq)
    if is_qdq(qdq):
        if input_scale is not None:
            raise NetworkError("input_scale: a quantized (QDQ) model brings its own input scale; streamcnn "
                               "recalibrates nothing in it")
        shape = qdq_input_shape(model, x)
        check_shapes(layers, shape)
        return qdq_network(layers, qdq, shape, name, metadata)
    if x is None:
        raise InputError(f"{name} is a float ONNX model: it needs calibration images, which set every "
                         f"activation's scale (streamcnn.from_onnx(path, calibration_images)); a quantized (QDQ) "
                         f"model brings its own scales")
    return calibrate(layers, x, input_scale, name, metadata)
