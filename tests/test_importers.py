"""from_torch and from_onnx: supported models import faithfully; anything else is named."""
import warnings

import numpy as np
import pytest

import streamcnn
from streamcnn import golden
from streamcnn.errors import UnsupportedError

torch = pytest.importorskip("torch", reason="the importers are tested with PyTorch models")
nn = torch.nn


def small_cnn():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(4, 8, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.5),
                      nn.Linear(32, 6), nn.ReLU(), nn.Linear(6, 5))
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 1, 12, 12) * 2 + 0.5)  # BatchNorm running statistics that are not trivial
    return m.eval()


@pytest.fixture(scope="module")
def calib():
    return np.random.default_rng(0).standard_normal((32, 1, 12, 12)).astype(np.float32)


def reference(m, x):
    with torch.no_grad():
        return m(torch.tensor(x)).numpy()


def test_from_torch_folds_batchnorm_and_matches_pytorch(calib):
    m = small_cnn()
    net = streamcnn.from_torch(m, calib)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    ref = reference(m, calib)
    # the float path has int8 weights: within their rounding of PyTorch
    assert np.abs(golden.run_float(net, calib) - ref).max() < 0.01
    assert np.abs(net.dequantize_output(golden.run(net, calib)) - ref).max() < 4 * net.output_scale
    m.train()
    streamcnn.from_torch(m, calib)
    assert m.training  # imported in eval mode, handed back as it was


def test_from_torch_reads_functional_forward(calib):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3, padding="same")
            self.fc = nn.Linear(3 * 12 * 12, 4)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = x.view(x.size(0), -1)
            return self.fc(torch.flatten(x, 1))

    net = streamcnn.from_torch(Net().eval(), calib)
    assert [type(layer).__name__ for layer in net.layers] == ["Conv2d", "ReLU", "Flatten", "Flatten", "Linear"]
    assert net.layers[0].padding == (1, 1)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x


class Concat(nn.Module):
    def forward(self, x):
        return torch.cat([x, x], 1)


@pytest.mark.parametrize("model,message", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid()), "unsupported operator Sigmoid at '1'"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, groups=1, dilation=2)), "Conv2d '0': only groups=1, dilation=1"),
    (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, padding_mode="reflect")), "padding_mode='reflect'"),
    (nn.Sequential(nn.BatchNorm2d(1)), "BatchNorm2d '0' must follow a Conv2d"),
    (nn.Sequential(nn.MaxPool2d(2, padding=1)), "MaxPool2d '0': only square kernels"),
    (nn.Sequential(nn.AvgPool2d(2, ceil_mode=True)), "AvgPool2d '0'"),
    (nn.Sequential(nn.Flatten(0)), "Flatten '0': only start_dim=1"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.LeakyReLU()), "unsupported operator LeakyReLU at '1'"),
    (Residual(), "unsupported operator add .*residual"),
    (Concat(), "unsupported operator cat"),
])
def test_unsupported_operators_are_named(calib, model, message):
    with pytest.raises(UnsupportedError, match=message):
        streamcnn.from_torch(model.eval(), calib)


onnx = pytest.importorskip("onnx", reason="the ONNX importer needs the onnx package")


def export(m, path, calib):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (torch.tensor(calib[:2]),), str(path), dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return path


def test_from_onnx_equals_from_torch(tmp_path, calib):
    m = small_cnn()
    a = streamcnn.from_torch(m, calib)
    b = streamcnn.from_onnx(export(m, tmp_path / "m.onnx", calib), calib)
    assert np.array_equal(golden.run(a, calib), golden.run(b, calib))


def test_from_onnx_reads_onnxruntime_qdq_models(tmp_path, calib):
    quantization = pytest.importorskip("onnxruntime.quantization")
    m = small_cnn()
    src = export(m, tmp_path / "m.onnx", calib)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.batches, None)

    qdq = tmp_path / "m-qdq.onnx"
    quantization.quantize_static(str(src), str(qdq), Reader(), quant_format=quantization.QuantFormat.QDQ,
                                 activation_type=quantization.QuantType.QInt8,
                                 weight_type=quantization.QuantType.QInt8, per_channel=True)
    ops = {n.op_type for n in onnx.load(str(qdq)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "Relu" not in ops  # ReLUs folded into Q ranges
    net = streamcnn.from_onnx(qdq, calib)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    ref = reference(m, calib)
    # the weights are onnxruntime's int8 values: within a few of their steps of the float model
    assert np.abs(golden.run_float(net, calib) - ref).max() < 0.02
    assert np.abs(net.dequantize_output(golden.run(net, calib)) - ref).max() < 0.03


def test_onnx_unsupported_operators_are_named(tmp_path, calib):
    path = export(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid()).eval(), tmp_path / "s.onnx", calib)
    with pytest.raises(UnsupportedError, match="unsupported operator Sigmoid at node"):
        streamcnn.from_onnx(path, calib)
    path = export(Residual().eval(), tmp_path / "r.onnx", calib)
    with pytest.raises(UnsupportedError, match="unsupported operator Add at node"):
        streamcnn.from_onnx(path, calib)
    path = export(nn.Sequential(nn.Conv2d(1, 2, 3, padding=(1, 0), dilation=(2, 2))).eval(), tmp_path / "d.onnx",
                  calib)
    with pytest.raises(UnsupportedError, match="dilation"):
        streamcnn.from_onnx(path, calib)


def onnx_graph(nodes, inits, inputs=("x",), output="y"):
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in inputs],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    return helper.make_model(graph)


@pytest.mark.parametrize("case,message", [
    ("asymmetric pads", "asymmetric padding"),
    ("reshape", "only flattening to"),
    ("gemm transA", "transA=0"),
    ("batchnorm first", "must follow a Conv"),
    ("two inputs", "exactly one"),
    ("weights not constant", "are not constants"),
    ("grouped conv", "group=1"),
    ("pool padding", "no padding"),
    ("flatten axis", "axis=1"),
    ("softmax", "unsupported operator Softmax at node 's'"),
])
def test_onnx_graphs_with_unsupported_patterns(case, message):
    from onnx import helper

    w = np.ones((2, 1, 3, 3))
    conv = lambda **kw: helper.make_node("Conv", ["x", "w"], ["y"], name="c", **kw)  # noqa: E731
    models = {
        "asymmetric pads": onnx_graph([conv(pads=[1, 1, 0, 0])], {"w": w}),
        "reshape": onnx_graph([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], {"s": [4, 9]}),
        "gemm transA": onnx_graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transA=1)],
                                  {"w": np.ones((4, 4))}),
        "batchnorm first": onnx_graph([helper.make_node("BatchNormalization", ["x", "a", "b", "m", "v"], ["y"],
                                                        name="bn")], {k: [1.0] for k in "abmv"}),
        "two inputs": onnx_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], {}, inputs=("x", "w")),
        "weights not constant": onnx_graph([helper.make_node("Relu", ["x"], ["t"], name="r"),
                                            helper.make_node("Conv", ["t", "t"], ["y"], name="c")], {}),
        "grouped conv": onnx_graph([conv(group=2)], {"w": w}),
        "pool padding": onnx_graph([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2],
                                                     pads=[1, 1, 1, 1])], {}),
        "flatten axis": onnx_graph([helper.make_node("Flatten", ["x"], ["y"], name="f", axis=2)], {}),
        "softmax": onnx_graph([helper.make_node("Softmax", ["x"], ["y"], name="s")], {}),
    }
    with pytest.raises(UnsupportedError, match=message):
        streamcnn.importers.onnx_layers(models[case])


@pytest.mark.parametrize("flatten", ["size", "minus_one"])
def test_view_flattening_through_torch_and_onnx(tmp_path, flatten):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 3, 3)
            self.fc = nn.Linear(3 * 10 * 10, 4)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            x = x.view(x.size(0), -1) if flatten == "size" else x.view(-1, 300)
            return self.fc(x)

    x = np.random.default_rng(1).uniform(0, 1, (4, 1, 12, 12)).astype(np.float32)
    m = Net().eval()
    a = streamcnn.from_torch(m, x)
    b = streamcnn.from_onnx(export(m, tmp_path / "v.onnx", x), x)
    assert [type(layer).__name__ for layer in b.layers] == ["Conv2d", "ReLU", "Flatten", "Linear"]
    assert np.array_equal(golden.run(a, x), golden.run(b, x))
