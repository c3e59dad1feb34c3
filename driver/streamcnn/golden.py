"""The golden model: the integer arithmetic of streamcnn, in NumPy.

This module *defines* what the accelerator computes (docs/numerics.md says the
same in prose); the accelerator must equal :func:`run` bit for bit.  For one
image x (int8, C x H x W) and each layer:

* Conv2d:   acc[o, y, x] = sum_{c, i, j} W[o, c, i, j] * xpad[c, sh*y + i, sw*x + j]
            (xpad: x with (ph, pw) zeros above/below and left/right; exact int32)
            q = requantize(acc + bias[o], M[o], S[o])
* Linear:   acc[o] = sum_i W[o, i] * x[i];  q = requantize(acc + bias[o], M[o], S[o])
* requantize(v, M, S) = clamp(floor((v * M + 2**(S-1)) / 2**S), -128, 127)
            (2**(S-1) is 0 when S = 0; i.e. round half up; exact in int64)
* ReLU:     max(x, 0)
* MaxPool:  max over each k x k window (stride s, no padding, floor mode)
* AvgPool:  floor((2 * sum + n) / (2 * n)) over each window of n = k*k values
            (the mean rounded half up)
* Flatten:  C, H, W order (PyTorch's)

:func:`run_float` executes the same network in float32 with dequantized
weights and no activation quantization: the real-valued model the int8
network approximates.
"""
from __future__ import annotations

from typing import Union

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .errors import InputError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU, pair

__all__ = ["run", "run_float", "requantize", "conv2d", "linear", "max_pool", "avg_pool"]


# -- the arithmetic --------------------------------------------------------------


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """int8 = clamp(round_half_up(acc * M / 2**S)); acc int64, M and S per channel (axis 1)."""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    m = multiplier.astype(np.int64).reshape(shape)
    s = shift.astype(np.int64).reshape(shape)
    half = np.where(s > 0, np.left_shift(1, np.maximum(s - 1, 0)), 0)
    v = (acc.astype(np.int64) * m + half) >> s
    return np.clip(v, -128, 127).astype(np.int8)


def conv2d(x: np.ndarray, weight: np.ndarray, stride: tuple, padding: tuple) -> np.ndarray:
    """sum_{c,i,j} W[o,c,i,j] * xpad[n, c, sh*y+i, sw*x+j] for a batch (N, C, H, W).

    Integer inputs give the exact integer sums: every product and partial sum
    is an integer below 2**53, so float64 arithmetic is exact and lets BLAS do
    the work."""
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, weight.shape[2:], axis=(2, 3))[:, :, ::sh, ::sw]
    exact = np.issubdtype(x.dtype, np.integer)
    dtype = np.float64 if exact else np.float32
    out = np.einsum("ncyxij,ocij->noyx", windows.astype(dtype), weight.astype(dtype), optimize=True)
    return np.rint(out).astype(np.int64) if exact else out


def linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """sum_i W[o, i] * x[n, i]; exact for integers, as conv2d."""
    exact = np.issubdtype(x.dtype, np.integer)
    dtype = np.float64 if exact else np.float32
    out = x.astype(dtype) @ weight.astype(dtype).T
    return np.rint(out).astype(np.int64) if exact else out


def _windows(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]


def max_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    return _windows(x, k, s).max(axis=(-2, -1))


def avg_pool(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """int8: the window mean rounded half up, floor((2 sum + n) / 2n); float: the mean."""
    w = _windows(x, k, s)
    if np.issubdtype(x.dtype, np.integer):
        n = k * k
        total = w.astype(np.int32).sum(axis=(-2, -1))
        return np.floor_divide(2 * total + n, 2 * n).astype(x.dtype)
    return w.mean(axis=(-2, -1), dtype=np.float32)


# -- executing a network -----------------------------------------------------------


def _batch(network: Network, images: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(images)
    single = x.ndim == 3
    return (x[None] if single else x), single


def run(network: Network, images: np.ndarray, *, all_layers: bool = False) -> Union[np.ndarray, list]:
    """The int8 output of ``network`` for a batch of (N, C, H, W) images.

    Float images are quantized with the network's input scale; int8 images pass
    as they are; a single (C, H, W) image gives an unbatched result.  Returns an
    int8 array of the last layer's shape, (N, C, H, W) or (N, F), or with
    ``all_layers=True`` the list of every layer's int8 output."""
    x, single = _batch(network, images)
    x = network.quantize_input(x)
    outputs = []
    for layer in network.layers:
        if isinstance(layer, Conv2d):
            acc = conv2d(x, layer.weight, layer.stride, layer.padding)
            x = requantize(acc + layer.bias.astype(np.int64)[None, :, None, None], layer.multiplier, layer.shift)
        elif isinstance(layer, Linear):
            acc = linear(x, layer.weight)
            x = requantize(acc + layer.bias.astype(np.int64)[None, :], layer.multiplier, layer.shift)
        else:
            x = _shape_layer(layer, x)
        outputs.append(x)
    if single:
        outputs = [o[0] for o in outputs]
    return outputs if all_layers else outputs[-1]


def run_float(network: Network, images: np.ndarray, *, all_layers: bool = False) -> Union[np.ndarray, list]:
    """The real-valued model behind ``network``: float32, dequantized weights and
    biases, no rounding of activations.  Float images are used as they are; int8
    images are dequantized with the input scale."""
    x, single = _batch(network, images)
    if x.dtype == np.int8:
        x = x.astype(np.float32) * np.float32(network.input_scale)
    elif not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"images must be float or int8, got {x.dtype}")
    network.quantize_input(x)  # shape and value checks
    x = x.astype(np.float32)
    scale = network.input_scale
    outputs = []
    for layer in network.layers:
        if isinstance(layer, (Conv2d, Linear)):
            if layer.weight_scale is None or layer.output_scale is None:
                raise InputError(f"{layer.name} has no float scales; run_float needs a quantized float model")
            ws = np.asarray(layer.weight_scale, dtype=np.float64)
            wshape = (-1,) + (1,) * (layer.weight.ndim - 1)
            w = (layer.weight * ws.reshape(wshape)).astype(np.float32)
            b = (layer.bias * (scale * ws)).astype(np.float32)
            if isinstance(layer, Conv2d):
                x = conv2d(x, w, layer.stride, layer.padding) + b[None, :, None, None]
            else:
                x = linear(x, w) + b[None, :]
            scale = layer.output_scale
        else:
            x = _shape_layer(layer, x)
        outputs.append(x.astype(np.float32))
    if single:
        outputs = [o[0] for o in outputs]
    return outputs if all_layers else outputs[-1]


def _shape_layer(layer, x: np.ndarray) -> np.ndarray:
    if isinstance(layer, ReLU):
        return np.maximum(x, 0).astype(x.dtype)
    if isinstance(layer, MaxPool2d):
        return max_pool(x, layer.kernel_size, layer.stride)
    if isinstance(layer, AvgPool2d):
        return avg_pool(x, layer.kernel_size, layer.stride)
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1)
    raise TypeError(f"unexpected layer {layer!r}")  # pragma: no cover - Network validates
