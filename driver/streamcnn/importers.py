"""Import float models from PyTorch and ONNX, then quantize them for streamcnn.

Both importers turn a model into the float layers of :mod:`streamcnn.quantization`
(BatchNorm folded into the convolution before it) and quantize them with
calibration images.  Supported: Conv2d (groups 1, dilation 1, zero padding),
BatchNorm2d after a Conv2d, ReLU, MaxPool2d and AvgPool2d (no padding, floor
mode), Flatten (and ``x.view(x.size(0), -1)``, ``torch.flatten(x, 1)``), Linear;
Dropout and Identity are skipped (inference).  The model must be a single chain
from input to output.  Anything else raises :class:`UnsupportedError` naming the
operator and where it is.
"""
from __future__ import annotations

import operator
from typing import Optional

import numpy as np

from .errors import DependencyError, UnsupportedError
from .network import AvgPool2d, Flatten, MaxPool2d, Network, ReLU, pair
from .quantization import FloatConv2d, FloatLinear, quantize


def fold_batchnorm(conv: FloatConv2d, gamma, beta, mean, var, eps: float) -> FloatConv2d:
    """Conv followed by BatchNorm (inference) as one Conv: W' = W g / s, b' = (b - mean) g / s + beta."""
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    bias = np.zeros(len(scale)) if conv.bias is None else np.asarray(conv.bias, np.float64)
    return FloatConv2d(np.asarray(conv.weight, np.float64) * scale[:, None, None, None],
                       (bias - np.asarray(mean, np.float64)) * scale + np.asarray(beta, np.float64),
                       conv.stride, conv.padding, conv.name)


def _calibrate(layers: list, calibration_images, input_scale, name: str) -> Network:
    x = np.asarray(calibration_images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"calibration images must be (N, C, H, W), got shape {x.shape}")
    return quantize(tuple(x.shape[1:]), layers, x, input_scale=input_scale, name=name)


# -- PyTorch ------------------------------------------------------------------------


def _torch():
    try:
        import torch
    except ImportError:
        raise DependencyError("from_torch needs PyTorch: pip install 'streamcnn[torch]'") from None
    return torch


def torch_layers(module) -> list:
    """The float layers of a PyTorch module (a single chain of supported layers)."""
    torch = _torch()
    import torch.fx
    import torch.nn as nn
    import torch.nn.functional as F

    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as e:  # data-dependent control flow and the like
        raise UnsupportedError(f"{type(module).__name__} could not be traced with torch.fx ({e}); "
                               "streamcnn imports nn.Sequential and simple forward() chains") from None
    layers: list = []
    current = None  # the fx node holding the running activation
    relu_functions = {torch.relu, F.relu, torch.nn.functional.relu}
    flatten_functions = {torch.flatten}

    def arr(t) -> np.ndarray:
        return t.detach().cpu().double().numpy()

    for node in traced.graph.nodes:
        where = f"{node.op} {node.target if node.op != 'call_module' else repr(node.target)} (fx node {node.name!r})"
        if node.op == "placeholder":
            if current is not None:
                raise UnsupportedError(f"models with more than one input are not supported: {where}")
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise UnsupportedError(f"the model's output is not the end of its layer chain: {where}")
            break
        if node.op == "call_method" and node.target == "size":
            continue  # only feeds a view/reshape; checked there
        if node.op == "get_attr":
            raise UnsupportedError(f"tensors used directly in forward() are not supported: {where}")
        supported = (node.op == "call_module" or (node.op == "call_function" and node.target in
                     relu_functions | flatten_functions) or (node.op == "call_method" and node.target in
                     ("view", "reshape", "flatten")))
        if not supported:
            target = getattr(node.target, "__name__", str(node.target))
            if node.target in (operator.add, torch.add, operator.iadd, operator.mul, torch.mul, torch.cat):
                raise UnsupportedError(f"unsupported operator {target} at fx node {node.name!r} "
                                       "(residual and multi-branch models are not supported)")
            raise UnsupportedError(f"unsupported operator {target} ({node.op}) at fx node {node.name!r}")
        inputs = [a for a in node.args if isinstance(a, torch.fx.Node)]
        if not inputs or inputs[0] is not current or any(
                a is not current and not (a.op == "call_method" and a.target == "size") for a in inputs):
            raise UnsupportedError(f"only a single chain of layers is supported; {where} takes "
                                   f"{[a.name for a in inputs]} instead of the previous layer's output")
        if node.op == "call_module":
            sub = traced.get_submodule(node.target)
            path = str(node.target)  # where the module is, for messages
            name = f"{path}-{type(sub).__name__.lower()}"  # the layer's name, e.g. "0-conv2d", "features.3-relu"
            if isinstance(sub, nn.Conv2d):
                if sub.groups != 1 or pair(sub.dilation) != (1, 1) or sub.padding_mode != "zeros":
                    raise UnsupportedError(f"Conv2d {path!r}: only groups=1, dilation=1 and zero padding are "
                                           f"supported (groups={sub.groups}, dilation={sub.dilation}, "
                                           f"padding_mode={sub.padding_mode!r})")
                padding = sub.padding
                if isinstance(padding, str):
                    if padding == "valid":
                        padding = 0
                    elif any(s != 1 or k % 2 == 0 for s, k in zip(pair(sub.stride), sub.kernel_size)):
                        raise UnsupportedError(f"Conv2d {path!r}: padding='same' needs stride 1 and odd kernels")
                    else:
                        padding = tuple(k // 2 for k in sub.kernel_size)
                layers.append(FloatConv2d(arr(sub.weight), None if sub.bias is None else arr(sub.bias),
                                          pair(sub.stride), pair(padding), name))
            elif isinstance(sub, nn.BatchNorm2d):
                if not layers or not isinstance(layers[-1], FloatConv2d):
                    raise UnsupportedError(f"BatchNorm2d {path!r} must follow a Conv2d (it is folded into it)")
                if not sub.track_running_stats or sub.running_mean is None:
                    raise UnsupportedError(f"BatchNorm2d {path!r} has no running statistics to fold")
                gamma = arr(sub.weight) if sub.affine else np.ones(sub.num_features)
                beta = arr(sub.bias) if sub.affine else np.zeros(sub.num_features)
                layers[-1] = fold_batchnorm(layers[-1], gamma, beta, arr(sub.running_mean), arr(sub.running_var),
                                            sub.eps)
            elif isinstance(sub, nn.ReLU):
                layers.append(ReLU(name=name))
            elif isinstance(sub, (nn.MaxPool2d, nn.AvgPool2d)):
                k, s = pair(sub.kernel_size), pair(sub.stride if sub.stride is not None else sub.kernel_size)
                bad = k[0] != k[1] or s[0] != s[1] or pair(sub.padding) != (0, 0) or sub.ceil_mode or (
                    isinstance(sub, nn.MaxPool2d) and pair(sub.dilation) != (1, 1)) or (
                    isinstance(sub, nn.AvgPool2d) and sub.divisor_override is not None)
                if bad:
                    raise UnsupportedError(f"{type(sub).__name__} {path!r}: only square kernels and strides, "
                                           "no padding, no dilation, floor mode are supported")
                layers.append((MaxPool2d if isinstance(sub, nn.MaxPool2d) else AvgPool2d)(k[0], s[0], name=name))
            elif isinstance(sub, nn.Flatten):
                if sub.start_dim != 1 or sub.end_dim != -1:
                    raise UnsupportedError(f"Flatten {path!r}: only start_dim=1, end_dim=-1 is supported")
                layers.append(Flatten(name=name))
            elif isinstance(sub, nn.Linear):
                layers.append(FloatLinear(arr(sub.weight), None if sub.bias is None else arr(sub.bias), name))
            elif isinstance(sub, (nn.Dropout, nn.Identity)):
                pass
            else:
                raise UnsupportedError(f"unsupported operator {type(sub).__name__} at {path!r}")
        elif node.op == "call_function" and node.target in relu_functions:
            layers.append(ReLU(name=node.name))
        elif node.op == "call_function" and node.target in flatten_functions:
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start != 1 or (len(node.args) > 2 and node.args[2] != -1):
                raise UnsupportedError(f"torch.flatten at fx node {node.name!r}: only start_dim=1 is supported")
            layers.append(Flatten(name=node.name))
        elif node.op == "call_method" and node.target in ("view", "reshape", "flatten"):
            if node.target == "flatten":
                ok = (node.args[1:] or (node.kwargs.get("start_dim", 0),))[0] == 1
            else:
                shape = node.args[1:] if len(node.args) > 2 else (node.args[1] if len(node.args) > 1 else ())
                first = shape[0] if len(shape) else None
                batch = isinstance(first, torch.fx.Node) and first.op == "call_method" and first.target == "size"
                # (x.size(0), -1), or (-1, F) whose F the next Linear checks
                ok = len(shape) == 2 and ((batch and shape[1] == -1) or (
                    first == -1 and isinstance(shape[1], int) and shape[1] > 0))
            if not ok:
                raise UnsupportedError(f"{node.target} at fx node {node.name!r}: only flattening to "
                                       "(batch, -1) is supported")
            layers.append(Flatten(name=node.name))
        current = node
    return layers


def from_torch(module, calibration_images: np.ndarray, *, input_scale: Optional[float] = None,
               name: Optional[str] = None) -> Network:
    """Quantize a PyTorch model (evaluation mode) for streamcnn.

    ``calibration_images`` (N, C, H, W) set the input shape and every activation scale."""
    was_training = getattr(module, "training", False)
    module.eval()
    try:
        layers = torch_layers(module)
    finally:
        module.train(was_training)
    return _calibrate(layers, calibration_images, input_scale, name or type(module).__name__)


# -- ONNX ---------------------------------------------------------------------------


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise DependencyError("from_onnx needs the onnx package: pip install 'streamcnn[onnx]'") from None
    return onnx, numpy_helper


def _attrs(node) -> dict:
    onnx, _ = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dequantize(q: np.ndarray, scale: np.ndarray, zero_point, axis: int) -> np.ndarray:
    q = q.astype(np.float64)
    zp = np.zeros(1) if zero_point is None else np.asarray(zero_point, np.float64)
    scale = np.asarray(scale, np.float64)
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape) if zp.size > 1 else zp
    return (q - zp) * scale


def _clips_negatives(node, consts: dict) -> bool:
    """Whether an activation QuantizeLinear cannot represent negative values:
    (qmin - zero_point) * scale >= 0.  Without a zero point the output is uint8."""
    zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    qmin = np.iinfo(zp.dtype).min if zp is not None else 0
    scale = np.asarray(consts.get(node.input[1], 1.0), np.float64)
    return bool(np.all((qmin - (np.asarray(zp, np.float64) if zp is not None else 0.0)) * scale >= 0))


def onnx_layers(model) -> list:
    """The float layers of an ONNX model (a path or a ModelProto): a single chain of
    supported operators.  QuantizeLinear/DequantizeLinear (QDQ) pairs are read as the
    float values they stand for: weights and biases are dequantized, and activation
    QDQ pairs pass values through (streamcnn calibrates its own symmetric scales)."""
    onnx, numpy_helper = _onnx()
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    graph = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise UnsupportedError(f"the model has {len(inputs)} inputs ({inputs}); streamcnn takes exactly one")
    current = inputs[0]
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

    for node in graph.node:
        op, where = node.op_type, f"node {node.name or node.output[0]!r}"
        a = _attrs(node)
        if op == "Constant":
            continue
        if op in ("QuantizeLinear", "DequantizeLinear") and node.input[0] in consts:
            scale = consts[node.input[1]]
            zp = consts.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            x = consts[node.input[0]]
            axis = a.get("axis", 1)
            if op == "DequantizeLinear":
                consts[node.output[0]] = _dequantize(x, scale, zp, axis)
            else:  # quantize-then-dequantize of a float constant: keep its rounding
                s = np.asarray(scale, np.float64)
                if s.ndim == 1 and s.size > 1:
                    shape = [1] * x.ndim
                    shape[axis] = -1
                    s = s.reshape(shape)
                z = 0 if zp is None else np.asarray(zp, np.float64).reshape(s.shape if np.ndim(zp) else ())
                info = np.iinfo(zp.dtype) if zp is not None else np.iinfo(np.uint8)
                consts[node.output[0]] = np.clip(np.rint(x / s) + z, info.min, info.max).astype(
                    zp.dtype if zp is not None else np.uint8)
            continue
        if op == "Shape" and node.input and node.input[0] == current:
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
        if not node.input or node.input[0] != current:
            raise UnsupportedError(f"only a single chain of operators is supported; {op} {where} takes "
                                   f"{list(node.input)} instead of {current!r}")
        if pending_matmul is not None and op != "Add":
            pending_matmul = None
        if op in ("Conv", "Gemm", "MatMul", "Add", "BatchNormalization"):
            nonnegative = False
        elif op == "Relu":
            nonnegative = True
        if op == "QuantizeLinear" and _clips_negatives(node, consts) and not nonnegative:
            # onnxruntime's quantizer folds a ReLU into the range of the QuantizeLinear after it
            layers.append(ReLU(name=node.name or node.output[0]))
            nonnegative = True
        elif op in ("QuantizeLinear", "DequantizeLinear", "Identity", "Dropout"):
            pass  # activation QDQ and inference no-ops pass values through
        elif op == "Conv":
            if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise UnsupportedError(f"Conv {where}: only group=1 and dilation 1 are supported")
            w = const(node.input[1], node)
            kh, kw = w.shape[2:]
            pads = list(a.get("pads", [0, 0, 0, 0]))
            auto = a.get("auto_pad", b"NOTSET")
            auto = auto.decode() if isinstance(auto, bytes) else auto
            strides = tuple(a.get("strides", [1, 1]))
            if auto in ("SAME_UPPER", "SAME_LOWER"):
                if strides != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
                    raise UnsupportedError(f"Conv {where}: auto_pad {auto} needs stride 1 and odd kernels")
                pads = [kh // 2, kw // 2, kh // 2, kw // 2]
            if pads[0] != pads[2] or pads[1] != pads[3]:
                raise UnsupportedError(f"Conv {where}: asymmetric padding {pads} is not supported")
            bias = const(node.input[2], node) if len(node.input) > 2 and node.input[2] else None
            layers.append(FloatConv2d(w, bias, strides, (pads[0], pads[1]), node.name or node.output[0]))
        elif op == "BatchNormalization":
            if not layers or not isinstance(layers[-1], FloatConv2d):
                raise UnsupportedError(f"BatchNormalization {where} must follow a Conv (it is folded into it)")
            gamma, beta, mean, var = (const(n, node) for n in node.input[1:5])
            layers[-1] = fold_batchnorm(layers[-1], gamma, beta, mean, var, a.get("epsilon", 1e-5))
        elif op == "Relu":
            layers.append(ReLU(name=node.name or node.output[0]))
        elif op in ("MaxPool", "AveragePool"):
            k, s = a["kernel_shape"], a.get("strides", a["kernel_shape"])
            if (k[0] != k[1] or s[0] != s[1] or any(a.get("pads", [0, 0, 0, 0])) or a.get("ceil_mode", 0)
                    or any(d != 1 for d in a.get("dilations", [1, 1]))):
                raise UnsupportedError(f"{op} {where}: only square kernels and strides, no padding, no dilation, "
                                       "floor mode are supported")
            layers.append((MaxPool2d if op == "MaxPool" else AvgPool2d)(k[0], s[0], name=node.name or node.output[0]))
        elif op == "Flatten":
            if a.get("axis", 1) != 1:
                raise UnsupportedError(f"Flatten {where}: only axis=1 is supported")
            layers.append(Flatten(name=node.name or node.output[0]))
        elif op == "Reshape":
            shape = shape_value(node.input[1])
            flattens = isinstance(shape, list) and len(shape) == 2 and (
                (shape[0] in ("N", 0, 1) and shape[1] == -1) or (shape[0] == -1 and isinstance(shape[1], int)
                                                                   and shape[1] > 0))
            if not flattens:
                raise UnsupportedError(f"Reshape {where}: only flattening to (batch, -1) is supported, got {shape}")
            layers.append(Flatten(name=node.name or node.output[0]))  # (-1, F): the next Linear checks F
        elif op == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                raise UnsupportedError(f"Gemm {where}: only alpha=1, beta=1, transA=0 are supported")
            w = const(node.input[1], node)
            w = w if a.get("transB", 0) else w.T
            bias = const(node.input[2], node) if len(node.input) > 2 and node.input[2] else None
            layers.append(FloatLinear(w, bias, node.name or node.output[0]))
        elif op == "MatMul":
            layers.append(FloatLinear(const(node.input[1], node).T, None, node.name or node.output[0]))
            pending_matmul = layers[-1]
        elif op == "Add" and pending_matmul is not None and node.input[1] in consts:
            pending_matmul.bias = const(node.input[1], node).reshape(-1)
            pending_matmul = None
        else:
            raise UnsupportedError(f"unsupported operator {op} at {where}")
        current = node.output[0]
    outputs = [o.name for o in graph.output]
    if outputs != [current]:
        raise UnsupportedError(f"the model's outputs {outputs} are not the end of its operator chain ({current!r})")
    return layers


def from_onnx(path, calibration_images: np.ndarray, *, input_scale: Optional[float] = None,
              name: Optional[str] = None) -> Network:
    """Quantize an ONNX model (float, or int8 QDQ as onnxruntime's quantizer writes) for streamcnn.

    ``calibration_images`` (N, C, H, W) set the input shape and every activation scale."""
    from pathlib import Path

    layers = onnx_layers(path)
    default = Path(path).stem if isinstance(path, (str, Path)) else "onnx-model"
    return _calibrate(layers, calibration_images, input_scale, name or default)
