"""What the PyTorch and ONNX importers share: BatchNorm folding, the checks on calibration
images, names and metadata, the shapes of the float layers, and the largest array an
imported model may make us allocate."""
from __future__ import annotations

import math
import numpy as np

from . import protocol
from .errors import InputError, NetworkError
from .network import Network, check_metadata, check_name, pair
from .quantization import FloatConv2d, FloatLinear, quantize

_CFG = protocol.CONFIG
#: The most elements one weight array of a layer the accelerator runs can have: a dense layer
#: has at most max_fc_in x max_fc_out weights, a convolution at most max_channels outputs of
#: weight_entries words of 8 lanes each (input channel groups x kh x kw).  Any bigger array in a
#: model file is refused before it is read, whatever its declared dims claim.
MAX_TENSOR_ELEMENTS = max(_CFG["max_fc_in"] * _CFG["max_fc_out"],
                          _CFG["max_channels"] * _CFG["lanes"] * _CFG["weight_entries"])
MAX_TENSOR_WHY = "max_fc_in x max_fc_out, the largest weight array of an accelerator layer"
#: ... and all the arrays of one model together: max_layers layers of that size.
MAX_TOTAL_ELEMENTS = _CFG["max_layers"] * MAX_TENSOR_ELEMENTS
#: Names of containers that say nothing about the model; imported networks get another name.
GENERIC_TORCH_NAMES = {"Sequential", "Module", "ModuleList", "ModuleDict", "GraphModule"}


def fold_batchnorm(conv: FloatConv2d, gamma, beta, mean, var, eps: float) -> FloatConv2d:
    """Conv followed by BatchNorm (inference) as one Conv: W' = W g / s, b' = (b - mean) g / s + beta."""
    spread = np.asarray(var, np.float64) + eps
    if not np.all(spread > 0):  # also NaN
        raise NetworkError(f"{conv.name}: the BatchNorm folded into it has a variance + eps that is not positive "
                           f"({float(spread.min()) if spread.size else spread})")
    scale = np.asarray(gamma, np.float64) / np.sqrt(spread)
    bias = np.zeros(len(scale)) if conv.bias is None else np.asarray(conv.bias, np.float64)
    return FloatConv2d(np.asarray(conv.weight, np.float64) * scale[:, None, None, None],
                       (bias - np.asarray(mean, np.float64)) * scale + np.asarray(beta, np.float64),
                       conv.stride, conv.padding, conv.name)


def calibration_array(images) -> np.ndarray:
    """The calibration images as float32 (N, C, H, W), refusing what cannot calibrate anything
    (InputError: empty, NaN, infinite, not numbers) before any model is read or any float work is done."""
    try:
        x = np.asarray(images)
    except (TypeError, ValueError) as e:  # ragged lists and the like
        raise InputError(f"calibration images must be a (N, C, H, W) float array ({e})") from None
    if x.dtype.kind not in "biuf":
        raise InputError(f"calibration images must be a (N, C, H, W) float array, got dtype {x.dtype}")
    if x.size == 0:
        raise InputError(f"no calibration images (shape {x.shape}): they set every activation scale")
    if x.ndim != 4:
        raise InputError(f"calibration images must be (N, C, H, W), got shape {x.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        x = x.astype(np.float32)  # values beyond float32 become infinities, refused below
    if not np.all(np.isfinite(x)):
        raise InputError("the calibration images contain NaN or infinity (or values beyond float32)")
    return x  # all-zero images: quantize refuses them, after the model (tests/test_bad_inputs.py relies on that)


def network_name(name, default: str) -> str:
    return default if name is None else check_name(name)


def network_metadata(metadata) -> dict:
    return {} if metadata is None else dict(check_metadata(metadata))


def check_shapes(layers: list, input_shape: tuple) -> None:
    """Follow the calibration images' shape through the float layers, so that a mismatch is a
    NetworkError naming the layer instead of a NumPy error deep inside the calibration."""
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        where = f"{layer.name or type(layer).__name__ + str(i)} (with calibration images of shape {tuple(input_shape)})"
        if isinstance(layer, (FloatConv2d, FloatLinear)):
            w = np.asarray(layer.weight)
            conv = isinstance(layer, FloatConv2d)
            if w.ndim != (4 if conv else 2) or min(w.shape) < 1:
                raise NetworkError(f"{where}: weights of shape {w.shape} are not those of a "
                                   f"{'Conv2d (out, in, kh, kw)' if conv else 'Linear (out, in)'}")
            if layer.bias is not None and np.shape(layer.bias) != (w.shape[0],):
                raise NetworkError(f"{where}: bias of shape {np.shape(layer.bias)} for {w.shape[0]} outputs")
            if conv:
                if len(shape) != 3:
                    raise NetworkError(f"{where}: a Conv2d needs a (C, H, W) input, it gets {shape}")
                if w.shape[1] != shape[0]:
                    raise NetworkError(f"{where}: weights expect {w.shape[1]} input channels, the input has {shape[0]}")
                (sh, sw), (ph, pw) = pair(layer.stride, "stride"), pair(layer.padding, "padding")
                if min(sh, sw) < 1 or min(ph, pw) < 0:
                    raise NetworkError(f"{where}: stride must be >= 1 and padding >= 0")
                h, wd = shape[1] + 2 * ph - w.shape[2], shape[2] + 2 * pw - w.shape[3]
                if h < 0 or wd < 0:
                    raise NetworkError(f"{where}: a {w.shape[2]}x{w.shape[3]} kernel does not fit the "
                                       f"{shape[1]}x{shape[2]} input")
                shape = (w.shape[0], h // sh + 1, wd // sw + 1)
            else:
                if len(shape) != 1:
                    raise NetworkError(f"{where}: a Linear needs a flat input (add a Flatten), it gets {shape}")
                if w.shape[1] != shape[0]:
                    raise NetworkError(f"{where}: weights expect {w.shape[1]} inputs, the input has {shape[0]}")
                shape = (w.shape[0],)
        else:
            shape = layer.output_shape(shape)


def calibrate(layers: list, x: np.ndarray, input_scale, name: str, metadata: dict, weight_bits=8) -> Network:
    check_shapes(layers, tuple(x.shape[1:]))
    net = quantize(tuple(x.shape[1:]), layers, x, input_scale=input_scale, weight_bits=weight_bits, name=name)
    net.metadata = metadata
    return net


def elements(dims) -> int:
    return math.prod(int(d) for d in dims)
