"""ONNX importer, stages 1 and 2 (:mod:`streamcnn.importers_onnx` has stage 3):

1. :func:`load_model` reads the file without its external data (ModelFileError for anything
   that is not a readable ONNX model);
2. :func:`live_graph` checks the graph's structure before any tensor is converted (one output,
   every input provided, no cycle, no name defined twice, operators given as many inputs as
   they take: ModelFileError otherwise) and keeps the nodes the output depends on, in
   dependency order.

:class:`Tensors` holds the initializers and Constant values, converting each only when the
chain uses it, after its declared size has been checked against the largest array an
accelerator layer can need (:data:`~streamcnn.importers_common.MAX_TENSOR_ELEMENTS`), and
reading external data only from files inside the model's folder.
"""
from __future__ import annotations

import heapq
import os
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import DependencyError, LimitError, ModelFileError, UnsupportedError
from .importers_common import MAX_TENSOR_ELEMENTS, MAX_TENSOR_WHY, MAX_TOTAL_ELEMENTS, elements

ARITY = {
    "Conv": (2, 3), "Gemm": (2, 3), "MatMul": (2, 2), "Add": (2, 2), "BatchNormalization": (5, 5),
    "Relu": (1, 1), "MaxPool": (1, 1), "AveragePool": (1, 1), "Flatten": (1, 1), "Reshape": (2, 2),
    "Identity": (1, 1), "Dropout": (1, 3), "QuantizeLinear": (2, 3), "DequantizeLinear": (2, 3), "Shape": (1, 1),
    "Gather": (2, 2), "Unsqueeze": (1, 2), "Squeeze": (1, 2), "Concat": (1, None), "Cast": (1, 1), "Constant": (0, 0),
}


def onnx_modules():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise DependencyError("from_onnx needs the onnx package: pip install 'streamcnn[onnx]'") from None
    return onnx, numpy_helper


# -- 1. the file --------------------------------------------------------------------


def load_model(model):
    """(ModelProto, the folder its external data is relative to, or None)."""
    onnx, _ = onnx_modules()
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


def describe(node) -> str:
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
                raise ModelFileError(f"{node.op_type} {describe(node)} defines {out!r} again (each value of an ONNX "
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
                raise ModelFileError(f"{node.op_type} {describe(node)} reads {name!r}, which no node, initializer or "
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
        raise ModelFileError("the graph has a cycle through " + ", ".join(f"{n.op_type} {describe(n)}" for n in cycle)
                             + " (an ONNX graph must be acyclic)")
    used = {n for node in order for n in node.input if n}
    data = [i for i in graph_inputs if i not in initializers and (i in used or i == outputs[0])]
    if len(data) != 1:
        all_data = [i for i in graph_inputs if i not in initializers]
        raise UnsupportedError(f"the model has {len(all_data)} inputs ({all_data}) of which its output depends on "
                               f"{len(data)}; streamcnn takes exactly one")
    for node in order:
        least, most = ARITY.get(node.op_type, (0, None))
        given = len(node.input)
        while given and not node.input[given - 1]:
            given -= 1  # trailing optional inputs left out
        if given < least or (most is not None and given > most) or any(not n for n in node.input[:least]):
            span = f"{least}" if least == most else f"{least} to {most if most is not None else 'any'}"
            raise ModelFileError(f"{node.op_type} {describe(node)} has inputs {list(node.input)}; "
                                 f"{node.op_type} takes {span}")
        if not node.output or not node.output[0]:
            raise ModelFileError(f"{node.op_type} {describe(node)} has no output")
    return data[0], order, producer


# -- tensors, converted on demand -----------------------------------------------------------


class Tensors:
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
            if name not in self:  # an activation where a constant is needed
                raise UnsupportedError(f"{name!r} is used as a constant, but it is computed by the graph")
            if name in self.protos:
                self.values[name] = self._convert(self.protos[name], f"initializer {name!r}")
            else:
                self.values[name] = self._constant(self.constants[name])
        return self.values[name]

    def _constant(self, node) -> np.ndarray:
        where = f"Constant {describe(node)}"
        a = attributes(node)
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
        onnx, numpy_helper = onnx_modules()
        if any(d < 0 for d in tensor.dims):
            raise ModelFileError(f"{where} declares negative dims {list(tensor.dims)}")
        n = elements(tensor.dims)
        if n > MAX_TENSOR_ELEMENTS or self.total + n > MAX_TOTAL_ELEMENTS:
            what = (f"declares {n} elements (dims {list(tensor.dims)}), more than the {MAX_TENSOR_ELEMENTS} of "
                    f"{MAX_TENSOR_WHY}") if n > MAX_TENSOR_ELEMENTS else (
                f"would bring the model's arrays to {self.total + n} elements, more than {MAX_TOTAL_ELEMENTS} "
                "(max_layers layers of the largest size)")
            single = n > MAX_TENSOR_ELEMENTS
            raise LimitError(f"{where} {what}; not read", layer=where,
                             limit="max_fc_in x max_fc_out" if single else "max_layers x max_fc_in x max_fc_out",
                             value=n if single else self.total + n,
                             maximum=MAX_TENSOR_ELEMENTS if single else MAX_TOTAL_ELEMENTS)
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
        onnx, _ = onnx_modules()
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



def attributes(node) -> dict:
    onnx, _ = onnx_modules()
    try:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    except Exception as e:
        raise ModelFileError(f"{node.op_type} {describe(node)} has an unreadable attribute ({e})") from None
