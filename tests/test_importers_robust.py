"""Issue 12: from_torch and from_onnx turn every bad model, file and calibration set into a
one-line, named streamcnn error (never a raw exception), follow the ONNX specification's
defaults, and accept the functional forms of a forward() chain."""
import tracemalloc

import numpy as np
import pytest

import streamcnn
from streamcnn import importers
from streamcnn.errors import InputError, LimitError, ModelFileError, NetworkError, UnsupportedError
from streamcnn.quantization import FloatConv2d, FloatLinear

onnx = pytest.importorskip("onnx", reason="the ONNX importer needs the onnx package")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

IMAGES = np.random.default_rng(0).uniform(-1, 1, (4, 1, 8, 8)).astype(np.float32)
W = np.random.default_rng(1).uniform(-1, 1, (2, 1, 3, 3)).astype(np.float32)


def graph(nodes, inits=(), inputs=("x",), outputs=("y",), name="g", raw=()):
    """A model from nodes, float initializers {name: array} and raw TensorProtos."""
    return helper.make_model(helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in dict(inits).items()] + list(raw)))


def conv(inputs=("x", "w"), out="y", name="c", **attrs):
    return helper.make_node("Conv", list(inputs), [out], name=name, **attrs)


def giant(name):
    """An initializer declaring 2**40 floats (4 TiB) and holding none of them."""
    t = TensorProto(name=name, data_type=TensorProto.FLOAT)
    t.dims.append(1 << 40)
    return t


def layers(model):
    return importers.onnx_layers(model)


# -- ONNX: what a file can make us allocate ------------------------------------------------------

def test_onnx_giant_initializers_are_never_materialized():
    tracemalloc.start()
    try:
        # unused: ignored, and the model imports
        unused = graph([conv()], {"w": W}, raw=[giant("big")])
        net = streamcnn.from_onnx(unused, IMAGES)
        assert [type(layer).__name__ for layer in net.layers] == ["Conv2d"]
        # an unused Constant node declaring the same is ignored too
        const = helper.make_node("Constant", [], ["k"], name="k", value=giant("kv"))
        assert len(layers(graph([const, conv()], {"w": W}))) == 1
        # used: refused from its declared dims, before any of it is read
        with pytest.raises(LimitError, match=r"initializer 'w' declares 1099511627776 elements .* not read") as e:
            layers(graph([conv()], raw=[giant("w")]))
        assert e.value.maximum == importers.MAX_TENSOR_ELEMENTS == 4096 * 4096
        with pytest.raises(LimitError, match=r"Constant node 'k' declares 1099511627776 elements"):
            layers(graph([const, conv(("x", "k"))]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20  # nothing near the declared sizes was allocated


def test_onnx_declared_size_must_match_the_data():
    t = numpy_helper.from_array(W, "w")
    t.dims[0] = 3  # 27 floats declared, 18 stored
    with pytest.raises(ModelFileError, match=r"'w' declares dims \[3, 1, 3, 3\] \(108 bytes\) but holds 72"):
        layers(graph([conv()], raw=[t]))
    t.dims[0] = -2
    with pytest.raises(ModelFileError, match="negative dims"):
        layers(graph([conv()], raw=[t]))


# -- ONNX: optional attributes, per the specification ----------------------------------------------

def test_onnx_optional_attributes_take_the_specifications_defaults():
    # Conv without kernel_shape: inferred from W (was a KeyError)
    (inferred,) = layers(graph([conv()], {"w": W}))
    (explicit,) = layers(graph([conv(kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1],
                                     group=1, auto_pad="NOTSET")], {"w": W}))
    assert isinstance(inferred, FloatConv2d) and np.array_equal(inferred.weight, explicit.weight)
    assert (inferred.stride, inferred.padding) == (explicit.stride, explicit.padding) == ((1, 1), (0, 0))
    (same,) = layers(graph([conv(auto_pad="SAME_UPPER")], {"w": W}))
    assert same.padding == (1, 1)
    (valid,) = layers(graph([conv(auto_pad="VALID", pads=[1, 1, 1, 1])], {"w": W}))
    assert valid.padding == (0, 0)
    # pools: strides default to the kernel
    pool = layers(graph([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2])]))[0]
    assert (pool.kernel_size, pool.stride) == (2, 2)
    avg = layers(graph([helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[2, 2], strides=[1, 1],
                                         count_include_pad=1, ceil_mode=0)]))[0]
    assert (avg.kernel_size, avg.stride) == (2, 2 - 1)
    # Gemm: transB, alpha and beta (powers of two, so the folding is exact)
    b, c = np.arange(12, dtype=np.float32).reshape(3, 4), np.arange(4, dtype=np.float32)
    (fc,) = layers(graph([helper.make_node("Gemm", ["x", "b", "c"], ["y"], name="g", alpha=2.0, beta=0.5)],
                         {"b": b, "c": c}))
    assert isinstance(fc, FloatLinear) and np.array_equal(fc.weight, 2 * b.T) and np.array_equal(fc.bias, c / 2)
    (fc,) = layers(graph([helper.make_node("Gemm", ["x", "b"], ["y"], name="g", transB=1)], {"b": b}))
    assert np.array_equal(fc.weight, b) and fc.bias is None


@pytest.mark.parametrize("node,message", [
    (conv(group=2), r"Conv node 'c': only group=1 and dilation 1 .*group=2"),
    (conv(dilations=[2, 2]), r"Conv node 'c': .*dilations=\[2, 2\]"),
    (conv(auto_pad="SAME_LOWER", strides=[2, 2]), r"Conv node 'c': auto_pad SAME_LOWER needs stride 1"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], ceil_mode=1),
     r"MaxPool node 'p': only square .*\(got ceil_mode 1\)"),
    (helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[1, 1, 1, 1],
                      count_include_pad=1), r"AveragePool node 'p': .*pads \[1, 1, 1, 1\]"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], auto_pad="SAME_UPPER"),
     r"MaxPool node 'p': .*auto_pad SAME_UPPER"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2]), r"MaxPool node 'p': only 2-D pooling"),
    (helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transA=1), r"Gemm node 'g': only transA=0"),
])
def test_onnx_unsupported_attribute_values_name_the_node(node, message):
    with pytest.raises(UnsupportedError, match=message):
        layers(graph([node], {"w": W if node.op_type == "Conv" else np.ones((4, 4))}))


@pytest.mark.parametrize("node,message", [
    (conv(pads=[1]), r"Conv node 'c': attribute pads must be 4 integers >= 0, got \[1\]"),
    (conv(pads=1), r"Conv node 'c': attribute pads must be 4 integers"),
    (conv(strides=[1]), r"Conv node 'c': attribute strides must be 2 integers >= 1"),
    (conv(strides=[0, 0]), r"attribute strides must be 2 integers >= 1, got \[0, 0\]"),
    (conv(kernel_shape=[5, 5]), r"Conv node 'c': kernel_shape \[5, 5\] differs from the weights' \(2, 1, 3, 3\)"),
    (conv(auto_pad="MIDDLE"), r"Conv node 'c': attribute auto_pad must be one of"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="p"), r"MaxPool node 'p' has no kernel_shape"),
    (helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[0, 0]),
     r"MaxPool node 'p': attribute pads must be 4 integers"),
    (helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[2, 2], ceil_mode=2),
     r"AveragePool node 'p': attribute ceil_mode must be one of \[0, 1\]"),
    (helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transB=3), r"Gemm node 'g': attribute transB"),
    (helper.make_node("Gemm", ["x", "w"], ["y"], name="g", alpha=float("nan")), r"attribute alpha must be a finite"),
])
def test_onnx_malformed_attributes_are_model_file_errors(node, message):
    with pytest.raises(ModelFileError, match=message):
        layers(graph([node], {"w": W if node.op_type == "Conv" else np.ones((4, 4))}))


# -- ONNX: files that are not (valid) ONNX models ----------------------------------------------------

def external(tmp_path, location, nbytes=None):
    """A model whose Conv weights are stored in ``location``, relative to its folder."""
    t = numpy_helper.from_array(W, "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(nbytes or W.nbytes))):
        t.external_data.add(key=k, value=v)
    path = tmp_path / "models" / "m.onnx"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(graph([conv()], raw=[t]).SerializeToString())  # onnx.save would touch the data
    return path


def test_onnx_files_that_cannot_be_read(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\xff\xfe this is not a protobuf \x00\x01\x02" * 7)
    with pytest.raises(ModelFileError, match=r"junk\.onnx is not an ONNX model \(DecodeError"):
        streamcnn.from_onnx(tmp_path / "junk.onnx", IMAGES)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ModelFileError, match="holds no graph nodes"):
        streamcnn.from_onnx(tmp_path / "empty.onnx", IMAGES)
    with pytest.raises(ModelFileError, match=r"no ONNX model file at .*nothere\.onnx"):
        streamcnn.from_onnx(tmp_path / "nothere.onnx", IMAGES)
    with pytest.raises(ModelFileError, match="is not a file"):
        streamcnn.from_onnx(tmp_path, IMAGES)
    # external data: inside the folder it is read; outside, missing or short it is refused
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.bin").write_bytes(W.tobytes())
    (tmp_path / "outside.bin").write_bytes(W.tobytes())
    (inside,) = importers.onnx_layers(external(tmp_path, "w.bin"))
    assert np.array_equal(inside.weight, W)
    with pytest.raises(ModelFileError, match=r"initializer 'w' is stored in '\.\./outside\.bin', outside the model"):
        streamcnn.from_onnx(external(tmp_path, "../outside.bin"), IMAGES)
    with pytest.raises(ModelFileError, match="outside the model's folder"):
        streamcnn.from_onnx(external(tmp_path, str(tmp_path / "outside.bin")), IMAGES)
    with pytest.raises(ModelFileError, match="which does not exist next to the model"):
        streamcnn.from_onnx(external(tmp_path, "gone.bin"), IMAGES)
    (tmp_path / "models" / "short.bin").write_bytes(W.tobytes()[:40])
    with pytest.raises(ModelFileError, match=r"needs 72 bytes at offset 0 of 'short\.bin'"):
        streamcnn.from_onnx(external(tmp_path, "short.bin"), IMAGES)


# -- ONNX: graphs that are not a chain we can follow -------------------------------------------------

def relu(inputs, out, name):
    return helper.make_node("Relu", list(inputs), [out], name=name)


@pytest.mark.parametrize("model,message", [
    # a Relu given a second input closes a two-node cycle (was accepted silently)
    (graph([relu(["x", "b"], "a", "r1"), relu(["a"], "b", "r2")], outputs=("b",)),
     r"the graph has a cycle through Relu node 'r1', Relu node 'r2'"),
    (graph([relu(["x", "x"], "y", "r")]), r"Relu node 'r' has inputs \['x', 'x'\]; Relu takes 1"),
    (graph([relu(["q"], "y", "r")]), r"Relu node 'r' reads 'q', which no node, initializer or graph input"),
    (graph([relu(["x"], "a", "r")]), r"the graph's output 'y' is produced by no node"),
    (graph([relu(["x"], "y", "r")], outputs=()), "the graph declares no output"),
    (graph([relu(["w"], "y", "r")], {"w": W}, inputs=()), "the graph declares no input"),
    (graph([relu(["x"], "y", "r1"), relu(["x"], "y", "r2")]), r"Relu node 'r2' defines 'y' again"),
    (graph([relu(["x"], "x", "r")], outputs=("x",)), r"Relu node 'r' defines 'x' again"),
])
def test_onnx_graphs_breaking_the_rules_are_model_file_errors(model, message):
    with pytest.raises(ModelFileError, match=message):
        streamcnn.from_onnx(model, IMAGES)


def test_onnx_branches_are_unsupported_and_dead_ends_ignored():
    # a value consumed twice on the way to the output: a branch, which streamcnn does not run
    branch = graph([relu(["x"], "a", "r1"), relu(["a"], "b", "r2"), helper.make_node("Add", ["a", "b"], ["y"],
                                                                                      name="add")])
    with pytest.raises(UnsupportedError, match=r"single chain .*; Add node 'add' takes \['a', 'b'\] instead of 'b'"):
        streamcnn.from_onnx(branch, IMAGES)
    # ... but consumers the output does not depend on (with unknown operators) are never read
    dead = graph([relu(["x"], "y", "r"), helper.make_node("Sigmoid", ["x"], ["s"], name="s")])
    assert [type(layer).__name__ for layer in streamcnn.from_onnx(dead, IMAGES).layers] == ["ReLU"]
    custom = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")
    with pytest.raises(UnsupportedError, match=r"unsupported operator com\.example\.Relu at node 'r'"):
        streamcnn.from_onnx(graph([custom]), IMAGES)
    with pytest.raises(UnsupportedError, match=r"2 inputs \(\['x', 'z'\]\) of which its output depends on 2"):
        streamcnn.from_onnx(graph([conv(("x", "z"))], inputs=("x", "z")), IMAGES)


# -- PyTorch: functional forms of the supported layers -------------------------------------------------

torch = pytest.importorskip("torch", reason="from_torch needs PyTorch")
nn, F = torch.nn, torch.nn.functional


class Functional(nn.Module):
    """The README's LeNet-like chain, written with every functional form streamcnn reads."""

    def __init__(self, flatten: str):
        super().__init__()
        torch.manual_seed(0)
        self.conv1, self.conv2 = nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 8, 3)
        self.w, self.b = nn.Parameter(torch.randn(6, 32) / 4), nn.Parameter(torch.randn(6) / 4)
        self.fc = nn.Linear(6, 5)
        self.flatten = flatten

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.dropout(x, 0.5, training=self.training)
        x = F.conv2d(x, self.conv2.weight, self.conv2.bias)
        x = F.avg_pool2d(torch.relu(x), kernel_size=2, stride=2)
        x = {"torch.flatten": lambda: torch.flatten(x, 1), "view": lambda: x.view(x.size(0), -1),
             "reshape": lambda: x.reshape(x.shape[0], -1), "method": lambda: x.flatten(1),
             "minus_one": lambda: x.reshape(-1, 32), "size()": lambda: x.view(x.size()[0], -1),
             "torch.reshape": lambda: torch.reshape(x, (x.size(0), -1))}[self.flatten]()
        x = F.linear(x, self.w, self.b).relu()
        return self.fc(x)


def sequential(m: Functional):
    seq = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.ReLU(),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(32, 6), nn.ReLU(), nn.Linear(6, 5))
    with torch.no_grad():
        for dst, src in ((seq[0], m.conv1), (seq[3], m.conv2), (seq[9], m.fc)):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
        seq[7].weight.copy_(m.w)
        seq[7].bias.copy_(m.b)
    return seq.eval()


@pytest.mark.parametrize("flatten", ["torch.flatten", "view", "reshape", "method", "minus_one", "size()",
                                     "torch.reshape"])
def test_torch_functional_forward_equals_its_sequential(flatten):
    x = np.random.default_rng(2).uniform(-1, 1, (4, 1, 12, 12)).astype(np.float32)
    m = Functional(flatten).eval()
    a, b = streamcnn.from_torch(m, x), streamcnn.from_torch(sequential(m), x)
    assert [type(layer).__name__ for layer in a.layers] == [type(layer).__name__ for layer in b.layers] == [
        "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "AvgPool2d", "Flatten", "Linear", "ReLU", "Linear"]
    for la, lb in zip(a.layers, b.layers):  # the same float layers, so the same integers
        for k in ("weight", "bias", "multiplier", "shift", "kernel_size", "stride", "padding"):
            assert np.array_equal(getattr(la, k, None), getattr(lb, k, None)), (la.name, k)


class One(nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


@pytest.mark.parametrize("f,message", [
    (lambda x: F.max_pool2d(x, 2, ceil_mode=True), r"max_pool2d at fx node 'max_pool2d': .*\(got ceil_mode=True\)"),
    (lambda x: F.max_pool2d(x, kernel_size=2, padding=1), r"max_pool2d at fx node .*\(got padding=1\)"),
    (lambda x: F.max_pool2d(x, 3, 1, 0, 2), r"max_pool2d at fx node .*\(got dilation=2\)"),
    (lambda x: torch.max_pool2d(x, (2, 1)), r"max_pool2d at fx node .*\(got a 2x1 kernel"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=3), r"avg_pool2d at fx node .*divisor_override=3"),
    (lambda x: torch.flatten(x, 2), r"flatten at fx node 'flatten': only start_dim=1, end_dim=-1 .*start_dim=2"),
    (lambda x: x.flatten(), r"flatten at fx node 'flatten': only start_dim=1.*start_dim=0"),
    (lambda x: x.view(-1), r"view at fx node 'view': only flattening to \(batch, -1\)"),
    (lambda x: F.dropout(x, 0.5), r"dropout at fx node 'dropout': dropout with training=True"),
    (lambda x: F.relu6(x), r"unsupported operator relu6"),
    (lambda x: F.max_pool2d(x, x.size(2)), r"max_pool2d at fx node .*: kernel_size is computed in forward\(\)"),
])
def test_torch_unsupported_arguments_name_the_fx_node(f, message):
    with pytest.raises(UnsupportedError, match=message):
        streamcnn.from_torch(One(f).eval(), IMAGES)


# -- names and metadata --------------------------------------------------------------------------------

def test_imported_networks_get_useful_names_and_metadata(tmp_path):
    seq = nn.Sequential(nn.Conv2d(1, 2, 3)).eval()
    assert streamcnn.from_torch(seq, IMAGES).name == "torch-model"  # was "Sequential"
    assert streamcnn.from_torch(One(torch.relu), IMAGES).name == "One"
    net = streamcnn.from_torch(seq, IMAGES, name="digits", metadata={"dataset": "mnist", "labels": list("0123")})
    assert (net.name, net.metadata) == ("digits", {"dataset": "mnist", "labels": list("0123")})
    model = graph([conv()], {"w": W}, name="lenet")
    assert streamcnn.from_onnx(model, IMAGES).name == "lenet"
    assert streamcnn.from_onnx(graph([conv()], {"w": W}, name="main_graph"), IMAGES).name == "onnx-model"
    onnx.save(model, str(tmp_path / "my-cnn.onnx"))
    net = streamcnn.from_onnx(tmp_path / "my-cnn.onnx", IMAGES, metadata={"dataset": "fashion-mnist"})
    assert (net.name, net.metadata) == ("my-cnn", {"dataset": "fashion-mnist"})
    assert streamcnn.from_onnx(model, IMAGES, name="x1").name == "x1"
    with pytest.raises(NetworkError, match="metadata must be a dict"):
        streamcnn.from_onnx(model, IMAGES, metadata=[("dataset", "mnist")])
    with pytest.raises(NetworkError, match="JSON-serializable"):
        streamcnn.from_torch(seq, IMAGES, metadata={"scale": np.float32(1)})
    with pytest.raises(NetworkError, match="name must be a non-empty string"):
        streamcnn.from_torch(seq, IMAGES, name="")


# -- calibration images --------------------------------------------------------------------------------

class Untraceable(nn.Module):
    def forward(self, x):
        raise AssertionError("the model was read before its calibration images were checked")


@pytest.mark.parametrize("images,message", [
    (np.full((2, 1, 8, 8), np.nan, np.float32), "NaN or infinity"),
    (np.where(np.eye(8, dtype=bool), np.inf, 0.5)[None, None].astype(np.float32), "NaN or infinity"),
    (np.full((2, 1, 8, 8), 1e39), r"NaN or infinity \(or values beyond float32\)"),
    ([], r"no calibration images \(shape \(0,\)\)"),
    (np.zeros((0, 1, 8, 8), np.float32), r"no calibration images \(shape \(0, 1, 8, 8\)\)"),
    (np.ones((1, 8, 8), np.float32), r"must be \(N, C, H, W\), got shape \(1, 8, 8\)"),
    ([[[[1.0, 2.0]], [[1.0]]]], r"must be a \(N, C, H, W\) float array"),
    (np.full((1, 1, 2, 2), "a"), "got dtype <U1"),
])
def test_bad_calibration_images_are_refused_before_the_model_is_read(tmp_path, images, message):
    with pytest.raises(InputError, match=message):
        streamcnn.from_torch(Untraceable(), images)
    with pytest.raises(InputError, match=message):
        streamcnn.from_onnx(tmp_path / "not-even-there.onnx", images)


def test_all_zero_calibration_images_reach_quantizes_check():
    with pytest.raises(InputError, match="all zero"):
        streamcnn.from_torch(nn.Sequential(nn.Conv2d(1, 2, 3)).eval(), np.zeros((2, 1, 8, 8), np.float32))
    with pytest.raises(InputError, match="all zero"):
        streamcnn.from_onnx(graph([conv()], {"w": W}), np.zeros((2, 1, 8, 8), np.float32))


def test_calibration_images_that_do_not_fit_the_model():
    seq = nn.Sequential(nn.Flatten(), nn.Linear(10, 2)).eval()  # was NumPy's matmul ValueError
    with pytest.raises(NetworkError, match=r"1-linear \(with calibration images of shape \(1, 8, 8\)\): weights "
                                           r"expect 10 inputs, the input has 64"):
        streamcnn.from_torch(seq, IMAGES)
    with pytest.raises(NetworkError, match="a Linear needs a flat input"):
        streamcnn.from_onnx(graph([helper.make_node("Gemm", ["x", "b"], ["y"], name="g")], {"b": np.ones((8, 2))}),
                            IMAGES)


# -- ONNX: whatever a file holds, the answer is a network or a named error -------------------------------

def chain_model():
    """Conv-BN-ReLU-MaxPool-Conv-ReLU-AveragePool, flattened by Shape/Gather/Reshape, Gemm."""
    rng = np.random.default_rng(3)
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], name="c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             n("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], name="bn", epsilon=1e-5),
             n("Relu", ["bn"], ["r1"], name="r1"), n("MaxPool", ["r1"], ["p1"], name="p1", kernel_shape=[2, 2]),
             n("Conv", ["p1", "w2"], ["c2"], name="c2", strides=[1, 1]), n("Relu", ["c2"], ["r2"], name="r2"),
             n("AveragePool", ["r2"], ["p2"], name="p2", kernel_shape=[2, 2], strides=[2, 2]),
             n("Shape", ["p2"], ["s"], name="s"), n("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
             n("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
             n("Concat", ["n1", "minus"], ["shape"], name="cat", axis=0),
             n("Reshape", ["p2", "shape"], ["f"], name="reshape"),
             n("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    inits = {"w1": rng.uniform(-1, 1, (4, 1, 3, 3)), "b1": rng.uniform(-1, 1, 4), "g": rng.uniform(0.5, 1, 4),
             "be": rng.uniform(-1, 1, 4), "m": rng.uniform(-1, 1, 4), "v": rng.uniform(0.5, 1, 4),
             "w2": rng.uniform(-1, 1, (8, 4, 3, 3)), "fw": rng.uniform(-1, 1, (5, 8)), "fb": rng.uniform(-1, 1, 5)}
    ints = [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in
            (("zero", 0), ("axes", [0]), ("minus", [-1]))]
    return graph(nodes, inits, raw=ints)


def test_onnx_mutants_raise_only_named_errors():
    import random

    base = chain_model()
    assert len(streamcnn.from_onnx(base, IMAGES).layers) == 8  # the BatchNormalization folded
    rng = random.Random(12)
    values = [0, 1, -1, 2, 3, 1 << 40, [1], [0, 0], [1, 1, 1, 1], [2, 1], [-1, -1], [3, 3], 1.5, b"SAME_UPPER", b"X",
              [1.5, 2.5]]
    keys = ["kernel_shape", "strides", "pads", "dilations", "group", "auto_pad", "ceil_mode", "transA", "transB",
            "alpha", "beta", "axis", "epsilon", "count_include_pad", "allowzero", "training_mode"]
    outcomes = {"network": 0, "named error": 0}
    for _ in range(2000):
        p = onnx.ModelProto()
        p.CopyFrom(base)
        names = [v for node in p.graph.node for v in list(node.input) + list(node.output)] + ["", "zz"]
        for _ in range(rng.randint(1, 3)):
            node, r = rng.choice(p.graph.node), rng.random()
            if r < 0.25 and node.attribute:
                del node.attribute[rng.randrange(len(node.attribute))]
            elif r < 0.55:
                key = rng.choice(keys)
                for a in [a for a in node.attribute if a.name == key]:
                    node.attribute.remove(a)
                node.attribute.append(helper.make_attribute(key, rng.choice(values)))
            elif r < 0.75 and node.input:
                node.input[rng.randrange(len(node.input))] = rng.choice(names)
            elif r < 0.9:
                t = rng.choice(p.graph.initializer)
                if t.dims:
                    t.dims[rng.randrange(len(t.dims))] = rng.choice([0, 1, 2, 5, 1 << 33])
            else:
                node.output[0] = rng.choice(names)
        try:
            streamcnn.from_onnx(p, IMAGES)
            outcomes["network"] += 1
        except streamcnn.StreamCNNError as e:
            assert "\n" not in str(e)
            outcomes["named error"] += 1
    assert min(outcomes.values()) > 200, outcomes  # both kinds of answer were exercised
