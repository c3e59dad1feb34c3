"""The golden model: the integer arithmetic of streamcnn, in NumPy.

This module *defines* what the accelerator computes (docs/numerics.md says the
same in prose); the accelerator must equal :func:`run` bit for bit.  Every
activation tensor is int8 with a zero point z (its real value is
scale * (q - z)).  For one image x (C x H x W, zero point zx) and each layer:

* Conv2d:   acc[o, y, x] = sum_{c, i, j} W[o, c, i, j] * (x - zx)pad[c, sh*y + i, sw*x + j]
            ((x - zx)pad: x - zx with (ph, pw) zeros above/below and left/right, i.e.
            padding holds a real 0; exact int32)
            q = requantize(acc + bias[o], M[o], S[o], zy)
* Linear:   acc[o] = sum_i W[o, i] * (x[i] - zx);  q = requantize(acc + bias[o], M[o], S[o], zy)
* requantize(v, M, S, zy) = clamp(round_half_even(f(f(v) * M) / 2**S) + zy, -128, 127)
            f: float32's rounding to 24 significant bits, ties to even, so this is
            onnxruntime's float32 v * (M / 2**S), rounded half to even, in integers (exact in int64)
* ReLU:     max(x, zx): a real max(x, 0)
* MaxPool:  max over each k x k window (stride s, no padding, floor mode)
* AvgPool:  the mean of each window of n = k*k values, rounded half to even
            (the zero point passes through: the mean of x - z is the mean of x, less z)
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

__all__ = ["run", "run_float", "requantize", "round_half_even", "to_float_bits", "conv2d", "linear", "max_pool", "avg_pool"]


# -- the arithmetic --------------------------------------------------------------


def round_half_even(num: np.ndarray, shift) -> np.ndarray:
    """num / 2**shift rounded to the nearest integer, ties to even (int64, shift >= 0)."""
    num = num.astype(np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    floor = num >> shift
    rest = num - (floor << shift)  # in [0, 2**shift)
    half = np.left_shift(np.int64(1), np.maximum(shift - 1, 0))  # 2**(shift - 1), within int64
    up = (shift > 0) & ((rest > half) | ((rest == half) & (floor & 1 == 1)))
    return floor + up


def bit_length(n: np.ndarray) -> np.ndarray:
    """Bits of each non-negative int64 up to its highest set bit (0 for 0), without floats."""
    n = n.astype(np.int64)
    length = np.zeros(n.shape, np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        high = (n >> step) > 0
        length += step * high
        n = np.where(high, n >> step, n)
    return length + (n > 0)


FLOAT_BITS = 24  # float32's significant bits


def to_float_bits(n: np.ndarray) -> np.ndarray:
    """Integers rounded to float32's 24 significant bits, ties to even (exact below 2**24)."""
    n = n.astype(np.int64)
    mag = np.abs(n)
    drop = np.maximum(bit_length(mag) - FLOAT_BITS, 0)
    return np.sign(n) * (round_half_even(mag, drop) << drop)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, zero_point: int = 0) -> np.ndarray:
    """int8 = clamp(round_half_even(f(f(acc) * M) / 2**S) + zero_point), f float32's rounding:
    onnxruntime's float32 requantization, exactly.  acc int64, M and S per channel (axis 1)."""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    m = multiplier.astype(np.int64).reshape(shape)
    s = shift.astype(np.int64).reshape(shape)
    product = to_float_bits(to_float_bits(acc) * m)
    v = round_half_even(product, s) + int(zero_point)
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
    """int8: the window mean rounded half to even; float: the mean."""
    w = _windows(x, k, s)
    if np.issubdtype(x.dtype, np.integer):
        n = k * k
        total = w.astype(np.int64).sum(axis=(-2, -1))
        mean, rest = np.divmod(total, n)  # floor, and rest in [0, n)
        up = (2 * rest > n) | ((2 * rest == n) & (mean & 1 == 1))
        return (mean + up).astype(x.dtype)
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
    z = network.input_zero_point
    outputs = []
    for layer in network.layers:
        if isinstance(layer, Conv2d):
            acc = conv2d(x.astype(np.int16) - z, layer.weight, layer.stride, layer.padding)
            z = layer.output_zero_point
            x = requantize(acc + layer.bias.astype(np.int64)[None, :, None, None], layer.multiplier, layer.shift, z)
        elif isinstance(layer, Linear):
            acc = linear(x.astype(np.int16) - z, layer.weight)
            z = layer.output_zero_point
            x = requantize(acc + layer.bias.astype(np.int64)[None, :], layer.multiplier, layer.shift, z)
        else:
            x = _shape_layer(layer, x, z)
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
        x = (x.astype(np.float32) - np.float32(network.input_zero_point)) * np.float32(network.input_scale)
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


def _shape_layer(layer, x: np.ndarray, zero_point: int = 0) -> np.ndarray:
    """A layer that keeps the scale and zero point; a ReLU clamps at the zero point (float: 0)."""
    if isinstance(layer, ReLU):
        return np.maximum(x, zero_point).astype(x.dtype)
    if isinstance(layer, MaxPool2d):
        return max_pool(x, layer.kernel_size, layer.stride)
    if isinstance(layer, AvgPool2d):
        return avg_pool(x, layer.kernel_size, layer.stride)
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1)
    raise TypeError(f"unexpected layer {layer!r}")  # pragma: no cover - Network validates
