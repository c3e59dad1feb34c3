"""A QDQ model as it was quantized: its int8 weights, its scales and zero points -> :class:`Network`.

onnxruntime's ``quantize_static`` (QDQ format) writes a float graph with a QuantizeLinear and
a DequantizeLinear around every activation and a DequantizeLinear after every integer weight;
onnxruntime fuses each Conv or Gemm with them into one integer kernel (docs/onnxruntime-qdq.md).
This module builds the network those kernels compute, recalibrating nothing:

* the input's scale and zero point are the first QuantizeLinear's;
* a Conv or Gemm keeps the model's integer weights (per output channel or per tensor, zero
  point 0, or one that leaves them within int8) and its int32 bias, and takes the scale and
  zero point of the QuantizeLinear after it; its requantization factor is onnxruntime's
  float32 ``x_scale * w_scale / y_scale`` (Gemm: ``alpha * x_scale * w_scale / y_scale``),
  which a 24-bit multiplier and a shift hold exactly (:func:`requant_params`);
* pooling, ReLU and Flatten keep their input's scale and zero point, as onnxruntime's fused
  kernels do; a QuantizeLinear after them with other parameters would need a requantization
  the accelerator does not have, and is refused, naming the node;
* a uint8 tensor (QUInt8) is the int8 ``q - 128`` with zero point ``z - 128``: the same
  values, so outputs compare as ``onnxruntime_output.astype(int) - 128``.

What streamcnn computes differently is documented and measured (docs/numerics.md): its
requantization rounds the exact product half to even where onnxruntime rounds a float32
product (at most 1 step apart, about once in a million values), and its average pooling is
the exact mean rounded half to even where onnxruntime's is a float32 mean whose ties fall
either way.  Where the model cannot be represented at all, the error says so and where.
"""
from __future__ import annotations

import warnings
from typing import Optional

import numpy as np

from .errors import NetworkError, UnsupportedError
from .importers_onnx import QDQ
from .importers_onnx_graph import describe
from .network import Conv2d, Linear, Network
from .quantization import FloatConv2d, FloatLinear, requant_params

#: The element types of a quantized activation the accelerator holds: 8 bits.
_ACTIVATION_TYPES = (np.dtype(np.int8), np.dtype(np.uint8))


def is_qdq(qdq: QDQ) -> bool:
    """Whether the model quantizes its activations (else it is a float model, or one with only
    its weights quantized, which streamcnn calibrates itself)."""
    return bool(qdq.activations)


def _activation(scale, zero_point, dtype, node) -> tuple[np.float32, int]:
    """A QuantizeLinear's (float32 scale, zero point in streamcnn's int8 terms)."""
    where = f"QuantizeLinear {describe(node)}"
    if np.dtype(dtype) not in _ACTIVATION_TYPES:
        raise UnsupportedError(f"{where} quantizes to {np.dtype(dtype)}; streamcnn's activations are 8-bit "
                               f"(int8 or uint8)")
    s = np.asarray(scale, np.float32).reshape(-1)
    z = np.zeros(1, np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64).reshape(-1)
    if s.size != 1 or z.size != 1:
        raise UnsupportedError(f"{where}: an activation with one scale per channel is not supported (one per "
                               f"tensor is)")
    if not np.isfinite(s[0]) or s[0] <= 0:
        raise NetworkError(f"{where}: its scale {s[0]} is not finite and positive")
    zp = int(z[0]) - (128 if np.dtype(dtype) == np.uint8 else 0)
    return s[0], zp


def _weights(layer, record, trans_b: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The layer's integer weights less their zero point, as int8 in the float layer's shape
    ((out, in, kh, kw) or (out, in)), and their float32 scale per output channel."""
    raw, scale, zp, axis = record
    raw = np.asarray(raw).astype(np.int64)
    out = np.shape(layer.weight)[0]
    # the output channels' axis of the ONNX tensor: a Gemm keeps (in, out) unless transB, a MatMul always
    out_axis = 0 if isinstance(layer, FloatConv2d) or trans_b else 1
    scale = np.asarray(scale, np.float32).reshape(-1)
    z = np.zeros(1, np.int64) if zp is None else np.asarray(zp).astype(np.int64).reshape(-1)
    if scale.size > 1 and (scale.size != out or axis % raw.ndim != out_axis):
        raise UnsupportedError(f"{where}: weight scales along axis {axis} (not one per output channel, nor one per "
                               f"tensor) are not supported")
    if z.size not in (1, scale.size):
        raise UnsupportedError(f"{where}: {z.size} weight zero points for {scale.size} scales")
    shape = [1] * raw.ndim
    shape[out_axis] = -1
    centred = raw - z.reshape(shape)
    if out_axis == 1:
        centred = centred.T
    if centred.min(initial=0) < -128 or centred.max(initial=0) > 127:
        raise UnsupportedError(f"{where}: its weights less their zero point span [{centred.min()}, {centred.max()}], "
                               f"beyond int8; quantize weights as QInt8 (symmetric)")
    return centred.astype(np.int8), np.broadcast_to(scale, (out,)).copy()


def _bias(layer, record, x_scale: np.float32, w_scale: np.ndarray, where: str) -> np.ndarray:
    """The int32 bias in units of x_scale * w_scale: the model's own integers, which onnxruntime's
    kernels add as they are; a float bias (not quantized in the model) is rounded to them."""
    out = len(w_scale)
    unit = (x_scale * w_scale).astype(np.float32)  # what onnxruntime's quantizer divides by
    if record is not None:
        q = np.asarray(record[0]).astype(np.int64).reshape(-1)
        q = np.broadcast_to(q, (out,)) if q.size == 1 else q
        if q.min(initial=0) < -(2**31) or q.max(initial=0) >= 2**31:
            raise NetworkError(f"{where}: its bias leaves int32")
        scale = np.broadcast_to(np.asarray(record[1], np.float64).reshape(-1), (out,))
        if not np.allclose(scale, unit, rtol=1e-6, atol=0):
            warnings.warn(f"{where}: its bias's scale differs from input scale x weight scale; onnxruntime's "
                          f"kernel and streamcnn take the int32 values as they are", stacklevel=3)
        return q.astype(np.int32)
    if layer.bias is None:
        return np.zeros(out, np.int32)
    q = np.rint(np.asarray(layer.bias, np.float64) / unit.astype(np.float64))
    if q.min(initial=0) < -(2**31) or q.max(initial=0) >= 2**31:
        raise NetworkError(f"{where}: its float bias in steps of input scale x weight scale leaves int32")
    return q.astype(np.int32)


def input_shape(model, images: Optional[np.ndarray]) -> tuple:
    """(C, H, W) of the model's input: the images' if given (which must agree with the graph's
    declared sizes), else the graph's, which must then be fixed."""
    graph_input = next((i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}), None)
    dims = []
    if graph_input is not None and graph_input.type.HasField("tensor_type"):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in graph_input.type.tensor_type.shape.dim]
    declared = tuple(dims[1:]) if len(dims) == 4 else None
    if images is not None:
        shape = tuple(int(v) for v in images.shape[1:])
        if declared is not None and any(d is not None and d != v for d, v in zip(declared, shape)):
            raise NetworkError(f"the images have shape {shape}, the model's input {declared}")
        return shape
    if declared is None or any(d is None or d < 1 for d in declared):
        raise UnsupportedError(f"the model's input has no fixed (C, H, W) size ({dims or 'none declared'}); pass "
                               f"images (calibration_images=) to give it one")
    return declared


def network(layers: list, qdq: QDQ, input_shape: tuple, name: str, metadata: dict) -> Network:
    """The int8 network a QDQ model's fused kernels compute (module docstring)."""
    acts: dict = {}
    for count, scale, zp, dtype, node in qdq.activations:
        acts.setdefault(count, []).append((_activation(scale, zp, dtype, node), node))
    if 0 not in acts:
        raise UnsupportedError("the model quantizes activations but not its input (no QuantizeLinear on the "
                               "input); streamcnn runs a model whose every activation is quantized")
    (x_scale, x_zero), _ = acts[0][0]
    for params, node in acts[0][1:]:
        if params != (x_scale, x_zero):
            raise UnsupportedError(f"QuantizeLinear {describe(node)} requantizes the input; the accelerator takes "
                                   f"one input scale")
    current = (x_scale, x_zero)
    out_layers = []
    for i, layer in enumerate(layers):
        where = layer.name or f"layer {i}"
        mine = acts.get(i + 1, [])
        if isinstance(layer, (FloatConv2d, FloatLinear)):
            if not mine:
                raise UnsupportedError(f"{where}: its output is not quantized (no QuantizeLinear after it); "
                                       f"streamcnn runs a model whose every activation is quantized")
            if i not in qdq.weights:
                raise UnsupportedError(f"{where}: its weights are float, not an integer tensor behind a "
                                       f"DequantizeLinear; quantize the model with its weights")
            (y_scale, y_zero), node = mine[-1]
            if len({p for p, _ in mine}) > 1 and i in qdq.merged:
                warnings.warn(f"{where}: a MatMul and an Add, each requantized; streamcnn runs them as one layer, "
                              f"requantized once (up to 1 step from onnxruntime's double rounding)", stacklevel=3)
            alpha, beta, trans_b = qdq.gemm.get(i, (1.0, 1.0, 0))
            weight, w_scale = _weights(layer, qdq.weights[i], trans_b, where)
            if beta != 1.0 and i in qdq.biases:
                raise UnsupportedError(f"{where}: a Gemm with beta {beta} on an integer bias is not supported")
            bias = _bias(layer, qdq.biases.get(i), current[0], w_scale, where)
            # onnxruntime's order of float32 operations (qlinearconv.cc, quant_gemm.cc)
            in_scale = current[0]
            if isinstance(layer, FloatLinear) and alpha != 1.0:
                in_scale = np.float32(np.float32(alpha) * in_scale)
            factor = (in_scale * w_scale).astype(np.float32) / y_scale
            mult, shift = requant_params(factor.astype(np.float32).astype(np.float64))
            common = dict(weight=weight.reshape(np.shape(layer.weight)), bias=bias,
                          multiplier=mult, shift=shift, weight_scale=w_scale.astype(np.float64) * alpha,
                          output_scale=float(y_scale), output_zero_point=y_zero, name=layer.name)
            if isinstance(layer, FloatConv2d):
                out_layers.append(Conv2d(stride=layer.stride, padding=layer.padding, **common))
            else:
                out_layers.append(Linear(**common))
            current = (y_scale, y_zero)
        else:
            for params, node in mine:
                if params != current:
                    raise UnsupportedError(
                        f"QuantizeLinear {describe(node)} after {where} changes the scale or zero point "
                        f"({current[0]:.6g}, {current[1]}) to ({params[0]:.6g}, {params[1]}); the accelerator's "
                        f"{type(layer).__name__} keeps them (onnxruntime's fused kernels share them too)")
            out_layers.append(layer)
    return Network(tuple(input_shape), out_layers, input_scale=float(x_scale), input_zero_point=x_zero,
                   name=name, metadata=metadata)
