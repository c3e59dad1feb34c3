"""Activation zero points (program format 7): device == golden where they matter (padding,
standalone ReLU clamps, Linear inputs, ties), the errors naming them, quantization, model
files, the QDQ importer, and the smoke topologies and fuzz seeds that carry them."""
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

import streamcnn
from streamcnn import golden, lowering, modelfile, smoke, zoo
from streamcnn import protocol as P
from streamcnn.errors import InputError, ModelFileError, NetworkError, UnsupportedError
from streamcnn.network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from streamcnn.quantization import FloatConv2d, activation_params, quantize

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover
    onnx = None
needs_onnx = pytest.mark.skipif(onnx is None, reason="needs the onnx package")

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
C = P.C


def int8(rng, shape):
    return rng.integers(-128, 128, shape).astype(np.int8)


def conv(rng, cout, cin, k, zero_point, **kw):
    """Random int8 weights; build() (zoo.integer_network) calibrates bias and requantization."""
    k = (k, k) if isinstance(k, int) else k
    return Conv2d(int8(rng, (cout, cin) + k), *zoo._placeholder_requant(cout), output_zero_point=zero_point, **kw)


def linear(rng, fout, fin, zero_point):
    return Linear(int8(rng, (fout, fin)), *zoo._placeholder_requant(fout), output_zero_point=zero_point)


def build(rng, shape, layers, input_zero_point):
    return zoo.integer_network(shape, layers, int8(rng, (8,) + shape), rng, input_zero_point=input_zero_point)


def on_device(device, net, x, batch, **options):
    prog = device.load(net, batch=batch, **options)
    out, expected = prog.run(x), golden.run(net, x)
    assert np.array_equal(out, expected), f"{int((out != expected).sum())} of {out.size} outputs differ"
    assert len(np.unique(expected)) > 1, "degenerate test: constant output"
    return prog, expected


# -- 1. device == golden ------------------------------------------------------------------------

@pytest.mark.parametrize("shape,k,pad,packing,packed,batch", [
    ((1, 32, 32), 5, (2, 3), True, True, 1),    # LeNet-like: 1 channel x 5 columns <= 8 lanes: column-packed
    ((1, 32, 32), 5, (2, 3), False, False, 3),  # the same, packing switched off (batch > 1: a SEGMENT)
    ((1, 32, 32), 3, (1, 1), True, True, 4),    # column-packed in a SEGMENT (image chunks)
    ((3, 12, 12), 3, (1, 1), True, False, 2),   # 3 x 3 columns > 8 lanes: never packed
], ids=["column-packed", "packing-off-segment", "packed-segment", "plain-segment"])
@pytest.mark.parametrize("zx", [45, -128])
def test_first_conv_pads_with_the_input_zero_point(device, rng, shape, k, pad, packing, packed, batch, zx):
    layers = [conv(rng, 6, shape[0], k, -128, padding=pad), ReLU(), MaxPool2d(2), conv(rng, 3, 6, 1, 9)]
    net = build(rng, shape, layers, zx)
    prog, _ = on_device(device, net, int8(rng, (2 * batch + 1,) + shape), batch, column_packing=packing)
    assert (prog.compiled.columns is not None) == packed
    assert (prog.compiled.segment is not None) == (batch > 1)
    # padding is a real 0: the same conv without padding on the image padded with zx agrees
    x, (ph, pw), c0 = int8(rng, (2,) + shape), pad, net.layers[0]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=zx)
    unpadded = Conv2d(c0.weight, c0.bias, c0.multiplier, c0.shift, output_zero_point=-128)
    explicit = Network(xp.shape[1:], [unpadded], input_zero_point=zx)
    assert np.array_equal(golden.run(explicit, xp), golden.run(net, x, all_layers=True)[0])


@pytest.mark.parametrize("z", [37, -128, -45])
@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
def test_standalone_relu_after_a_pool_clamps_at_the_zero_point(device, rng, z, pool):
    net = build(rng, (3, 11, 11), [conv(rng, 9, 3, 3, z), pool(2), ReLU()], 5)
    relus = [hw for hw in lowering.lower(net).layers if hw.op == P.Op.RELU]
    assert len(relus) == 1 and relus[0].in_zero == z  # standalone (not fused), clamping at z
    x = int8(rng, (4, 3, 11, 11))
    _, out = on_device(device, net, x, 2)
    pooled = golden.run(net, x, all_layers=True)[1]
    assert np.array_equal(out, np.maximum(pooled, z)) and out.min() == z
    assert (pooled < z).any() or z == -128  # the clamp did something


def test_linear_after_flatten_with_input_zero_point_minus_128(device, rng):
    # a Linear whose input is unsigned (after a ReLU), one on the flattened network input, and
    # a standalone ReLU on the flattened (batch-innermost) activations
    net = build(rng, (2, 9, 9), [conv(rng, 5, 2, 3, -128), ReLU(), MaxPool2d(2), Flatten(),
                                 linear(rng, 12, 5 * 3 * 3, 23)], 0)
    assert net.zero_points(inputs=True)[-1] == -128
    on_device(device, net, int8(rng, (5, 2, 9, 9)), 2)
    flat = build(rng, (3, 4, 5), [Flatten(), linear(rng, 7, 60, -128)], -128)
    on_device(device, flat, int8(rng, (3, 3, 4, 5)), 3)
    relu = build(rng, (3, 6, 6), [conv(rng, 5, 3, 3, 37), Flatten(), ReLU(), linear(rng, 9, 80, -128)], 11)
    on_device(device, relu, int8(rng, (7, 3, 6, 6)), 3)


def test_avg_pool_ties_round_half_to_even(device, rng):
    # hand-worked windows: sums 2, 6, 10, -2, -6, 254, 506, -510, means 0.5, 1.5, ..., -127.5
    windows = [[1, 1, 0, 0], [3, 3, 0, 0], [5, 5, 0, 0], [-1, -1, 0, 0], [-3, -3, 0, 0],
               [64, 63, 64, 63], [127, 127, 126, 126], [-128, -128, -127, -127]]
    x = np.array(windows, np.int8).reshape(1, -1, 2, 2)
    assert golden.avg_pool(x, 2, 2).ravel().tolist() == [0, 2, 2, 0, -2, 64, 126, -128]
    # random images whose every 2x2 window sums to 2 mod 4: every output is a tie
    x = int8(rng, (4, 5, 8, 8)).astype(np.int64)
    last = x[:, :, 1::2, 1::2] + (2 - x.reshape(4, 5, 4, 2, 4, 2).sum(axis=(3, 5))) % 4  # sum + this = 2 mod 4
    x[:, :, 1::2, 1::2] = np.where(last > 127, last - 4, last)
    sums, x = x.reshape(4, 5, 4, 2, 4, 2).sum(axis=(3, 5)), x.astype(np.int8)
    assert np.all(sums % 4 == 2)
    net = Network((5, 8, 8), [AvgPool2d(2)], input_zero_point=37)  # the zero point passes through
    _, out = on_device(device, net, x, 2)
    assert np.array_equal(out, np.vectorize(lambda t: round(t / 4))(sums))  # Python's round: half to even


def test_requantization_ties_round_before_the_zero_point(device, rng):
    # M = 2**23, S = 24: v * M / 2**S = v / 2, a tie for every odd v; zy = 37 is odd, so
    # rounding after adding it (or half up) would give other values
    v = np.array([1, 3, 5, 7, -1, -3, -5, -7, 2, 179, 181, 183, -329, -331])
    expected = [37, 39, 39, 41, 37, 35, 35, 33, 38, 127, 127, 127, -127, -128]
    n, zx, zy = len(v), -3, 37
    m, s = np.full(n, 1 << 23, np.int64), np.full(n, 24, np.int64)
    assert golden.requantize(v.reshape(1, -1), m, s, zy).ravel().tolist() == expected
    assert expected == [min(127, max(-128, round(int(a) / 2) + zy)) for a in v]  # Python's round: half to even
    x = int8(rng, (1, 1, 1, n))
    bias = (v - (x.ravel().astype(np.int64) - zx)).astype(np.int32)  # acc + bias = v exactly
    net = Network((1, 1, n), [Flatten(), Linear(np.eye(n, dtype=np.int8), bias, m, s, output_zero_point=zy)],
                  input_zero_point=zx)
    _, out = on_device(device, net, x, 1)
    assert out.ravel().tolist() == expected


# -- 2. errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("zp,message", [
    (128, r"c1: a zero point must lie in the int8 range \[-128, 127\], got 128"),
    (1.0, r"c1: a zero point must be an integer, got 1\.0"),
    ("3", r"c1: a zero point must be an integer, got '3'"),
    (True, r"c1: a zero point must be an integer, got True"),
])
def test_a_bad_zero_point_names_the_layer(rng, zp, message):
    with pytest.raises(NetworkError, match=message):
        Network((1, 4, 4), [ReLU(), conv(rng, 2, 1, 3, zp, name="c1")])
    with pytest.raises(NetworkError, match=message.replace("c1", "net: input")):
        Network((1, 4, 4), [ReLU()], name="net", input_zero_point=zp)
    net = Network((1, 4, 4), [conv(rng, 2, 1, 3, np.int8(-7), name="c1")], input_zero_point=np.int16(3))
    assert net.zero_points(inputs=True) == [3] and type(net.layers[0].output_zero_point) is int  # NumPy ints pass


def test_a_folded_bias_outside_int32_names_layer_and_channel():
    def net(bias2, z, name="c1"):
        w = np.array([0, 0, 127], np.int8).reshape(3, 1, 1, 1)
        c0 = Conv2d(np.ones((1, 1, 1, 1), np.int8), np.zeros(1, np.int32), np.ones(1, np.int64),
                    np.zeros(1, np.int64), output_zero_point=z, name="c0")
        c1 = Conv2d(w, np.array([0, 2**31 - 1, bias2], np.int32), np.full(3, 1 << 23), np.full(3, 24), name=name)
        return Network((1, 2, 2), [c0, c1])  # c1's input zero point is c0's output's

    top = 2**31 - 1 - 128 * 127
    net(top, -128)  # folded to exactly 2**31 - 1: fits (channel 1's 2**31 - 1 has weights' sum 0)
    net(top + 1, 0)  # zero point 0: nothing is folded
    with pytest.raises(NetworkError) as e:
        net(top + 1, -128, name="conv_b")
    assert str(e.value).startswith(f"conv_b: output channel 2's bias minus the input zero point (-128) times its "
                                   f"weights' sum is {2**31}, outside int32")
    lin = Linear(np.full((2, 4), 25, np.int8), np.array([-2**31 + 10, 0], np.int32), np.full(2, 1 << 23),
                 np.full(2, 24), name="fc")
    with pytest.raises(NetworkError, match=re.escape(f"fc: output channel 0's bias minus the input zero point (5) "
                                                     f"times its weights' sum is {-2**31 + 10 - 500}, outside int32")):
        Network((1, 2, 2), [Flatten(), lin], input_zero_point=5)


# -- 3. quantize_input / dequantize_output ---------------------------------------------------------

def test_quantize_input_and_dequantize_output_with_a_zero_point():
    net = Network((1, 1, 10), [ReLU()], input_scale=0.5, input_zero_point=10)
    x = np.array([0.0, 0.25, 0.75, -0.25, 1.25, -1.25, 58.5, 58.75, -69, -70], np.float32).reshape(1, 1, 1, -1)
    q = net.quantize_input(x)  # x / 0.5 rounded half to even, + 10, clamped
    assert q.dtype == np.int8 and q.ravel().tolist() == [10, 10, 12, 10, 12, 8, 127, 127, -128, -128]
    assert net.dequantize_output(q).ravel().tolist() == [0, 0, 1, 0, 1, -1, 58.5, 58.5, -69, -69]
    with pytest.raises(InputError, match=r"about \[-69, 58\.5\]"):  # 123.5 / 0.5 + 10 = 257 steps: refused
        net.quantize_input(np.full((1, 1, 1, 10), 123.5, np.float32))
    assert np.array_equal(net.quantize_input(net.dequantize_output(q)), q)  # the exact inverse
    # uint8 pixels p stand for p / 255: with scale 1/255 and zero point -128 they become p - 128
    pixels = Network((1, 1, 256), [ReLU()], input_scale=1 / 255, input_zero_point=-128)
    assert pixels.quantize_input(np.arange(256, dtype=np.uint8).reshape(1, 1, 1, -1)).ravel().tolist() == \
        list(range(-128, 128))
    # the output's zero point is the last Conv2d/Linear's
    lin = Linear(np.eye(3, dtype=np.int8), np.zeros(3, np.int32), np.full(3, 1 << 23), np.full(3, 23),
                 output_scale=0.25, output_zero_point=-128)
    net = Network((1, 1, 3), [Flatten(), lin, ReLU()], input_zero_point=7)
    assert net.dequantize_output(np.array([[-128, 0, 127]], np.int8)).tolist() == [[0.0, 32.0, 63.75]]


# -- 4. activation_params ---------------------------------------------------------------------------

@pytest.mark.parametrize("values,scale,zp", [
    ([0.0, 2.55], 2.55 / 255, -128),     # after a ReLU: unsigned, all 256 levels
    ([0.5, 2.0], 2.0 / 255, -128),       # widened to include 0
    ([-1.0, 3.0], 4.0 / 255, -64),       # -128 + 63.75 = -64.25
    ([-1.0, 1.0], 2.0 / 255, 0),         # -128 + 127.5: a tie, to even
    ([-2.55, -0.1], 2.55 / 255, 127),    # all negative: widened to 0 at the top
    ([0.0, 0.0], 1e-8, 0),               # no range
])
def test_activation_params(values, scale, zp):
    s, z = activation_params(np.array(values))
    assert (s, z) == (scale, zp) and type(z) is int
    lo, hi = min(min(values), 0), max(max(values), 0)
    if hi > lo:
        assert (hi - lo) / s == pytest.approx(255)  # 255 steps from lo to hi: all 256 levels
        assert lo / s + z == pytest.approx(-128, abs=0.5) and hi / s + z == pytest.approx(127, abs=0.5)


def test_quantize_gives_relu_outputs_and_nonnegative_inputs_zero_point_minus_128(rng):
    layers = [FloatConv2d(rng.normal(0, 0.5, (4, 1, 3, 3)), rng.normal(0, 0.1, 4), padding=1), ReLU()]
    x = rng.uniform(0, 1, (8, 1, 6, 6)).astype(np.float32)
    assert quantize((1, 6, 6), layers, x).zero_points(inputs=True) == [-128, -128]  # images in [0, 1), the ReLU's
    assert quantize((1, 6, 6), layers, x, input_scale=0.01).input_zero_point == 0  # a given scale: symmetric
    with pytest.raises(NetworkError, match="input_zero_point needs input_scale"):
        quantize((1, 6, 6), layers, x, input_zero_point=-128)


# -- 5. model files ------------------------------------------------------------------------------

@pytest.fixture
def zp_net(rng):
    return build(rng, (2, 7, 7), [conv(rng, 4, 2, 3, -128, padding=1), ReLU(), AvgPool2d(2), ReLU(), Flatten(),
                                  linear(rng, 5, 36, 19)], 37)


def edited(tmp_path, net, edit):
    """``net`` saved, its network.json edited."""
    with zipfile.ZipFile(net.save(tmp_path / "m.scnn")) as z:
        files = {n: z.read(n) for n in z.namelist()}
    header = json.loads(files["network.json"])
    edit(header)
    files["network.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(tmp_path / "edited.scnn", "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return tmp_path / "edited.scnn"


def test_zero_points_round_trip(tmp_path, rng, zp_net):
    path = zp_net.save(tmp_path / "zp.scnn")
    with zipfile.ZipFile(path) as z:
        header = json.loads(z.read("network.json"))
    assert header["version"] == 2 and header["input_zero_point"] == 37
    assert [e.get("output_zero_point") for e in header["layers"]] == [-128, None, None, None, None, 19]
    back = modelfile.load(path)
    assert back.input_zero_point == 37 and back.zero_points() == zp_net.zero_points() == [-128] * 5 + [19]
    assert back.zero_points(inputs=True) == zp_net.zero_points(inputs=True)
    x = int8(rng, (3, 2, 7, 7))
    assert np.array_equal(golden.run(back, x), golden.run(zp_net, x))


def test_a_version_1_file_loads_with_zero_points_0(tmp_path, zp_net):
    def v1(h):  # as files were written before zero points
        del h["input_zero_point"]
        h.update(version=1, layers=[{k: v for k, v in e.items() if k != "output_zero_point"} for e in h["layers"]])

    back = modelfile.load(edited(tmp_path, zp_net, v1))
    assert back.input_zero_point == 0 and back.zero_points() == [0] * 6 and back.zero_points(inputs=True) == [0] * 6


@pytest.mark.parametrize("key,value,message", [
    ("output_zero_point", "5", r"0 \('conv2d0'\): output_zero_point must be an integer in \[-128, 127\], got '5'"),
    ("output_zero_point", True, r"output_zero_point must be an integer .*got True"),
    ("output_zero_point", 1 << 20, r"output_zero_point must be an integer .*got 1048576"),
    ("output_zero_point", 128, r"the network it holds is invalid: conv2d0: a zero point must lie in the int8 range"),
    ("input_zero_point", -129, r"the network it holds is invalid: network: input: a zero point must lie in the int8"),
    ("input_zero_point", [0], r"network\.json: input_zero_point must be an integer .*got \[0\]"),
])
def test_a_bad_zero_point_in_a_file_is_a_model_file_error(tmp_path, zp_net, key, value, message):
    where = (lambda h: h) if key == "input_zero_point" else (lambda h: h["layers"][0])
    with pytest.raises(ModelFileError, match=message):
        modelfile.load(edited(tmp_path, zp_net, lambda h: where(h).update({key: value})))


# -- 6. QDQ import -------------------------------------------------------------------------------

def onnx_model(nodes, inits, shape=(1, 1, 6, 6), opset=21):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def qdq_pool(second_scale, second_zp, first_zp=np.int8(3)):
    """x -> Q 'q_in' (0.1, first_zp) -> DQ -> MaxPool 'pool' -> Q 'q_after_pool' (second_*) -> DQ -> y."""
    node = helper.make_node
    nodes = [node("QuantizeLinear", ["x", "s1", "z1"], ["xq"], name="q_in"),
             node("DequantizeLinear", ["xq", "s1", "z1"], ["xd"]),
             node("MaxPool", ["xd"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             node("QuantizeLinear", ["p", "s2", "z2"], ["pq"], name="q_after_pool"),
             node("DequantizeLinear", ["pq", "s2", "z2"], ["y"])]
    return onnx_model(nodes, {"s1": np.float32(0.1), "z1": first_zp, "s2": np.float32(second_scale), "z2": second_zp})


@needs_onnx
def test_qdq_zero_points_input_scale_and_calibration(device, tmp_path, rng):
    """A float model needs calibration images; its quantize_static (QDQ, QUInt8) keeps its zero points."""
    pytest.importorskip("onnxruntime.quantization")
    import ort_models  # onnxruntime's quantize_static as tests/test_onnxruntime.py calls it

    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = {"w": (4, 1, 3, 3), "b": (4,), "fw": (5, 36), "fb": (5,)}
    inits = {k: rng.normal(0, 0.4, shape).astype(np.float32) for k, shape in inits.items()}
    onnx.save(onnx_model(nodes, inits, ("n", 1, 6, 6), 13), str(tmp_path / "f.onnx"))
    with pytest.raises(InputError, match=r"^f is a float ONNX model: it needs calibration images"):
        streamcnn.from_onnx(tmp_path / "f.onnx")
    calibration = rng.uniform(-1, 1, (16, 1, 6, 6)).astype(np.float32)
    ort_models.quantize(tmp_path / "f.onnx", tmp_path / "q.onnx", calibration, activation="QUInt8")
    model = onnx.load(str(tmp_path / "q.onnx"))
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    zps = [int(consts[n.input[2]]) - 128 for n in model.graph.node if n.op_type == "QuantizeLinear"]
    net = streamcnn.from_onnx(tmp_path / "q.onnx")
    assert zps[1] == -128  # the ReLU folded into its QuantizeLinear: unsigned
    assert [net.input_zero_point, net.layers[0].output_zero_point, net.layers[-1].output_zero_point] == \
        [zps[0], zps[1], zps[-1]]
    on_device(device, net, calibration[:5], 2)
    with pytest.raises(NetworkError, match=r"input_scale: a quantized \(QDQ\) model brings its own input scale"):
        streamcnn.from_onnx(tmp_path / "q.onnx", input_scale=float(net.input_scale))


@needs_onnx
@pytest.mark.parametrize("second,first,message", [
    ((0.2, np.int8(3)), np.int8(3), r"QuantizeLinear node 'q_after_pool' after pool changes the scale or zero point "
                                    r"\(0\.1, 3\) to \(0\.2, 3\); the accelerator's MaxPool2d keeps them"),
    ((0.1, np.int8(5)), np.int8(3), r"QuantizeLinear node 'q_after_pool' after pool changes .* to \(0\.1, 5\)"),
    ((0.1, np.int8(3)), np.int16(3), r"node 'q_in' quantizes to int16; streamcnn's activations are 8-bit"),
    ((0.1, np.int16(3)), np.int8(3), r"QuantizeLinear node 'q_after_pool' quantizes to int16"),
], ids=["requantizing-scale", "requantizing-zero-point", "int16-input", "int16-after-pool"])
def test_qdq_activations_the_accelerator_cannot_hold_are_refused_naming_the_node(second, first, message):
    with pytest.raises(UnsupportedError, match=message):
        streamcnn.from_onnx(qdq_pool(*second, first))
    net = streamcnn.from_onnx(qdq_pool(0.1, np.int8(3)))  # the same parameters after the pool: accepted
    assert [type(layer) for layer in net.layers] == [MaxPool2d] and net.input_zero_point == 3


# -- 7. smoke topologies ----------------------------------------------------------------------------

def test_smoke_topologies_carry_every_kind_of_zero_point(device):
    """`streamcnn smoke-test` runs topologies 0..49 of seed 1 by default (tests/test_random.py 200)."""
    points, relu_points = set(), []
    for i in range(50):
        net, _, _ = smoke.topology(1, i, device)
        points |= {net.input_zero_point, *net.zero_points()}
        relu_points += [hw.in_zero for hw in lowering.lower(net).layers if hw.op == P.Op.RELU]
    assert {0, -128} <= points and points - {0, -128}
    assert set(relu_points) - {0, -128}  # a standalone ReLU clamping at neither 0 nor -128


# -- 8. fuzz seeds --------------------------------------------------------------------------------

def zero_fields(words):
    """(opcode, input zero point field, output's or None) of each CONV, FC and RELU packet."""
    f = lambda word, key, bits="SCNN_ZERO_BITS": P.field(word, C[key], C[bits])  # noqa: E731
    assert f(words[1], "SCNN_HDR_TOTAL_SHIFT", "SCNN_HDR_TOTAL_BITS") == len(words)
    pos, op, fields = C["SCNN_HDR_WORDS"], None, []
    while pos < len(words):
        op = f(words[pos], "SCNN_PKT_OPCODE_SHIFT", "SCNN_PKT_OPCODE_BITS")
        payload = words[pos + 1:pos + 1 + f(words[pos], "SCNN_PKT_LENGTH_SHIFT", "SCNN_PKT_LENGTH_BITS")]
        if op in (P.Op.CONV, P.Op.FC):  # w1 [55:48] input, [63:56] output zero point
            fields.append((op, f(payload[1], "SCNN_L1_IN_ZERO_SHIFT"), f(payload[1], "SCNN_L1_OUT_ZERO_SHIFT")))
        elif op == P.Op.RELU:  # [55:48]: the clamp
            fields.append((op, f(payload[0], "SCNN_RELU_ZERO_SHIFT"), None))
        pos += 1 + len(payload)
    assert pos == len(words) and op == P.Op.END
    return fields


def test_fuzz_seeds_carry_nonzero_zero_points(device):
    seeds = sorted(CORPUS.glob("seed-*.bin"))
    fields = {p.name: zero_fields(np.frombuffer(p.read_bytes(), "<u8")) for p in seeds if p.name != "seed-caps.bin"}
    every = [f for fs in fields.values() for f in fs]
    assert any(op in (P.Op.CONV, P.Op.FC) and out != 0 for op, _, out in every)
    assert any(op == P.Op.RELU and zp != 0 for op, zp, _ in every)
    assert all(zin == 0 for op, zin, _ in every if op == P.Op.FC)  # a dense layer has no padding
    # each random seed's fields are its topology's zero points (scripts/fuzz.py: smoke.topology(7, i))
    randoms = [m for m in map(re.compile(r"seed-random-(\d+)-(\d+)-batch(\d+)\.bin").fullmatch, fields) if m]
    assert len(randoms) >= 10
    for m in randoms:
        net, batch, _ = smoke.topology(int(m[1]), int(m[2]), device)
        hw = [h for h in lowering.lower(net).layers if h.op in (P.Op.CONV, P.Op.FC, P.Op.RELU)]
        assert batch == int(m[3]) and fields[m[0]] == [(h.op, (0 if h.op == P.Op.FC else h.in_zero) & 0xFF,
                                                        None if h.op == P.Op.RELU else h.out_zero & 0xFF) for h in hw]
