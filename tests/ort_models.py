"""onnxruntime QDQ models for comparing streamcnn with onnxruntime (issue 16); helpers, no tests.

* :func:`torch_model`: five LeNet-like PyTorch networks with random He-initialised weights
  (:data:`NETWORKS`), and :func:`trained_lenet5`, the shipped int8 LeNet-5/MNIST rebuilt in
  float (its dequantized weights);
* :func:`export` to ONNX, :func:`quantize` with ``onnxruntime.quantization.quantize_static``
  (QDQ format, int8 weights), :func:`build` doing both;
* :class:`OrtModel`: an onnxruntime session (CPU, default graph optimizations, so the fused
  QLinearConv / QGemm / QLinearAveragePool kernels run) and its *quantized* output;
* :func:`emulate`: the same QDQ graph in NumPy, either as onnxruntime computes it (float32
  requantization, float AveragePool) or with streamcnn's numerics (fixed point rounded half
  to even, integer AveragePool), to check the harness and to attribute differences;
* :func:`compare`: agreement in output steps (LSBs).

Integer domains: onnxruntime's uint8 tensor ``q`` with zero point ``z`` is streamcnn's int8
``q - 128`` with zero point ``z - 128``; int8 tensors are the same in both.  :func:`to_streamcnn`
maps onnxruntime's outputs into streamcnn's domain.

How the integer output is obtained: the QDQ model's graph output is float (a final
DequantizeLinear), ``(q - z) * s`` in float32.  ``rint(y / s) + z`` recovers ``q`` exactly
(|q - z| <= 255, so the float32 error is far below half a step; :meth:`OrtModel.run` checks
that every value is within 1e-3 of an integer).  Removing the final DequantizeLinear instead
(:func:`strip_output_dequantize`) keeps the fused graph only with uint8 activations: with int8
activations on x86 onnxruntime then leaves the last Gemm unfused (float DQ -> Gemm -> Q),
because its int8 output, a graph output, cannot be moved to uint8 (QDQS8ToU8Transformer), and
int8 QGemm is not allowed on x86.
"""
from __future__ import annotations

import inspect
import platform
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

import streamcnn

#: Input shape of each random network.
SHAPES = {
    "lenet5-max": (1, 32, 32),
    "lenet5-avg": (1, 32, 32),
    "svhn-cnn": (3, 32, 32),
    "fashion-cnn": (1, 28, 28),
    "stride2-cnn": (1, 28, 28),
}
NETWORKS = tuple(SHAPES)

#: The quantization configurations: (per_channel, activation type).  reduce_range is separate.
CONFIGS = [(True, "QInt8"), (False, "QInt8"), (True, "QUInt8"), (False, "QUInt8")]


def config_id(per_channel: bool, activation: str, reduce_range: bool = True) -> str:
    return f"{'per-channel' if per_channel else 'per-tensor'}-{activation}{'-rr' if reduce_range else ''}"


# -- machines --------------------------------------------------------------------


def cpu_flags() -> set:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def is_arm() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64") or platform.machine().lower().startswith("arm")


def exact_u8s8() -> tuple[bool, str]:
    """Whether onnxruntime's u8 x s8 kernels sum exactly with 8-bit weights (reduce_range=False):
    VNNI (vpdpbusds) on x86 or any ARM; AVX2/AVX512BW without VNNI saturate pair sums at int16
    (vpmaddubsw; docs/onnxruntime-qdq.md section 4).  Returns (exact, reason)."""
    if is_arm():
        return True, "ARM: exact int32 dot products"
    flags = cpu_flags()
    found = sorted(flags & {"avx512_vnni", "avx_vnni"})
    if found:
        return True, f"x86 with {', '.join(found)}"
    return False, ("this CPU has neither avx512_vnni nor avx_vnni: onnxruntime's u8s8 kernels saturate int16 "
                   "pair sums with 8-bit weights, so its results depend on the CPU (docs/onnxruntime-qdq.md §4)")


def s8_moved_to_u8() -> bool:
    """onnxruntime runs int8 activations as uint8 (zero point + 128) except on ARM
    (QDQIsInt8Allowed); exact for Conv/Gemm/MaxPool, not for AveragePool's float ties."""
    return not is_arm()


# -- PyTorch models ---------------------------------------------------------------


def _torch():
    import torch

    return torch, torch.nn


def torch_model(name: str, seed: int = 0):
    """A random-weight network by name (:data:`NETWORKS`), in evaluation mode:

    * ``lenet5-max``: LeNet-5 on 1x32x32, conv 5x5 6, max pool 2, conv 5x5 16, max pool 2, dense 120, 84, 10;
    * ``lenet5-avg``: the same with average pooling;
    * ``svhn-cnn``: the hls4ml paper's SVHN CNN on 3x32x32, conv 3x3 16, 16, 24 each with BatchNorm2d
      (non-trivial running statistics), ReLU and 2x2 max pooling, dense 42, 64, 10;
    * ``fashion-cnn``: 1x28x28, conv 3x3 padding 1 16 and 32 each with max pool 2, dense 64, 10;
    * ``stride2-cnn``: 1x28x28, conv 3x3 stride 2 padding 1 8 and 16, conv 3x3 padding 1 16, dense 32, 10.

    He-initialised weights (kaiming normal), biases N(0, 0.1), from ``seed``."""
    torch, nn = _torch()
    torch.manual_seed(seed)
    if name in ("lenet5-max", "lenet5-avg"):
        pool = nn.MaxPool2d if name == "lenet5-max" else nn.AvgPool2d
        layers = [nn.Conv2d(1, 6, 5), nn.ReLU(), pool(2), nn.Conv2d(6, 16, 5), nn.ReLU(), pool(2), nn.Flatten(),
                  nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)]
    elif name == "svhn-cnn":
        layers = []
        for cin, cout in ((3, 16), (16, 16), (16, 24)):
            layers += [nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        layers += [nn.Flatten(), nn.Linear(24 * 2 * 2, 42), nn.ReLU(), nn.Linear(42, 64), nn.ReLU(), nn.Linear(64, 10)]
    elif name == "fashion-cnn":
        layers = [nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                  nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10)]
    elif name == "stride2-cnn":
        layers = [nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                  nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 7 * 7, 32),
                  nn.ReLU(), nn.Linear(32, 10)]
    else:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(NETWORKS)}")
    m = nn.Sequential(*layers)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for layer in m:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu", generator=gen)
                layer.bias.normal_(0, 0.1, generator=gen)
            elif isinstance(layer, nn.BatchNorm2d):  # statistics a trained network might have
                n = layer.num_features
                layer.running_mean.copy_(torch.randn(n, generator=gen) * 0.3)
                layer.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                layer.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                layer.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return m.eval()


def images(name: str, n: int, seed: int = 0) -> np.ndarray:
    """(n, C, H, W) float32 images for a random network, in [0, 1] like the data sets': MNIST test
    digits for the 1x32x32 LeNets, Fashion-MNIST / MNIST test images (28x28) for fashion-cnn /
    stride2-cnn, uniform noise for svhn-cnn (no SVHN ships).  ``seed`` picks which."""
    shape = SHAPES[name]
    rng = np.random.default_rng(seed)
    if name == "svhn-cnn":
        return rng.uniform(0, 1, (n,) + shape).astype(np.float32)
    dataset = "fashion-mnist" if name == "fashion-cnn" else "mnist"
    x, _ = streamcnn.datasets.test_set(dataset, shape)
    return np.ascontiguousarray(x[rng.choice(len(x), n, replace=False)])


def trained_lenet5():
    """(module, network): the shipped int8 lenet5-mnist and a float nn.Sequential whose weights are its
    dequantized weights (W_q * weight_scale) and biases (bias_q * s_in * weight_scale)."""
    torch, nn = _torch()
    net = streamcnn.models.load("lenet5-mnist")
    layers, scale = [], net.input_scale
    for layer in net.layers:
        kind = type(layer).__name__
        if kind in ("Conv2d", "Linear"):
            ws = np.asarray(layer.weight_scale, np.float64)
            w = torch.tensor(layer.weight * ws.reshape((-1,) + (1,) * (layer.weight.ndim - 1)), dtype=torch.float32)
            if kind == "Conv2d":
                m = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=layer.stride, padding=layer.padding)
            else:
                m = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                m.weight.copy_(w)
                m.bias.copy_(torch.tensor(layer.bias * scale * ws, dtype=torch.float32))
            scale = layer.output_scale
        elif kind in ("MaxPool2d", "AvgPool2d"):
            m = getattr(nn, kind)(layer.kernel_size, layer.stride)
        else:
            m = getattr(nn, kind)()
        layers.append(m)
    return nn.Sequential(*layers).eval(), net


def mnist(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST test images ``offset .. offset + n`` as LeNet-5 takes them, (n, 1, 32, 32) float32 in
    [0, 1], and their labels."""
    x, y = streamcnn.datasets.test_set("mnist")
    return np.ascontiguousarray(x[offset:offset + n]), y[offset:offset + n]


# -- ONNX and onnxruntime ------------------------------------------------------------


def export(module, path, example: np.ndarray) -> Path:
    """``module`` as an ONNX file (TorchScript exporter, a dynamic batch axis; BatchNorm is folded)."""
    torch, _ = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.tensor(example[:2]),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return Path(path)


def quantize(src, dst, calibration: np.ndarray, *, per_channel: bool = True, activation: str = "QInt8",
             reduce_range: bool = True, batch: int = 8) -> Path:
    """``quantize_static`` of a float ONNX model: QDQ format, int8 weights (7-bit with
    ``reduce_range``), ``activation`` "QInt8" or "QUInt8", MinMax calibration on ``calibration``."""
    import logging

    from onnxruntime import quantization as q

    class Reader(q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": calibration[i:i + batch]} for i in range(0, len(calibration), batch)])

        def get_next(self):
            return next(self.batches, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "Please consider to run pre-processing before quantization"
    try:
        q.quantize_static(str(src), str(dst), Reader(), quant_format=q.QuantFormat.QDQ, per_channel=per_channel,
                          reduce_range=reduce_range, activation_type=getattr(q.QuantType, activation),
                          weight_type=q.QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(dst)


def build(module, folder, calibration: np.ndarray, stem: str, *, per_channel: bool = True,
          activation: str = "QInt8", reduce_range: bool = True) -> Path:
    """Export ``module`` (once per ``stem``) and quantize it (:func:`quantize`); the QDQ model's path."""
    folder = Path(folder)
    src = folder / f"{stem}.onnx"
    if not src.exists():
        export(module, src, calibration)
    dst = folder / f"{stem}-{config_id(per_channel, activation, reduce_range)}.onnx"
    return quantize(src, dst, calibration, per_channel=per_channel, activation=activation, reduce_range=reduce_range)


def _session(path, optimized_path=None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3  # the NchwcTransformer's warning when saving an optimized graph
    if optimized_path is not None:
        so.optimized_model_filepath = str(optimized_path)
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OrtModel:
    """A QDQ model in onnxruntime: :meth:`run` gives its quantized output (onnxruntime's integer
    domain, int8 or uint8), :attr:`scale` and :attr:`zero_point` the output's quantization."""

    def __init__(self, path):
        import onnx
        from onnx import numpy_helper

        self.path = Path(path)
        model = onnx.load(str(path))
        g = model.graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        (out,) = g.output
        dq = next(n for n in g.node if out.name in n.output)
        if dq.op_type != "DequantizeLinear":
            raise ValueError(f"{path}: the graph output comes from {dq.op_type}, not DequantizeLinear")
        self.scale = np.float32(inits[dq.input[1]].reshape(()))
        zp = inits[dq.input[2]] if len(dq.input) > 2 and dq.input[2] else np.uint8(0)
        self.dtype = zp.dtype
        self.zero_point = int(zp.reshape(()))
        self.session = _session(path)

    def run_float(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"x": np.ascontiguousarray(x, np.float32)})[0]

    def run(self, x: np.ndarray) -> np.ndarray:
        """The quantized output q (int8 or uint8): rint(y / scale) + zero point of the float output y."""
        y = self.run_float(x)
        steps = y / self.scale
        off = np.abs(steps - np.rint(steps))
        if off.size and off.max() > 1e-3:
            raise AssertionError(f"{self.path.name}: float output is not a multiple of its scale "
                                 f"(off by up to {off.max():.3g} steps)")
        return (np.rint(steps).astype(np.int32) + self.zero_point).astype(self.dtype)

    def optimized_ops(self, folder) -> list:
        """The operators of onnxruntime's optimized graph (default level)."""
        return optimized_ops(self.path, folder)


def optimized_ops(path, folder) -> list:
    import onnx

    out = Path(folder) / (Path(path).stem + "-optimized.onnx")
    _session(path, out)
    return [n.op_type for n in onnx.load(str(out)).graph.node]


def strip_output_dequantize(src, dst) -> Path:
    """A copy of a QDQ model without its final DequantizeLinear: the graph output is the last
    QuantizeLinear's (int8 or uint8)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(src))
    g = model.graph
    (out,) = g.output
    dq = next(n for n in g.node if out.name in n.output)
    zp = next(t for t in g.initializer if t.name == dq.input[2])
    shape = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    g.node.remove(dq)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(dq.input[0], zp.data_type, shape))
    onnx.save(model, str(dst))
    return Path(dst)


def to_streamcnn(q: np.ndarray) -> np.ndarray:
    """onnxruntime integers in streamcnn's int8 domain (int16): uint8 minus 128, int8 as it is."""
    return q.astype(np.int16) - (128 if q.dtype == np.uint8 else 0)


# -- importing into streamcnn --------------------------------------------------------


def import_qdq(path, calibration: Optional[np.ndarray] = None):
    """``streamcnn.from_onnx(path)``; while from_onnx still requires calibration images (it
    recalibrates), they are passed."""
    param = inspect.signature(streamcnn.from_onnx).parameters.get("calibration_images")
    if param is not None and param.default is inspect.Parameter.empty:
        return streamcnn.from_onnx(path, calibration)
    return streamcnn.from_onnx(path)


def streamcnn_quantization(net) -> dict:
    return {"input_scale": float(net.input_scale), "input_zero_point": int(getattr(net, "input_zero_point", 0)),
            "output_scale": float(net.output_scale), "output_zero_point": int(getattr(net, "output_zero_point", 0))}


def quantization_matches(net, ort_model: OrtModel, ort_input: tuple) -> dict:
    """Whether the imported network kept onnxruntime's input and output scales and zero points."""
    shift = lambda dtype: 128 if dtype == np.uint8 else 0  # noqa: E731
    s = streamcnn_quantization(net)
    in_scale, in_zp, in_dtype = ort_input
    return {"input": bool(np.float32(s["input_scale"]) == in_scale
                          and s["input_zero_point"] == in_zp - shift(in_dtype)),
            "output": bool(np.float32(s["output_scale"]) == ort_model.scale
                           and s["output_zero_point"] == ort_model.zero_point - shift(ort_model.dtype))}


# -- agreement ------------------------------------------------------------------------


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Agreement of two (N, classes) outputs in streamcnn's int8 domain, in output steps."""
    a, b = np.asarray(a, np.int32), np.asarray(b, np.int32)
    d = np.abs(a - b)
    return {"values": int(d.size), "identical": float((d == 0).mean()), "differ": int((d != 0).sum()),
            "max_diff": int(d.max()), "mean_diff": float(d.mean()),
            "top1": float((a.argmax(1) == b.argmax(1)).mean())}


# -- a NumPy emulation of the QDQ graph ---------------------------------------------------


def rne_shift(num: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """num / 2**shift rounded half to even (int64, shift >= 1)."""
    num = num.astype(np.int64)
    shift = np.asarray(shift, np.int64)
    floor = num >> shift
    rest = num - (floor << shift)
    half = np.int64(1) << (shift - 1)
    return floor + ((rest > half) | ((rest == half) & ((floor & 1) == 1)))


def fixed_point(scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, S) with M / 2**S exactly the float32 ``scale``, M in [2**23, 2**24)."""
    m, e = np.frexp(np.asarray(scale, np.float32).astype(np.float64))
    return np.rint(m * 2.0**24).astype(np.int64), (24 - e).astype(np.int64)


class _Step:
    def __init__(self, kind, **kw):
        self.kind = kind
        self.__dict__.update(kw)


def qdq_chain(path) -> tuple[tuple, list]:
    """The QDQ model at ``path`` as ((input scale, zero point, dtype), steps): each step a
    conv/gemm/maxpool/avgpool/flatten with its integer weights and its input and output
    quantization (scale float32, zero point, dtype), in onnxruntime's domain.  Only the single
    chains quantize_static writes for the networks here (Relu folded into the Q ranges)."""
    import onnx
    from onnx import helper, numpy_helper

    g = onnx.load(str(path)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    deq = {}  # DequantizeLinear of an initializer: name -> (q, scale, zp, axis)
    act_q = {}  # quantized activation tensor name -> (scale, zp, dtype)
    alias = {}  # DequantizeLinear output of an activation -> the quantized tensor's name
    steps, pending, qin = [], None, None

    def qparams(node):
        s = np.asarray(inits[node.input[1]], np.float32)
        z = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(s.shape, np.uint8)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        return s, z, axis

    for node in g.node:
        op = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if op == "DequantizeLinear" and node.input[0] in inits:
            s, z, axis = qparams(node)
            deq[node.output[0]] = (inits[node.input[0]], s, z, axis)
        elif op == "QuantizeLinear":
            s, z, _ = qparams(node)
            info = (np.float32(s.reshape(())), int(z.reshape(())), z.dtype)
            act_q[node.output[0]] = info
            if node.input[0] == g.input[0].name:
                qin = info
            else:
                if pending is None or pending.out_name != node.input[0]:
                    raise ValueError(f"{path}: QuantizeLinear {node.name} does not follow an operator")
                pending.out = info
                steps.append(pending)
                pending = None
        elif op == "DequantizeLinear":
            alias[node.output[0]] = node.input[0]
        elif op in ("Conv", "Gemm", "MaxPool", "AveragePool", "Flatten"):
            src = alias.get(node.input[0])
            if src is None or pending is not None:
                raise ValueError(f"{path}: {op} {node.name} does not read a dequantized activation")
            step = _Step(op, inp=act_q[src], out_name=node.output[0], attrs=attrs)
            if op in ("Conv", "Gemm"):
                w, ws, wz, waxis = deq[node.input[1]]
                if np.any(wz != 0):
                    raise ValueError("weights with a zero point")
                w = w.astype(np.int64)
                if op == "Gemm":
                    if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
                        raise ValueError("Gemm with transA or alpha")
                    if not attrs.get("transB", 0):
                        w, waxis = w.T, 1 - waxis
                if ws.size > 1 and waxis != 0:
                    raise ValueError("weights quantized along an axis other than the output channels")
                step.w = w
                step.ws = np.broadcast_to(ws.reshape(-1), (w.shape[0],)).astype(np.float32)
                step.bias = (deq[node.input[2]][0].astype(np.int64) if len(node.input) > 2 and node.input[2]
                             else np.zeros(w.shape[0], np.int64))
            pending = step
        else:
            raise ValueError(f"{path}: operator {op} ({node.name}) is not emulated")
    if qin is None or pending is not None:
        raise ValueError(f"{path}: not a chain from a QuantizeLinear to a quantized output")
    return qin, steps


def _limits(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def _conv_acc(x: np.ndarray, zx: int, w: np.ndarray, strides, pads) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    xp = np.pad(x.astype(np.float64) - zx, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::strides[0], ::strides[1]]
    return np.rint(np.einsum("ncyxij,ocij->noyx", win, w.astype(np.float64), optimize=True)).astype(np.int64)


def _requantize(acc: np.ndarray, step, numerics: str) -> np.ndarray:
    xs, _, _ = step.inp
    ys, yz, ydt = step.out
    lo, hi = _limits(ydt)
    scale = (np.float32(xs) * step.ws) / np.float32(ys)  # float32, in onnxruntime's order
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    if numerics == "onnxruntime":  # MlasRequantizeOutput: float32(acc) * scale, clamped, rounded half to even
        v = acc.astype(np.float32) * scale.reshape(shape)
        v = np.clip(v, np.float32(lo - yz), np.float32(hi - yz))
        return np.rint(v).astype(np.int64) + yz
    m, s = fixed_point(scale)
    q = rne_shift(acc * m.reshape(shape), s.reshape(shape)) + yz
    return np.clip(q, lo, hi)


def _avgpool(x: np.ndarray, step, numerics: str, u8: bool, stats: Optional[dict]) -> np.ndarray:
    from numpy.lib.stride_tricks import sliding_window_view

    k = step.attrs["kernel_shape"]
    st = step.attrs.get("strides", k)
    if any(step.attrs.get("pads", [0, 0, 0, 0])) or step.attrs.get("ceil_mode", 0):
        raise ValueError("AveragePool with padding or ceil_mode")
    xs, xz, xdt = step.inp
    ys, yz, ydt = step.out
    win = sliding_window_view(x, tuple(k), axis=(2, 3))[:, :, ::st[0], ::st[1]]
    n = k[0] * k[1]
    total = win.astype(np.int64).sum(axis=(-2, -1))
    mean, rest = np.divmod(total, n)
    exact = mean + ((2 * rest > n) | ((2 * rest == n) & ((mean & 1) == 1)))  # rne(mean of q), any domain
    # onnxruntime's kernel (qlinear_pool.cc): float32 x_scale * (x - zp), summed in h-then-w order,
    # divided by the count, then nearbyintf(y / y_scale + y_zero_point), in its (uint8 on x86) domain
    shift = 128 if (u8 and xdt == np.int8) else 0
    deq = np.float32(xs) * (win.astype(np.int32) - xz).astype(np.float32)
    acc = np.zeros(total.shape, np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            acc = acc + deq[..., i, j]
    y = acc / np.float32(n)
    lo, hi = _limits(ydt)
    ort = np.clip(np.rint(y / np.float32(ys) + np.float32(yz + shift)).astype(np.int64) - shift, lo, hi)
    if stats is not None:
        ties = 2 * rest == n
        stats.setdefault("avgpool_outputs", 0)
        stats["avgpool_outputs"] += int(total.size)
        stats["avgpool_ties"] = stats.get("avgpool_ties", 0) + int(ties.sum())
        stats["avgpool_float_differs"] = stats.get("avgpool_float_differs", 0) + int((ort != exact).sum())
        stats["avgpool_float_differs_off_ties"] = (stats.get("avgpool_float_differs_off_ties", 0)
                                                   + int(((ort != exact) & ~ties).sum()))
    if numerics == "onnxruntime":
        return ort
    if (np.float32(xs), xz) != (np.float32(ys), yz):
        raise ValueError("AveragePool whose output quantization differs from its input's")
    return exact


def emulate(path, x: np.ndarray, *, numerics: str = "onnxruntime", avgpool: Optional[str] = None,
            u8: Optional[bool] = None, stats: Optional[dict] = None) -> np.ndarray:
    """The QDQ model at ``path`` on float images ``x``, in NumPy; its quantized output in
    onnxruntime's domain (int64 values of its int8/uint8 type).

    ``numerics="onnxruntime"``: as onnxruntime's fused CPU kernels compute (docs/onnxruntime-qdq.md
    §1-4: float32 requantization rounded half to even, AveragePool in float32).  ``"fixed"``:
    streamcnn's numerics (the float32 scale as an exact 24-bit fixed-point multiplier, rounded half
    to even; the integer window mean rounded half to even).  ``avgpool`` overrides the AveragePool
    arithmetic alone ("onnxruntime" or "fixed").  ``u8``: whether onnxruntime moves int8 activations
    to uint8 (default: not on ARM).  ``stats`` (a dict) collects AveragePool tie counts."""
    if numerics not in ("onnxruntime", "fixed"):
        raise ValueError(numerics)
    avgpool = avgpool or numerics
    u8 = s8_moved_to_u8() if u8 is None else u8
    (xs, xz, xdt), steps = qdq_chain(path)
    lo, hi = _limits(xdt)
    q = np.clip(np.rint(np.asarray(x, np.float32) / xs).astype(np.int64) + xz, lo, hi)
    for step in steps:
        if step.kind == "Conv":
            a = step.attrs
            acc = _conv_acc(q, step.inp[1], step.w, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]))
            q = _requantize(acc + step.bias[None, :, None, None], step, numerics)
        elif step.kind == "Gemm":
            acc = np.rint((q.astype(np.float64) - step.inp[1]) @ step.w.T.astype(np.float64)).astype(np.int64)
            q = _requantize(acc + step.bias[None, :], step, numerics)
        elif step.kind == "MaxPool":
            from numpy.lib.stride_tricks import sliding_window_view

            k = step.attrs["kernel_shape"]
            st = step.attrs.get("strides", k)
            q = sliding_window_view(q, tuple(k), axis=(2, 3))[:, :, ::st[0], ::st[1]].max(axis=(-2, -1))
        elif step.kind == "AveragePool":
            q = _avgpool(q, step, avgpool, u8, stats)
        else:  # Flatten
            q = q.reshape(len(q), -1)
        if step.kind in ("MaxPool", "Flatten") and (step.inp[:2] != step.out[:2]):
            raise ValueError(f"{step.kind} whose output quantization differs from its input's")
    return q


def emulate_streamcnn(path, x: np.ndarray, **kw) -> np.ndarray:
    """:func:`emulate` with ``numerics="fixed"``, in streamcnn's int8 domain (int16)."""
    (_, _, _), steps = qdq_chain(path)
    q = emulate(path, x, numerics="fixed", **kw)
    return (q - (128 if steps[-1].out[2] == np.uint8 else 0)).astype(np.int16)


def has_avgpool(path) -> bool:
    return any(s.kind == "AveragePool" for s in qdq_chain(path)[1])
