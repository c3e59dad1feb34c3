"""ONNX models -> float layers, in three stages:

1. :func:`load_model` reads the file without its external data (ModelFileError for anything
   that is not a readable ONNX model);
2. :func:`live_graph` checks the graph's structure before any tensor is converted (one output,
   every input provided, no cycle, no name defined twice: ModelFileError otherwise) and keeps
   the nodes the output depends on, in dependency order;
3. :func:`onnx_layers` follows that chain from the input, checking every operator's attributes
   against the ONNX specification (ModelFileError for values the specification forbids,
   UnsupportedError for valid values streamcnn does not run), and converts only the tensors
   the chain uses, each after its declared size has been checked against the largest array an
   accelerator layer can need (:data:`~streamcnn.importers_common.MAX_TENSOR_ELEMENTS`).
"""
from __future__ import annotations

import heapq
import os
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DependencyError, LimitError, ModelFileError, UnsupportedError
from .importers_common import MAX_TENSOR_ELEMENTS, MAX_TENSOR_WHY, MAX_TOTAL_ELEMENTS, elements, fold_batchnorm
from .network import AvgPool2d, Flatten, MaxPool2d, ReLU
from .quantization import FloatConv2d, FloatLinear

#: Inputs each operator takes (least, most; None: any number) and outputs it may have.
_ARITY = {
    "Conv": (2, 3), "Gemm": (2, 3), "MatMul": (2, 2), "Add": (2, 2), "BatchNormalization": (5, 5),
    "Relu": (1, 1), "MaxPool": (1, 1), "AveragePool": (1, 1), "Flatten": (1, 1), "Reshape": (2, 2),
    "Identity": (1, 1), "Dropout": (1, 3), "QuantizeLinear": (2, 3), "DequantizeLinear": (2, 3), "Shape": (1, 1),
    "Gather": (2, 2), "Unsqueeze": (1, 2), "Squeeze": (1, 2), "Concat": (1, None), "Cast": (1, 1), "Constant": (0, 0),
}
_AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise DependencyError("from_onnx needs the onnx package: pip install 'streamcnn[onnx]'") from None
    return onnx, numpy_helper


# -- 1. the file --------------------------------------------------------------------


def load_model(model):
    """(ModelProto, the folder its external data is relative to, or None)."""
    onnx, _ = _onnx()
    if isinstance(model, onnx.ModelProto):
        return model, None
    if not isinstance(model, (str, os.PathLike)):
        raise ModelFileError(f"from_onnx takes a path or an onnx.ModelProto, got {type(model).__name__}")
    path = Path(model)
    if not path.exists():
        raise ModelFileError(f"no ONNX model file at {path}")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    try:
        m = onnx.load(str(path), load_external_data=False)  # external data: read per tensor, checked first
    except Exception as e:  # protobuf's DecodeError, text-format parse errors, OSError...
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ModelFileError(f"{path} is not an ONNX model ({type(e).__name__}: {detail})") from None
    if not m.HasField("graph") or not m.graph.node:
        raise ModelFileError(f"{path} is not an ONNX model: it holds no graph nodes")
    return m, path.parent


# -- 2. the graph's structure ---------------------------------------------------------


def _where(node) -> str:
    return f"node {node.name or (node.output[0] if node.output else node.op_type)!r}"


def live_graph(graph):
    """(the single data input, the nodes the graph's output depends on in dependency order,
    name -> producing node).  Refuses graphs that break the ONNX rules."""
    initializers = {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}
    graph_inputs = [i.name for i in graph.input]
    producer: dict = {}
    for node in graph.node:
        for out in node.output:
            if not out:
                continue
            if out in producer or out in initializers or out in graph_inputs:
                raise ModelFileError(f"{node.op_type} {_where(node)} defines {out!r} again (each value of an ONNX "
                                     "graph has a single definition)")
            producer[out] = node
    outputs = [o.name for o in graph.output]
    if not outputs:
        raise ModelFileError("the graph declares no output")
    if len(outputs) > 1:
        raise UnsupportedError(f"the model has {len(outputs)} outputs ({outputs}); streamcnn takes exactly one")
    if not graph_inputs:
        raise ModelFileError("the graph declares no input")
    known = set(producer) | initializers | set(graph_inputs)
    if outputs[0] not in known:
        raise ModelFileError(f"the graph's output {outputs[0]!r} is produced by no node")
    # the nodes the output depends on (unused nodes and initializers are never read)
    index = {id(n): i for i, n in enumerate(graph.node)}
    live, stack = {}, [outputs[0]]
    while stack:
        node = producer.get(stack.pop())
        if node is None or id(node) in live:
            continue
        live[id(node)] = node
        for name in node.input:
            if name and name not in known:
                raise ModelFileError(f"{node.op_type} {_where(node)} reads {name!r}, which no node, initializer or "
                                     "graph input provides")
            if name:
                stack.append(name)
    # dependency order (Kahn, stable in file order); what remains is a cycle
    deps = {i: {id(producer[n]) for n in node.input if n in producer} for i, node in live.items()}
    users: dict = {i: [] for i in live}
    for i, d in deps.items():
        for j in d:
            users[j].append(i)
    waiting = {i: len(d) for i, d in deps.items()}
    ready = [(index[i], i) for i, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(live[i])
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, (index[j], j))
    if len(order) != len(live):
        cycle = sorted((n for i, n in live.items() if waiting[i] > 0), key=lambda n: index[id(n)])
        raise ModelFileError("the graph has a cycle through " + ", ".join(f"{n.op_type} {_where(n)}" for n in cycle)
                             + " (an ONNX graph must be acyclic)")
    used = {n for node in order for n in node.input if n}
    data = [i for i in graph_inputs if i not in initializers and (i in used or i == outputs[0])]
    if len(data) != 1:
        all_data = [i for i in graph_inputs if i not in initializers]
        raise UnsupportedError(f"the model has {len(all_data)} inputs ({all_data}) of which its output depends on "
                               f"{len(data)}; streamcnn takes exactly one")
    for node in order:
        least, most = _ARITY.get(node.op_type, (0, None))
        given = len(node.input)
        while given and not node.input[given - 1]:
            given -= 1  # trailing optional inputs left out
        if given < least or (most is not None and given > most) or any(not n for n in node.input[:least]):
            span = f"{least}" if least == most else f"{least} to {most if most is not None else 'any'}"
            raise ModelFileError(f"{node.op_type} {_where(node)} has inputs {list(node.input)}; "
                                 f"{node.op_type} takes {span}")
        if not node.output or not node.output[0]:
            raise ModelFileError(f"{node.op_type} {_where(node)} has no output")
    return data[0], order, producer


# -- tensors, converted on demand -----------------------------------------------------------


class _Tensors:
    """Initializers and Constant values by name, converted to arrays only when asked for,
    after their declared size has been checked."""

    def __init__(self, graph, base_dir: Optional[Path], producer: dict):
        self.protos = {t.name: t for t in graph.initializer}
        self.sparse = {t.values.name for t in graph.sparse_initializer}
        self.constants = {name: n for name, n in producer.items() if n.op_type == "Constant"}
        self.values: dict = {}
        self.base_dir, self.total = base_dir, 0

    def __contains__(self, name) -> bool:
        return name in self.values or name in self.protos or name in self.constants or name in self.sparse

    def __setitem__(self, name, value) -> None:
        self.values[name] = value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def __getitem__(self, name) -> np.ndarray:
        if name not in self.values:
            if name in self.sparse:
                raise UnsupportedError(f"sparse initializer {name!r}: sparse tensors are not supported")
            if name in self.protos:
                self.values[name] = self._convert(self.protos[name], f"initializer {name!r}")
            else:
                self.values[name] = self._constant(self.constants[name])
        return self.values[name]

    def _constant(self, node) -> np.ndarray:
        where = f"Constant {_where(node)}"
        a = _attrs(node)
        if "value" in a:
            return self._convert(a["value"], where)
        for key, dtype in (("value_float", np.float32), ("value_floats", np.float32), ("value_int", np.int64),
                           ("value_ints", np.int64)):
            if key in a:
                v = a[key]
                if isinstance(v, list) and len(v) > MAX_TENSOR_ELEMENTS:
                    raise LimitError(f"{where} has {len(v)} values, more than the {MAX_TENSOR_ELEMENTS} of "
                                     f"{MAX_TENSOR_WHY}", layer=node.name, limit="max_fc_in x max_fc_out",
                                     value=len(v), maximum=MAX_TENSOR_ELEMENTS)
                return np.asarray(v, dtype)
        if a:
            raise UnsupportedError(f"{where}: only tensor and number constants are supported (it has {sorted(a)})")
        raise ModelFileError(f"{where} has no value")

    def _convert(self, tensor, where: str) -> np.ndarray:
        onnx, numpy_helper = _onnx()
        if any(d < 0 for d in tensor.dims):
            raise ModelFileError(f"{where} declares negative dims {list(tensor.dims)}")
        n = elements(tensor.dims)
        if n > MAX_TENSOR_ELEMENTS or self.total + n > MAX_TOTAL_ELEMENTS:
            what = (f"declares {n} elements (dims {list(tensor.dims)}), more than the {MAX_TENSOR_ELEMENTS} of "
                    f"{MAX_TENSOR_WHY}") if n > MAX_TENSOR_ELEMENTS else (
                f"would bring the model's arrays to {self.total + n} elements, more than {MAX_TOTAL_ELEMENTS} "
                "(max_layers layers of the largest size)")
            raise LimitError(f"{where} {what}; not read", layer=where, limit="max_fc_in x max_fc_out",
                             value=n, maximum=MAX_TENSOR_ELEMENTS)
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(f"{where} has an unknown data type ({tensor.data_type})") from None
        if dtype.kind not in "biuf":
            raise UnsupportedError(f"{where}: tensors of type {dtype} are not supported")
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            tensor = self._external(tensor, where, n * dtype.itemsize)
        elif tensor.HasField("raw_data") and tensor.data_type not in (
                onnx.TensorProto.INT4, onnx.TensorProto.UINT4) and len(tensor.raw_data) != n * dtype.itemsize:
            raise ModelFileError(f"{where} declares dims {list(tensor.dims)} ({n * dtype.itemsize} bytes) but holds "
                                 f"{len(tensor.raw_data)} bytes")
        try:
            value = numpy_helper.to_array(tensor)
        except Exception as e:  # typed fields of the wrong length and the like
            raise ModelFileError(f"{where} cannot be read: {e}") from None
        self.total += n
        return value

    def _external(self, tensor, where: str, nbytes: int):
        onnx, _ = _onnx()
        info = {e.key: e.value for e in tensor.external_data}
        if self.base_dir is None:
            raise ModelFileError(f"{where} is stored in an external file, which cannot be located for a model "
                                 "passed as a ModelProto; pass the model's path")
        location = info.get("location", "")
        base = self.base_dir.resolve()
        target = (base / location).resolve()
        if not location or Path(location).is_absolute() or (target != base and base not in target.parents):
            raise ModelFileError(f"{where} is stored in {location!r}, outside the model's folder {base}")
        if not target.is_file():
            raise ModelFileError(f"{where} is stored in {location!r}, which does not exist next to the model")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
        except ValueError:
            raise ModelFileError(f"{where}: external data offset/length are not numbers ({info})") from None
        size = target.stat().st_size
        if offset < 0 or length != nbytes or offset + length > size:
            raise ModelFileError(f"{where} needs {nbytes} bytes at offset {offset} of {location!r} (length {length}, "
                                 f"the file has {size})")
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        del copy.external_data[:]
        copy.data_location = onnx.TensorProto.DEFAULT
        with open(target, "rb") as f:
            f.seek(offset)
            copy.raw_data = f.read(length)
        return copy


# -- 3. the chain of operators -----------------------------------------------------------


def _attrs(node) -> dict:
    onnx, _ = _onnx()
    try:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    except Exception as e:
        raise ModelFileError(f"{node.op_type} {_where(node)} has an unreadable attribute ({e})") from None


class _Attributes:
    """A node's attributes, each checked for the type and length the ONNX specification gives."""

    def __init__(self, node):
        self.a, self.op, self.where = _attrs(node), node.op_type, _where(node)

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
    b = np.asarray(consts[name], np.float64)
    if b.size == 1:
        return np.full(out, float(b.reshape(())))
    if b.reshape(-1).shape != (out,) or (b.ndim == 2 and b.shape[0] != 1) or b.ndim > 2:
        raise ModelFileError(f"{node.op_type} {where}: bias of shape {b.shape} for {out} outputs")
    return b.reshape(-1)


def _conv(a: _Attributes, w: np.ndarray, op: str, where: str):
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
                                 (f"pads {pads}", any(pads)), (f"auto_pad {auto}", auto in ("SAME_UPPER", "SAME_LOWER")),
                                 (f"dilations {dilations}", dilations != [1, 1]), ("ceil_mode 1", ceil)) if bad]
    if problems:
        raise UnsupportedError(f"{op} {where}: only square kernels and strides, no padding, no dilation, floor mode "
                               f"are supported (got {', '.join(problems)})")
    return (MaxPool2d if op == "MaxPool" else AvgPool2d)(k[0], s[0], name=name)


def onnx_layers(model) -> list:
    """The float layers of an ONNX model (a path or a ModelProto): a single chain of
    supported operators.  QuantizeLinear/DequantizeLinear (QDQ) pairs are read as the
    float values they stand for: weights and biases are dequantized, and activation
    QDQ pairs pass values through (streamcnn calibrates its own symmetric scales)."""
    return layers_of(*load_model(model))


def layers_of(model, base_dir: Optional[Path]) -> list:
    """:func:`onnx_layers` of a loaded model whose external data is relative to ``base_dir``."""
    graph = model.graph
    current, nodes, producer = live_graph(graph)
    consts = _Tensors(graph, base_dir, producer)
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
        a = _Attributes(node)
        if op in ("QuantizeLinear", "DequantizeLinear"):
            a.int("axis", 1)
            if a.int("block_size", 0):
                raise UnsupportedError(f"{op} {where}: blocked quantization (block_size) is not supported")
            for i in node.input[1:]:
                if i and i not in consts:
                    raise UnsupportedError(f"{op} {where}: its scale and zero point must be constants ({i!r} is not)")
        if op in ("QuantizeLinear", "DequantizeLinear") and node.input[0] in consts:
            try:
                consts[node.output[0]] = _fold_qdq(op, consts[node.input[0]], consts[node.input[1]],
                                                   consts[node.input[2]] if len(node.input) > 2 and node.input[2]
                                                   else None, a.int("axis", 1))
            except (ValueError, IndexError, TypeError) as e:
                raise ModelFileError(f"{op} {where}: its scale and zero point do not fit its input ({e})") from None
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
            strides, padding = _conv(a, w, op, where)
            bias = _bias(consts, node, node.input[2] if len(node.input) > 2 else None, w.shape[0], where)
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
            layers.append(FloatLinear(w, None if bias is None else beta * bias, name))
        elif op == "MatMul":
            w = const(node.input[1], node)
            if w.ndim != 2:
                raise UnsupportedError(f"MatMul {where}: only a matrix of weights is supported, got shape {w.shape}")
            layers.append(FloatLinear(w.T, None, name))
            pending_matmul = layers[-1]
        elif op == "Add" and pending_matmul is not None and node.input[1] in consts:
            pending_matmul.bias = _bias(consts, node, node.input[1], np.shape(pending_matmul.weight)[0], where)
            pending_matmul = None
        else:
            raise UnsupportedError(f"unsupported operator {op} at {where}")
        current = node.output[0]
    outputs = [o.name for o in graph.output]
    if outputs != [current]:
        raise UnsupportedError(f"the model's outputs {outputs} are not the end of its operator chain ({current!r})")
    return layers


def default_name(model, source) -> str:
    """The file's stem, else the graph's name unless it is an exporter's generic one."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).stem
    graph = getattr(getattr(model, "graph", None), "name", "")
    generic = {"", "main_graph", "torch_jit", "torch-jit-export", "torch_jit_export", "graph", "tf2onnx"}
    return graph if graph.strip() not in generic else "onnx-model"
