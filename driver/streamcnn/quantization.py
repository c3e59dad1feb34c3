"""Post-training int8 quantization: float layers + calibration images -> :class:`Network`.

Weights are symmetric: one scale per output channel, max|w| / 127, zero point 0.
Each activation tensor gets a scale and a zero point from its range over the
calibration images, widened to include 0 (onnxruntime's default MinMax
calibration): ``[lo, hi]`` maps onto the 256 int8 levels, so a tensor after a
ReLU (lo = 0) is unsigned, zero point -128, and uses all 256 levels.  The
requantization factor ``input_scale * weight_scale / output_scale`` becomes an
integer multiplier below 2**24 and a right shift (:func:`requant_params`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

from . import golden
from .errors import InputError, NetworkError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU

MULT_BITS = 24
MAX_SHIFT = 63


@dataclass(eq=False)
class FloatConv2d:
    """A float convolution to be quantized: weight (out, in, kh, kw), bias (out,);
    stride and padding are ints or (height, width) pairs."""

    weight: np.ndarray
    bias: Optional[np.ndarray] = None
    stride: Union[int, tuple] = 1
    padding: Union[int, tuple] = 0
    name: str = ""


@dataclass(eq=False)
class FloatLinear:
    """A float fully-connected layer to be quantized: weight (out, in), bias (out,)."""

    weight: np.ndarray
    bias: Optional[np.ndarray] = None
    name: str = ""


FloatLayer = Union[FloatConv2d, FloatLinear, MaxPool2d, AvgPool2d, ReLU, Flatten]


def requant_params(real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer (multiplier, shift) with multiplier / 2**shift ~= real, multiplier < 2**24.

    The multiplier is normalised into [2**23, 2**24) for 24 significant bits;
    factors too small for the 63-bit shift lose bits (down to 0), and factors of
    2**24 or more saturate (no layer needs them: they mean the output scale is
    far finer than the input's)."""
    real = np.asarray(real, dtype=np.float64)
    if np.any(real < 0) or not np.all(np.isfinite(real)):
        raise NetworkError("requantization factors must be finite and non-negative")
    mult = np.zeros(real.shape, dtype=np.int64)
    shift = np.zeros(real.shape, dtype=np.int64)
    pos = real > 0
    # saturate first: a factor beyond int64 would wrap in the cast below
    real = np.minimum(real, float(1 << MULT_BITS))
    exp = np.floor(np.log2(real[pos])).astype(np.int64)
    s = np.clip(MULT_BITS - 1 - exp, 0, MAX_SHIFT)
    m = np.rint(np.ldexp(real[pos], s)).astype(np.int64)
    # rounding can reach 2**24 exactly: one less shift, same value
    over = m >= (1 << MULT_BITS)
    s = np.where(over & (s > 0), s - 1, s)
    m = np.where(over, np.rint(np.ldexp(real[pos], s)).astype(np.int64), m)
    mult[pos] = np.minimum(m, (1 << MULT_BITS) - 1)
    shift[pos] = s
    return mult, shift


#: The weight widths streamcnn quantizes to (and the accelerator streams, docs/protocol.md).
WEIGHT_BITS = (8, 4, 2)


def weight_levels(bits: int) -> int:
    """The largest weight of a symmetric ``bits``-bit range: 127, 7 or 1."""
    if isinstance(bits, bool) or bits not in WEIGHT_BITS:
        raise NetworkError(f"weight_bits must be one of {', '.join(map(str, WEIGHT_BITS))}, got {bits!r}")
    return (1 << (bits - 1)) - 1


def quantize_weights(w: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric ``bits``-bit weights (in int8) and their scales (axis 0):
    w / scale rounded, scale = max|w| / (2^(bits-1) - 1).  A zero weight stays zero, so pruned
    blocks stay absent."""
    levels = weight_levels(bits)
    w = np.asarray(w, dtype=np.float64)
    peak = np.abs(w.reshape(w.shape[0], -1)).max(axis=1)
    scale = np.where(peak > 0, peak / levels, 1.0)
    q = np.rint(w / scale.reshape((-1,) + (1,) * (w.ndim - 1)))
    return np.clip(q, -levels, levels).astype(np.int8), scale


def quantize_bias(b: Optional[np.ndarray], out: int, input_scale: float, weight_scale: np.ndarray) -> np.ndarray:
    """int32 bias in units of input_scale * weight_scale (saturating)."""
    if b is None:
        return np.zeros(out, dtype=np.int32)
    q = np.rint(np.asarray(b, dtype=np.float64) / (input_scale * weight_scale))
    return np.clip(q, -(2**31), 2**31 - 1).astype(np.int32)


def activation_params(a: np.ndarray) -> tuple[float, int]:
    """Scale and zero point of an activation tensor from its values: [min(a, 0), max(a, 0)]
    onto [-128, 127], the zero point rounded so that a real 0 is exact (padding, ReLU)."""
    lo = min(float(a.min()), 0.0) if a.size else 0.0
    hi = max(float(a.max()), 0.0) if a.size else 0.0
    if hi - lo <= 0:
        return 1e-8, 0
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(np.rint(-128 - lo / scale), -128, 127))


def quantize(
    input_shape: Sequence[int],
    layers: Sequence[FloatLayer],
    calibration_images: np.ndarray,
    *,
    input_scale: Optional[float] = None,
    input_zero_point: Optional[int] = None,
    weight_bits: int = 8,
    name: str = "network",
) -> Network:
    """Quantize float layers into an int8 :class:`Network`.

    ``calibration_images`` (N, C, H, W) float set every activation's scale and zero point
    (:func:`activation_params`); the input's too unless ``input_scale`` is given (its zero
    point then ``input_zero_point``, 0 by default: symmetric).  Weights are ``weight_bits``
    wide (8, 4 or 2), or per layer a dict from layer name to width (8 for layers not named)."""
    x = np.asarray(calibration_images, dtype=np.float32)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(input_shape):
        raise NetworkError(f"calibration images must be (N, {', '.join(map(str, input_shape))}), got {x.shape}")
    if len(x) == 0:
        raise InputError("no calibration images: they set every activation scale")
    if not np.all(np.isfinite(x)):
        raise InputError("the calibration images contain NaN or infinity")
    if input_scale is None and not np.any(x):
        raise InputError("the calibration images are all zero, so they set no input scale; pass real images "
                         "or input_scale=")
    if input_scale is not None:  # checked before float(): "a", [0.1] and True are not scales
        if isinstance(input_scale, (bool, np.bool_)) or not isinstance(input_scale, (int, float, np.integer,
                                                                                      np.floating)):
            raise NetworkError(f"input_scale must be a number, got {input_scale!r}")
    if input_scale is None:
        s_in, z_in = activation_params(x)
        if input_zero_point is not None:
            raise NetworkError("input_zero_point needs input_scale: without them both come from the calibration images")
    else:
        s_in, z_in = float(input_scale), 0 if input_zero_point is None else input_zero_point
    if not np.isfinite(s_in) or s_in <= 0:
        raise NetworkError(f"input_scale must be finite and positive, got {input_scale!r}")
    scale = s_in
    out_layers = []
    layers = list(layers)
    for i, layer in enumerate(layers):
        if isinstance(layer, (FloatConv2d, FloatLinear)):
            conv = isinstance(layer, FloatConv2d)
            w = np.asarray(layer.weight, dtype=np.float32)
            b = None if layer.bias is None else np.asarray(layer.bias, dtype=np.float32)
            where = layer.name or f"layer {i} ({type(layer).__name__})"
            if not np.all(np.isfinite(w)) or (b is not None and not np.all(np.isfinite(b))):
                raise NetworkError(f"{where}: its weights or bias contain NaN or infinity")
            y = golden.conv2d(x, w, layer.stride, layer.padding) if conv else golden.linear(x, w)
            if b is not None:
                y = y + (b[None, :, None, None] if conv else b[None, :])
            followed_by_relu = i + 1 < len(layers) and isinstance(layers[i + 1], ReLU)
            s_out, z_out = activation_params(np.maximum(y, 0) if followed_by_relu else y)
            bits = weight_bits.get(layer.name, 8) if isinstance(weight_bits, dict) else weight_bits
            wq, ws = quantize_weights(w, bits)
            mult, shift = requant_params(scale * ws / s_out)
            common = dict(
                weight=wq, bias=quantize_bias(b, w.shape[0], scale, ws), multiplier=mult, shift=shift,
                weight_scale=ws, output_scale=s_out, output_zero_point=z_out, name=layer.name,
            )
            out_layers.append(Conv2d(stride=layer.stride, padding=layer.padding, **common) if conv else Linear(**common))
            x, scale = y, s_out
        else:
            out_layers.append(layer)
            x = golden._shape_layer(layer, x)
    return Network(tuple(input_shape), out_layers, input_scale=s_in, input_zero_point=z_in, name=name)
