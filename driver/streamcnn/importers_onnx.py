"""ONNX models -> float layers.  :mod:`streamcnn.importers_onnx_graph` reads the file and
checks the graph's structure (stages 1 and 2); here, stage 3 follows the chain of operators
from the input, checking every operator's attributes against the ONNX specification
(ModelFileError for values the specification forbids, UnsupportedError for valid values
streamcnn does not run, both naming the node), and converts only the tensors it uses.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ModelFileError, UnsupportedError
from .importers_common import fold_batchnorm
from .importers_onnx_graph import ARITY, Tensors, attributes, live_graph, load_model
from .importers_onnx_graph import describe as _where
from .network import AvgPool2d, Flatten, MaxPool2d, ReLU
from .quantization import FloatConv2d, FloatLinear

_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")
#: The operators read below (the shape arithmetic ones only as the batch size of a Reshape).
_KNOWN = set(ARITY)


class _Attributes:
    """A node's attributes, each checked for the type and length the ONNX specification gives."""

    def __init__(self, node):
        self.a, self.op, self.where = attributes(node), node.op_type, _where(node)

    def bad(self, key, wanted):
        return ModelFileError(f"{self.op} {self.where}: attribute {key} must be {wanted}, got {self.a[key]!r}")

    def __contains__(self, key) -> bool:
        return key in self.a

    def ints(self, key, length: int, default, least: Optional[int] = None) -> list:
        if key not in self.a:
            return list(default)
        v = self.a[key]
        if not isinstance(v, list) or len(v) != length or not all(isinstance(i, int) for i in v) or (
                least is not None and any(i < least for i in v)):
            raise self.bad(key, f"{length} integers" + (f" >= {least}" if least is not None else ""))
        return v

    def int(self, key, default: int, choices=None) -> int:
        v = self.a.get(key, default)
        if not isinstance(v, int) or (choices is not None and v not in choices):
            raise self.bad(key, "an integer" if choices is None else f"one of {list(choices)}")
        return v

    def float(self, key, default: float) -> float:
        v = self.a.get(key, default)
        if not isinstance(v, (int, float)) or not np.isfinite(v):
            raise self.bad(key, "a finite number")
        return float(v)

    def string(self, key, default: str, choices) -> str:
        v = self.a.get(key, default)
        v = v.decode(errors="replace") if isinstance(v, bytes) else v
        if v not in choices:
            raise self.bad(key, f"one of {list(choices)}")
        return v


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point, axis: int) -> np.ndarray:
    q = q.astype(np.float64)
    zp = np.zeros(1) if zero_point is None else np.asarray(zero_point, np.float64)
    scale = np.asarray(scale, np.float64)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape) if zp.size > 1 else zp
    return (q - zp) * scale


def _fold_qdq(op: str, x, scale, zp, axis: int):
    if op == "DequantizeLinear":
        return _dequantize(x, scale, zp, axis)
    s = np.asarray(scale, np.float64)  # quantize-then-dequantize of a float constant: keep its rounding
    if s.ndim == 1 and s.size > 1:
        shape = [1] * x.ndim
        shape[axis] = -1
        s = s.reshape(shape)
    z = 0 if zp is None else np.asarray(zp, np.float64).reshape(s.shape if np.ndim(zp) else ())
    info = np.iinfo(zp.dtype) if zp is not None else np.iinfo(np.uint8)
    return np.clip(np.rint(x / s) + z, info.min, info.max).astype(zp.dtype if zp is not None else np.uint8)


def _clips_negatives(node, consts) -> bool:
    """Whether an activation QuantizeLinear cannot represent negative values:
    (qmin - zero_point) * scale >= 0.  Without a zero point the output is uint8."""
    zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
    qmin = np.iinfo(zp.dtype).min if zp is not None else 0
    scale = np.asarray(consts[node.input[1]], np.float64)
    return bool(np.all((qmin - (np.asarray(zp, np.float64) if zp is not None else 0.0)) * scale >= 0))


def _bias(consts, node, name: Optional[str], out: int, where: str) -> Optional[np.ndarray]:
    if not name:
        return None
    if name not in consts:
        raise UnsupportedError(f"{node.op_type} {where}: its bias ({name!r}) is not a constant")
    b = np.asarray(consts[name], np.float64)
    if b.size == 1:
        return np.full(out, float(b.reshape(())))
    if b.ndim == 2 and b.shape[1] == out and b.shape[0] > 1:
        raise UnsupportedError(f"{node.op_type} {where}: a bias of shape {b.shape} (one row per image) is not "
                               "supported; one value per output is")
    if b.reshape(-1).shape != (out,) or b.ndim > 2:
        raise ModelFileError(f"{node.op_type} {where}: bias of shape {b.shape} for {out} outputs")
    return b.reshape(-1)


def _conv(a: _Attributes, w: np.ndarray, where: str):
    """(stride, padding) of an ONNX Conv, per the specification's defaults."""
    if w.ndim != 4:
        raise (UnsupportedError if w.ndim in (3, 5) else ModelFileError)(
            f"Conv {where}: only 2-D convolutions (4-D weights) are supported, got weights of shape {w.shape}")
    kh, kw = w.shape[2:]
    kernel = a.ints("kernel_shape", 2, [kh, kw], 1)
    if tuple(kernel) != (kh, kw):
        raise ModelFileError(f"Conv {where}: kernel_shape {kernel} differs from the weights' {w.shape}")
    strides = a.ints("strides", 2, [1, 1], 1)
    dilations = a.ints("dilations", 2, [1, 1], 1)
    pads = a.ints("pads", 4, [0, 0, 0, 0], 0)
    group = a.int("group", 1)
    auto = a.string("auto_pad", "NOTSET", _AUTO_PADS)
    if group < 1:
        raise a.bad("group", "a positive integer")
    if group != 1 or dilations != [1, 1]:
        raise UnsupportedError(f"Conv {where}: only group=1 and dilation 1 are supported (group={group}, "
                               f"dilations={dilations})")
    if auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto != "NOTSET":
        if strides != [1, 1] or kh % 2 == 0 or kw % 2 == 0:
            raise UnsupportedError(f"Conv {where}: auto_pad {auto} needs stride 1 and odd kernels")
        pads = [kh // 2, kw // 2, kh // 2, kw // 2]
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise UnsupportedError(f"Conv {where}: asymmetric padding {pads} is not supported")
    return tuple(strides), (pads[0], pads[1])


def _pool(a: _Attributes, op: str, where: str, name: str):
    if "kernel_shape" not in a:
        raise ModelFileError(f"{op} {where} has no kernel_shape (the ONNX specification requires it)")
    k = a.a["kernel_shape"]
    if not isinstance(k, list) or not k or not all(isinstance(i, int) and i >= 1 for i in k):
        raise a.bad("kernel_shape", "positive integers")
    if len(k) != 2:
        raise UnsupportedError(f"{op} {where}: only 2-D pooling is supported (kernel_shape {k})")
    s = a.ints("strides", 2, k, 1)
    pads = a.ints("pads", 4, [0, 0, 0, 0], 0)
    dilations = a.ints("dilations", 2, [1, 1], 1)
    ceil = a.int("ceil_mode", 0, (0, 1))
    auto = a.string("auto_pad", "NOTSET", _AUTO_PADS)
    if op == "AveragePool":
        a.int("count_include_pad", 0, (0, 1))  # no padding: no difference
    else:
        a.int("storage_order", 0, (0, 1))  # only the Indices output, which nothing may read
    if auto == "VALID":
        pads = [0, 0, 0, 0]
    problems = [p for p, bad in ((f"kernel_shape {k}", k[0] != k[1]), (f"strides {s}", s[0] != s[1]),
                                 (f"pads {pads}", any(pads)),
                                 (f"auto_pad {auto}", auto in ("SAME_UPPER", "SAME_LOWER")),
                                 (f"dilations {dilations}", dilations != [1, 1]), ("ceil_mode 1", ceil)) if bad]
    if problems:
        raise UnsupportedError(f"{op} {where}: only square kernels and strides, no padding, no dilation, floor mode "
                               f"are supported (got {', '.join(problems)})")
    return (MaxPool2d if op == "MaxPool" else AvgPool2d)(k[0], s[0], name=name)


@dataclass
class QDQ:
    """What the QuantizeLinear/DequantizeLinear nodes of a model said, recorded by
    :func:`layers_of` as it walks the chain, for :mod:`streamcnn.importers_onnx_qdq`.

    ``activations``: one (layers before it, scale, zero point, element dtype, node) per
    QuantizeLinear on the chain.  ``weights`` and ``biases``: by the index of the layer that
    uses them, the integer constant a DequantizeLinear turned into its float weights or bias,
    as (values, scale, zero point or None, axis).  ``gemm``: (alpha, beta) of a Gemm layer;
    ``merged``: indices of Linear layers made of a MatMul and an Add."""

    activations: list = field(default_factory=list)
    weights: dict = field(default_factory=dict)
    biases: dict = field(default_factory=dict)
    gemm: dict = field(default_factory=dict)
    merged: set = field(default_factory=set)
    _constants: dict = field(default_factory=dict)  # DequantizeLinear outputs of integer constants


def onnx_layers(model) -> list:
    """The float layers of an ONNX model (a path or a ModelProto): a single chain of
    supported operators.  QuantizeLinear/DequantizeLinear (QDQ) pairs are read as the
    float values they stand for: weights and biases are dequantized, and activation
    QDQ pairs pass values through (:mod:`streamcnn.importers_onnx_qdq` takes a QDQ model's
    own scales and zero points instead)."""
    return layers_of(*load_model(model))


def layers_of(model, base_dir: Optional[Path], qdq: Optional[QDQ] = None) -> list:
    """:func:`onnx_layers` of a loaded model whose external data is relative to ``base_dir``;
    with ``qdq``, what its quantization nodes say is recorded there."""
    graph = model.graph
    current, nodes, producer = live_graph(graph)
    consts = Tensors(graph, base_dir, producer)
    layers: list = []
    pending_matmul = None  # a MatMul whose bias Add may follow
    nonnegative = False  # no value below zero since the last ReLU (pooling and flattening keep that)
    # Shape arithmetic of x.view(x.size(0), -1), evaluated symbolically: "N" is the batch size
    symbolic: dict = {}

    def shape_value(name: str):
        if name in symbolic:
            return symbolic[name]
        return consts[name].tolist() if name in consts else None

    def const(name: str, node) -> np.ndarray:
        if name not in consts:
            raise UnsupportedError(f"{node.op_type} node {node.name!r}: its weights ({name!r}) are not constants")
        return np.asarray(consts[name], np.float64)

    for node in nodes:
        op, where = node.op_type, _where(node)
        name = node.name or node.output[0]
        if op == "Constant":
            continue  # read when used
        if op not in _KNOWN or node.domain not in ("", "ai.onnx") and not (
                node.domain == "com.microsoft" and op in ("QuantizeLinear", "DequantizeLinear")):
            op = f"{node.domain}.{op}" if node.domain not in ("", "ai.onnx") else op
            raise UnsupportedError(f"unsupported operator {op} at {where}")
        a = _Attributes(node)
        if op in ("QuantizeLinear", "DequantizeLinear"):
            a.int("axis", 1)
            if a.int("block_size", 0):
                raise UnsupportedError(f"{op} {where}: blocked quantization (block_size) is not supported")
            for i in node.input[1:]:
                if i and i not in consts:
                    raise UnsupportedError(f"{op} {where}: its scale and zero point must be constants ({i!r} is not)")
            if len(node.input) > 2 and node.input[2] and consts[node.input[2]].dtype.kind not in "iu":
                raise ModelFileError(f"{op} {where}: its zero point is {consts[node.input[2]].dtype}, not an integer")
        if op in ("QuantizeLinear", "DequantizeLinear") and node.input[0] in consts:
            zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            try:
                consts[node.output[0]] = _fold_qdq(op, consts[node.input[0]], consts[node.input[1]], zp,
                                                   a.int("axis", 1))
            except (ValueError, IndexError, TypeError) as e:
                raise ModelFileError(f"{op} {where}: its scale and zero point do not fit its input ({e})") from None
            if qdq is not None and op == "DequantizeLinear" and consts[node.input[0]].dtype.kind in "iu":
                qdq._constants[node.output[0]] = (consts[node.input[0]], consts[node.input[1]], zp, a.int("axis", 1))
            continue
        if op == "Shape" and node.input[0] == current:
            symbolic[node.output[0]] = "shape"
            continue
        if op in ("Gather", "Unsqueeze", "Concat", "Cast", "Squeeze") and any(i in symbolic for i in node.input):
            values = [shape_value(i) for i in node.input if i]
            if op == "Gather":
                symbolic[node.output[0]] = "N" if values[0] == "shape" and values[1] == 0 else "?"
            elif op == "Unsqueeze":
                symbolic[node.output[0]] = [values[0]] if not isinstance(values[0], list) else "?"
            elif op == "Concat":
                symbolic[node.output[0]] = [v for part in values for v in (part if isinstance(part, list) else [part])]
            else:
                symbolic[node.output[0]] = values[0]
            continue
        if node.input[0] != current:
            raise UnsupportedError(f"only a single chain of operators is supported; {op} {where} takes "
                                   f"{list(node.input)} instead of {current!r}")
        if pending_matmul is not None and op != "Add":
            pending_matmul = None
        if op in ("Conv", "Gemm", "MatMul", "Add", "BatchNormalization"):
            nonnegative = False
        elif op == "Relu":
            nonnegative = True
        if op == "QuantizeLinear" and qdq is not None:
            zp = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            qdq.activations.append((len(layers), consts[node.input[1]], zp,
                                    np.dtype(np.uint8) if zp is None else zp.dtype, node))
        if op == "QuantizeLinear" and _clips_negatives(node, consts) and not nonnegative:
            # onnxruntime's quantizer folds a ReLU into the range of the QuantizeLinear after it
            layers.append(ReLU(name=name))
            nonnegative = True
        elif op in ("QuantizeLinear", "DequantizeLinear", "Identity"):
            pass  # activation QDQ and inference no-ops pass values through
        elif op == "Dropout":
            if len(node.input) > 2 and node.input[2] and (node.input[2] not in consts or np.any(consts[node.input[2]])):
                raise UnsupportedError(f"Dropout {where}: training_mode must be a constant false")
        elif op == "Conv":
            w = const(node.input[1], node)
            strides, padding = _conv(a, w, where)
            bias = _bias(consts, node, node.input[2] if len(node.input) > 2 else None, w.shape[0], where)
            _record(qdq, len(layers), node.input[1], node.input[2] if len(node.input) > 2 else None)
            layers.append(FloatConv2d(w, bias, strides, padding, name))
        elif op == "BatchNormalization":
            eps = a.float("epsilon", 1e-5)
            if a.int("training_mode", 0, (0, 1)) or a.int("spatial", 1, (0, 1)) != 1:
                raise UnsupportedError(f"BatchNormalization {where}: only inference (training_mode=0, spatial=1) "
                                       "is supported")
            if not layers or not isinstance(layers[-1], FloatConv2d):
                raise UnsupportedError(f"BatchNormalization {where} must follow a Conv (it is folded into it)")
            params = [const(n, node) for n in node.input[1:5]]
            out = np.shape(layers[-1].weight)[0]
            if any(p.shape != (out,) for p in params):
                raise ModelFileError(f"BatchNormalization {where}: parameters of shapes {[p.shape for p in params]} "
                                     f"for the {out} channels of the Conv before it")
            layers[-1] = fold_batchnorm(layers[-1], *params, eps)
        elif op == "Relu":
            layers.append(ReLU(name=name))
        elif op in ("MaxPool", "AveragePool"):
            layers.append(_pool(a, op, where, name))
        elif op == "Flatten":
            if a.int("axis", 1) != 1:
                raise UnsupportedError(f"Flatten {where}: only axis=1 is supported")
            layers.append(Flatten(name=name))
        elif op == "Reshape":
            allowzero = a.int("allowzero", 0, (0, 1))
            shape = shape_value(node.input[1])
            flattens = isinstance(shape, list) and len(shape) == 2 and (
                (shape[0] in ("N", 0, 1) and shape[1] == -1 and not (allowzero and shape[0] == 0)) or (
                    shape[0] == -1 and isinstance(shape[1], int) and shape[1] > 0))
            if not flattens:
                raise UnsupportedError(f"Reshape {where}: only flattening to (batch, -1) is supported, got {shape}")
            layers.append(Flatten(name=name))  # (-1, F): the next Linear checks F
        elif op == "Gemm":
            trans_a, trans_b = a.int("transA", 0, (0, 1)), a.int("transB", 0, (0, 1))
            alpha, beta = a.float("alpha", 1.0), a.float("beta", 1.0)
            if trans_a:
                raise UnsupportedError(f"Gemm {where}: only transA=0 is supported")
            w = const(node.input[1], node)
            if w.ndim != 2:
                raise ModelFileError(f"Gemm {where}: B must be a matrix, got shape {w.shape}")
            w = alpha * (w if trans_b else w.T)  # Y = alpha A B + beta C
            bias = _bias(consts, node, node.input[2] if len(node.input) > 2 else None, w.shape[0], where)
            _record(qdq, len(layers), node.input[1], node.input[2] if len(node.input) > 2 else None)
            if qdq is not None:
                qdq.gemm[len(layers)] = (alpha, beta, trans_b)
            layers.append(FloatLinear(w, None if bias is None else beta * bias, name))
        elif op == "MatMul":
            w = const(node.input[1], node)
            if w.ndim != 2:
                raise UnsupportedError(f"MatMul {where}: only a matrix of weights is supported, got shape {w.shape}")
            _record(qdq, len(layers), node.input[1], None)
            if qdq is not None:
                qdq.gemm[len(layers)] = (1.0, 1.0, 0)
            layers.append(FloatLinear(w.T, None, name))
            pending_matmul = layers[-1]
        elif op == "Add" and pending_matmul is not None and node.input[1] in consts:
            pending_matmul.bias = _bias(consts, node, node.input[1], np.shape(pending_matmul.weight)[0], where)
            if qdq is not None:
                qdq.merged.add(len(layers) - 1)
            pending_matmul = None
        else:
            raise UnsupportedError(f"unsupported operator {op} at {where}")
        current = node.output[0]
    outputs = [o.name for o in graph.output]
    if outputs != [current]:
        raise UnsupportedError(f"the model's outputs {outputs} are not the end of its operator chain ({current!r})")
    return layers


def _record(qdq: Optional[QDQ], index: int, weight: str, bias: Optional[str]) -> None:
    """Note the integer constants behind a layer's weights and bias, if a DequantizeLinear made them."""
    if qdq is None:
        return
    if weight in qdq._constants:
        qdq.weights[index] = qdq._constants[weight]
    if bias and bias in qdq._constants:
        qdq.biases[index] = qdq._constants[bias]


def default_name(model, source) -> str:
    """The file's stem, else the graph's name unless it is an exporter's generic one."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).stem
    graph = getattr(getattr(model, "graph", None), "name", "")
    generic = {"", "main_graph", "torch_jit", "torch-jit-export", "torch_jit_export", "graph", "tf2onnx"}
    return graph if graph.strip() not in generic else "onnx-model"
