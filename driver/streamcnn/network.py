"""The network description: int8 layers, their shapes, and the limits they must fit.

A :class:`Network` is what every other part of streamcnn consumes: the golden
model executes it, the program compiler turns it into the wire format, and a
device runs the compiled program.  Its layers follow PyTorch's names and
conventions (NCHW activations, ``Conv2d`` weights as (out, in, k, k), ``Linear``
weights as (out, in), ``Flatten`` in C, H, W order).

Quantization (docs/numerics.md): activations are int8 with one scale and one
zero point per tensor (a real value is ``scale * (q - zero_point)``; an unsigned
uint8 tensor of another runtime is the int8 ``q - 128`` with zero point
``zero_point - 128``); weights are int8 with one scale per output channel and
zero point 0; biases are int32 in units of ``input_scale * weight_scale``.  Each
Conv2d and Linear carries its requantization as an integer multiplier (< 2**24)
and right shift (0..63) per output channel, and its output's zero point.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .caps import Capabilities
from .errors import InputError, NetworkError

Shape = tuple  # (C, H, W) before Flatten, (F,) after


def _check_requant(name: str, out: int, bias, multiplier, shift) -> None:
    for what, arr, dtype in (("bias", bias, np.int32), ("multiplier", multiplier, np.int64), ("shift", shift, np.int64)):
        if arr.shape != (out,):
            raise NetworkError(f"{name}: {what} has shape {arr.shape}, expected ({out},)")
        if arr.dtype != dtype:
            raise NetworkError(f"{name}: {what} must be {np.dtype(dtype).name}, got {arr.dtype}")
    if multiplier.min(initial=0) < 0 or multiplier.max(initial=0) >= 1 << 24:
        raise NetworkError(f"{name}: requantization multipliers must lie in [0, 2**24)")
    if shift.min(initial=0) < 0 or shift.max(initial=0) > 63:
        raise NetworkError(f"{name}: requantization shifts must lie in [0, 63]")


def _check_scales(name: str, out: int, weight_scale, output_scale) -> None:
    """Scales are optional (the integer arithmetic does not use them), but present ones must
    be usable: a NaN or a zero here silently ruins dequantized outputs and run_float."""
    if weight_scale is not None:
        try:
            ws = np.asarray(weight_scale, dtype=np.float64)
        except (TypeError, ValueError):
            ws = None
        if ws is None or ws.shape != (out,):
            raise NetworkError(f"{name}: weight_scale must be {out} numbers (one per output channel), "
                               f"got {np.shape(weight_scale)}")
        if not np.all(np.isfinite(ws)) or np.any(ws <= 0):
            raise NetworkError(f"{name}: weight scales must be finite and positive")
    if output_scale is not None:
        _positive_scale(f"{name}: output_scale", output_scale)


def _check_zero_point(name: str, zero_point) -> int:
    if isinstance(zero_point, (bool, np.bool_)) or not isinstance(zero_point, (int, np.integer)):
        raise NetworkError(f"{name}: a zero point must be an integer, got {zero_point!r}")
    if not -128 <= int(zero_point) <= 127:
        raise NetworkError(f"{name}: a zero point must lie in the int8 range [-128, 127], got {zero_point} (a uint8 "
                           f"tensor's zero point z is z - 128 here, its values q - 128)")
    return int(zero_point)


def _positive_scale(what: str, value) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise NetworkError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise NetworkError(f"{what} must be finite and positive, got {v}")


def integer(v, what: str = "value") -> int:
    """``v`` as an int, refusing what is not a whole number (2.5, True, "3")."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise NetworkError(f"{what} must be an integer, got {v!r}")
    return int(v)


def pair(v, what: str = "value") -> tuple[int, int]:
    """PyTorch's convention: an int means the same value for height and width."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise NetworkError(f"expected an int or a (height, width) pair, got {v!r}")
        return (integer(v[0], what), integer(v[1], what))
    return (integer(v, what), integer(v, what))


@dataclass(eq=False)
class Conv2d:
    """2-D convolution with zero padding, int8 weights (out, in, kh, kw).

    ``stride`` and ``padding`` are ints or (height, width) pairs, as in PyTorch."""

    weight: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    stride: Union[int, tuple] = 1
    padding: Union[int, tuple] = 0
    weight_scale: Optional[np.ndarray] = None
    output_scale: Optional[float] = None
    name: str = ""
    #: the output's zero point: requantization adds it, a ReLU clamps at it
    output_zero_point: int = 0

    def __post_init__(self) -> None:
        self.stride, self.padding = pair(self.stride, "stride"), pair(self.padding, "padding")

    @property
    def kernel_size(self) -> tuple[int, int]:
        return (int(self.weight.shape[2]), int(self.weight.shape[3]))

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 3:
            raise NetworkError(f"{self.name}: Conv2d needs a (C, H, W) input, got {shape}")
        if self.weight.dtype != np.int8 or self.weight.ndim != 4:
            raise NetworkError(f"{self.name}: weights must be a 4-D int8 array, got {self.weight.dtype} "
                               f"{self.weight.shape}")
        out, cin, kh, kw = self.weight.shape
        if min(out, cin, kh, kw) < 1:
            raise NetworkError(f"{self.name}: weights of shape {self.weight.shape}: every dimension (output "
                               f"channels, input channels, kernel height and width) must be at least 1")
        if cin != shape[0]:
            raise NetworkError(f"{self.name}: weights expect {cin} input channels, the input has {shape[0]}")
        if min(self.stride) < 1 or min(self.padding) < 0:
            raise NetworkError(f"{self.name}: stride must be >= 1 and padding >= 0")
        _check_requant(self.name, out, self.bias, self.multiplier, self.shift)
        _check_scales(self.name, out, self.weight_scale, self.output_scale)
        self.output_zero_point = _check_zero_point(self.name, self.output_zero_point)
        h = shape[1] + 2 * self.padding[0] - kh
        w = shape[2] + 2 * self.padding[1] - kw
        if h < 0 or w < 0:
            raise NetworkError(f"{self.name}: a {kh}x{kw} kernel does not fit the {shape[1]}x{shape[2]} input")
        return (out, h // self.stride[0] + 1, w // self.stride[1] + 1)


@dataclass(eq=False)
class Linear:
    """Fully-connected layer, int8 weights (out, in)."""

    weight: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    weight_scale: Optional[np.ndarray] = None
    output_scale: Optional[float] = None
    name: str = ""
    #: the output's zero point: requantization adds it, a ReLU clamps at it
    output_zero_point: int = 0

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) != 1:
            raise NetworkError(f"{self.name}: Linear needs a flat input; add a Flatten before it (input {shape})")
        if self.weight.dtype != np.int8 or self.weight.ndim != 2:
            raise NetworkError(f"{self.name}: weights must be a 2-D int8 array")
        out, fin = self.weight.shape
        if min(out, fin) < 1:
            raise NetworkError(f"{self.name}: weights of shape {self.weight.shape}: a Linear needs at least one "
                               f"input and one output feature")
        if fin != shape[0]:
            raise NetworkError(f"{self.name}: weights expect {fin} inputs, the input has {shape[0]}")
        _check_requant(self.name, out, self.bias, self.multiplier, self.shift)
        _check_scales(self.name, out, self.weight_scale, self.output_scale)
        self.output_zero_point = _check_zero_point(self.name, self.output_zero_point)
        return (out,)


@dataclass(eq=False)
class _Pool:
    kernel_size: int
    stride: Optional[int] = None
    name: str = ""

    def __post_init__(self) -> None:
        kind = type(self).__name__
        self.kernel_size = integer(self.kernel_size, f"{kind} kernel_size")
        self.stride = self.kernel_size if self.stride is None else integer(self.stride, f"{kind} stride")

    def output_shape(self, shape: Shape) -> Shape:
        kind = type(self).__name__
        if len(shape) != 3:
            raise NetworkError(f"{self.name}: {kind} needs a (C, H, W) input, got {shape}")
        k, s = self.kernel_size, self.stride
        if k < 1 or s < 1:
            raise NetworkError(f"{self.name}: {kind} kernel and stride must be >= 1")
        if shape[1] < k or shape[2] < k:
            raise NetworkError(f"{self.name}: a {k}x{k} {kind} does not fit the {shape[1]}x{shape[2]} input")
        return (shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1)


class MaxPool2d(_Pool):
    """Max pooling, no padding, floor mode (PyTorch's defaults)."""


class AvgPool2d(_Pool):
    """Average pooling, no padding, floor mode; int8 result rounded half to even."""


@dataclass(eq=False)
class ReLU:
    """max(x, 0) on real values: max(q, zero point) on the int8 ones."""

    name: str = ""

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(eq=False)
class Flatten:
    """(C, H, W) -> (C*H*W,), in PyTorch's order: channel slowest, then row, then column;
    (F,) stays (F,)."""

    name: str = ""

    def output_shape(self, shape: Shape) -> Shape:
        return (int(np.prod(shape)),)  # a flat input stays as it is


def folded_bias(layer: Union[Conv2d, Linear], input_zero_point: int) -> np.ndarray:
    """int64 ``bias - input_zero_point * sum(W[o])``: the bias that makes the sum over raw int8
    inputs (padding holding the zero point) equal the sum over ``x - zero point``."""
    wsum = layer.weight.reshape(layer.weight.shape[0], -1).astype(np.int64).sum(axis=1)
    return layer.bias.astype(np.int64) - int(input_zero_point) * wsum


Layer = Union[Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Flatten]
LAYER_TYPES = (Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Flatten)
#: Float images whose values reach beyond this many times the int8 range are refused, not clipped.
OUT_OF_RANGE_FACTOR = 2


def as_images(images) -> np.ndarray:
    """``images`` as a NumPy array, :class:`InputError` if NumPy cannot make one (a ragged list)."""
    try:
        return np.asarray(images)
    except ValueError as e:
        raise InputError(f"images must be an (N, C, H, W) array: {e}") from None


#: The longest network name: it is quoted in error messages, which stay on one line.
MAX_NAME = 255


def check_name(name) -> str:
    """A network's name: a non-empty string of at most MAX_NAME printable characters (model
    files, reports and one-line error messages carry it)."""
    if not isinstance(name, str) or not name.strip():
        raise NetworkError(f"a network's name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME or not name.isprintable():
        raise NetworkError(f"a network's name must be at most {MAX_NAME} printable characters (no line breaks), "
                           f"got {name[:40]!r}{'...' if len(name) > 40 else ''} ({len(name)} characters)")
    return name


def _is_number_pair(v) -> bool:
    return (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        and math.isfinite(x) for x in v) and v[0] <= v[1])


#: The metadata keys streamcnn itself reads, and what each must be.
METADATA_KEYS = {
    "dataset": ("a string", lambda v: isinstance(v, str)),
    "image_preprocessing": ("a string", lambda v: isinstance(v, str)),
    "labels": ("a list of strings", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
    "input_statistics": ("an object whose ranges map feature names to [low, high] pairs of numbers",
                         lambda v: isinstance(v, dict) and isinstance(v.get("ranges", {}), dict)
                         and all(_is_number_pair(r) for r in v.get("ranges", {}).values())),
}


def check_metadata(metadata) -> dict:
    """A network's metadata: a dict that JSON can hold, since model files keep it, whose keys that
    streamcnn reads (METADATA_KEYS) have the types it reads them as."""
    if not isinstance(metadata, dict):
        raise NetworkError(f"metadata must be a dict, got {type(metadata).__name__}")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        raise NetworkError(f"metadata must be JSON-serializable (model files keep it): {e}") from None
    for key, (what, ok) in METADATA_KEYS.items():
        if key in metadata and not ok(metadata[key]):
            raise NetworkError(f"metadata[{key!r}] must be {what}, got {str(metadata[key])[:60]}")
    return metadata


@dataclass(eq=False)
class Network:
    """An int8 CNN: input shape (C, H, W), input scale and a list of layers."""

    input_shape: Shape
    layers: list = field(default_factory=list)
    input_scale: float = 1.0
    name: str = "network"
    #: Free-form, JSON-serializable facts kept in model files (labels, preprocessing, accuracy, ...).
    metadata: dict = field(default_factory=dict)
    #: the input's zero point: a real 0 is this int8 value (and padding takes it)
    input_zero_point: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.input_shape, (tuple, list)) or len(self.input_shape) != 3:
            raise NetworkError(f"input_shape must be (C, H, W), got {self.input_shape!r}")
        self.input_shape = tuple(integer(v, "input_shape") for v in self.input_shape)
        if min(self.input_shape) < 1:
            raise NetworkError(f"input_shape must be (C, H, W) with positive sizes, got {self.input_shape}")
        check_name(self.name)
        check_metadata(self.metadata)
        _positive_scale(f"{self.name}: input_scale", self.input_scale)
        self.input_scale = float(self.input_scale)
        self.input_zero_point = _check_zero_point(f"{self.name}: input", self.input_zero_point)
        if not self.layers:
            raise NetworkError("a network needs at least one layer")
        names = set()
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, LAYER_TYPES):
                raise NetworkError(f"layer {i} is a {type(layer).__name__}, which streamcnn does not support")
            if not layer.name:
                layer.name = f"{type(layer).__name__.lower()}{i}"
            if layer.name in names:
                raise NetworkError(f"two layers are named {layer.name!r}")
            names.add(layer.name)
        self.shapes()  # validates the structure
        self._check_folded_biases()

    def _check_folded_biases(self) -> None:
        """The accelerator folds a layer's input zero point into its bias (bias - z * sum(W[o]),
        docs/numerics.md), in the bias's int32: refuse a network where that leaves int32."""
        for layer, z in zip(self.layers, self.zero_points(inputs=True)):
            if isinstance(layer, (Conv2d, Linear)) and z != 0:
                folded = folded_bias(layer, z)
                bad = np.flatnonzero((folded < -(2**31)) | (folded >= 2**31))
                if bad.size:
                    raise NetworkError(f"{layer.name}: output channel {bad[0]}'s bias minus the input zero point "
                                       f"({z}) times its weights' sum is {folded[bad[0]]}, outside int32; the "
                                       f"accelerator adds the zero point's term to the int32 bias")

    # -- shapes and scales -------------------------------------------------

    def shapes(self) -> list[Shape]:
        """The per-image output shape of every layer."""
        shapes, shape = [], self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape)
            shapes.append(shape)
        return shapes

    @property
    def output_shape(self) -> Shape:
        return self.shapes()[-1]

    def scales(self) -> list[Optional[float]]:
        """The scale of every layer's output (None where a Conv2d/Linear has none)."""
        scales, s = [], self.input_scale
        for layer in self.layers:
            if isinstance(layer, (Conv2d, Linear)):
                s = layer.output_scale
            scales.append(s)
        return scales

    @property
    def output_scale(self) -> Optional[float]:
        return self.scales()[-1]

    def zero_points(self, inputs: bool = False) -> list[int]:
        """The zero point of every layer's output (with ``inputs``, of every layer's input)."""
        points, z = [], self.input_zero_point
        for layer in self.layers:
            before = z
            if isinstance(layer, (Conv2d, Linear)):
                z = layer.output_zero_point
            points.append(before if inputs else z)
        return points

    @property
    def output_zero_point(self) -> int:
        return self.zero_points()[-1]

    # -- images --------------------------------------------------------------

    def quantize_input(self, images: np.ndarray) -> np.ndarray:
        """(N, C, H, W) images as int8: float arrays are divided by ``input_scale``
        (a float32 scale, as onnxruntime's QuantizeLinear has), rounded half to even and offset by the
        input zero point; uint8 pixels are quantized as the float32 images ``pixels / 255``
        they stand for; int8 arrays are taken as quantized already and pass as they are."""
        x = as_images(images)
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise InputError(
                f"{self.name} expects images of shape (N, {', '.join(map(str, self.input_shape))}), got {x.shape}"
            )
        if len(x) == 0:
            raise InputError(f"no images: got an empty batch of shape {x.shape}")
        if x.dtype == np.int8:
            return x
        if x.dtype == np.uint8:  # pixels: they stand for float32(p) / 255
            x = x.astype(np.float32) / np.float32(255)
        if not np.issubdtype(x.dtype, np.floating):
            raise InputError(f"images must be float (to be quantized), uint8 pixels (standing for pixels / 255) "
                             f"or int8 (already quantized), got {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise InputError("images contain NaN or infinity")
        q = np.round(x / np.float32(self.input_scale)) + self.input_zero_point
        # Values a little outside the calibrated range saturate, as in any int8 quantizer; values
        # far outside it are images prepared for another network (0-255 pixels for a 0-1 model, say).
        if q.size and np.abs(q).max() > OUT_OF_RANGE_FACTOR * 128:  # with the zero point: [-256, 256] a step
            raise InputError(
                f"images span [{x.min():.4g}, {x.max():.4g}], far outside the range {self.name} was calibrated "
                f"for (int8 steps of {self.input_scale:.4g}: about "
                f"[{(-128 - self.input_zero_point) * self.input_scale:.4g}, "
                f"{(127 - self.input_zero_point) * self.input_scale:.4g}]); preprocess them as for training "
                f"(e.g. uint8 pixels / 255)")
        return np.clip(q, -128, 127).astype(np.int8)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """int8 outputs (device or golden) as float32: (q - zero point) x scale of the last layer."""
        if self.output_scale is None:
            raise NetworkError(f"{self.name} has no output scale")
        return (q.astype(np.float32) - np.float32(self.output_zero_point)) * np.float32(self.output_scale)

    # -- limits (the hardware plan: streamcnn.lowering) ---------------------------

    def hardware_layers(self) -> int:
        """Layers the accelerator counts: a ReLU right after Conv2d/Linear is fused, a Flatten
        is free or a FLATTEN pass (see :func:`streamcnn.lowering.lower`)."""
        from .lowering import lower

        return len(lower(self).layers)

    def image_words(self) -> int:
        """The most activation words one image occupies in an on-chip buffer."""
        from .lowering import lower

        return lower(self).image_words()

    def max_batch(self, caps: Capabilities, segments: bool = True, column_packing: bool = True) -> int:
        """The largest batch whose activations fit the device's buffers (with ``segments``, the
        first layers image chunk by image chunk where that makes it fit: a SEGMENT, its first
        layer column-packed if ``column_packing`` allows)."""
        from .lowering import lower, segment_fits

        plan = lower(self)
        fits = min(caps.max_batch, caps.act_words // plan.image_words())
        for batch in range(caps.max_batch if segments else fits, fits, -1):
            if segment_fits(plan, caps, batch, column_packing):
                return batch
        return fits

    def check(self, caps: Capabilities, batch: int = 1) -> None:
        """Raise :class:`LimitError` naming the layer and the limit if this network,
        at this batch size, does not fit the device."""
        from .lowering import check

        check(self, caps, batch)

    # -- files -------------------------------------------------------------------

    def save(self, path) -> Path:
        """Write this network to a ``.scnn`` model file (see :mod:`streamcnn.modelfile`)."""
        from . import modelfile

        return modelfile.save(self, path)

    # -- display ---------------------------------------------------------------

    def summary(self) -> str:
        """A table of layers, output shapes, parameter counts, and the scale and zero point of
        every Conv2d/Linear output (a zero point of -128: unsigned)."""
        rows = [f"{self.name}: input {self.input_shape}, scale {self.input_scale:.6g}, "
                f"zero point {self.input_zero_point}"]
        for layer, shape in zip(self.layers, self.shapes()):
            params = ""
            if isinstance(layer, (Conv2d, Linear)):
                scale = "" if layer.output_scale is None else f", scale {layer.output_scale:.4g}"
                params = f"{layer.weight.size + layer.bias.size:>6} params{scale}, zero point {layer.output_zero_point}"
            rows.append(f"  {layer.name:<12} {type(layer).__name__:<10} -> {str(shape):<16} {params}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"<Network {self.name!r}: {self.input_shape} -> {self.output_shape}, {len(self.layers)} layers>"
