"""The .scnn model file: round trips exactly, and every broken file is named."""
import json
import zipfile

import numpy as np
import pytest

from streamcnn import golden, models, zoo
from streamcnn.errors import ModelFileError
from streamcnn.network import AvgPool2d, Flatten, MaxPool2d, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize


@pytest.fixture
def net(rng):
    layers = [FloatConv2d(rng.normal(0, 0.3, (5, 2, 3, 2)), rng.normal(0, 0.1, 5), (2, 1), (1, 0)), ReLU(),
              MaxPool2d(2), AvgPool2d(1, 1), Flatten(), FloatLinear(rng.normal(0, 0.2, (3, 5 * 2 * 4)))]
    n = quantize((2, 9, 9), layers, rng.uniform(-1, 1, (8, 2, 9, 9)).astype(np.float32), name="tiny")
    n.metadata = {"labels": ["a", "b", "c"], "accuracy": {"int8": 0.5}}
    return n


def test_round_trip_is_exact(tmp_path, net, rng):
    path = net.save(tmp_path / "tiny.scnn")
    back = models.load(path)
    assert back.name == "tiny" and back.metadata == net.metadata and back.input_scale == net.input_scale
    assert [type(a) for a in back.layers] == [type(b) for b in net.layers]
    x = rng.uniform(-1, 1, (4, 2, 9, 9)).astype(np.float32)
    assert np.array_equal(golden.run(back, x), golden.run(net, x))
    assert np.array_equal(golden.run_float(back, x), golden.run_float(net, x))
    assert back.layers[0].stride == (2, 1) and back.layers[0].padding == (1, 0)


def test_truncated_and_corrupted_files(tmp_path, net):
    path = net.save(tmp_path / "m.scnn")
    data = path.read_bytes()
    (tmp_path / "cut.scnn").write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupted"):
        models.load(tmp_path / "cut.scnn")
    flipped = bytearray(data)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("layers/0/weight.npy")
    flipped[info.header_offset + 30 + len(info.filename) + 5] ^= 0xFF  # inside the compressed weights
    (tmp_path / "flip.scnn").write_bytes(bytes(flipped))
    with pytest.raises(ModelFileError):
        models.load(tmp_path / "flip.scnn")


def _rewrite(tmp_path, net, edit):
    path = net.save(tmp_path / "m.scnn")
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    header = json.loads(files["network.json"])
    edit(header, files)
    files["network.json"] = json.dumps(header).encode()
    out = tmp_path / "edited.scnn"
    with zipfile.ZipFile(out, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return out


@pytest.mark.parametrize("edit,message", [
    (lambda h, f: h.update(version=99), "format version 99"),
    (lambda h, f: h.update(format="other"), "not a streamcnn model"),
    (lambda h, f: h["layers"][0].update(type="Conv3d"), "unknown type 'Conv3d'"),
    (lambda h, f: h["layers"][0]["arrays"].pop("bias"), r"lacks arrays \['bias'\]"),
    (lambda h, f: h.update(input_shape=[3, 9, 9]), "the network it holds is invalid"),
    (lambda h, f: h.pop("layers"), "network.json: layers is missing"),
])
def test_inconsistent_files_are_named(tmp_path, net, edit, message):
    with pytest.raises(ModelFileError, match=message):
        models.load(_rewrite(tmp_path, net, edit))


def test_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        models.load(tmp_path / "missing.scnn")
    (tmp_path / "x.scnn").write_text("hello")
    with pytest.raises(ModelFileError, match="not a streamcnn model file"):
        models.load(tmp_path / "x.scnn")
    with zipfile.ZipFile(tmp_path / "z.scnn", "w") as z:
        z.writestr("other.txt", "x")
    with pytest.raises(ModelFileError, match="no network.json"):
        models.load(tmp_path / "z.scnn")
    with pytest.raises(ModelFileError, match="no model named 'lenet7'.*lenet5-mnist"):
        models.load("lenet7")


def test_shipped_model_is_listed_and_documented():
    assert "lenet5-mnist" in models.available()
    net = models.load("lenet5-mnist")
    assert net.input_shape == (1, 32, 32) and net.output_shape == (10,)
    assert net.metadata["dataset"] == "mnist" and net.metadata["labels"] == [str(i) for i in range(10)]
    assert net.metadata["accuracy"]["int8"] >= 0.985
    assert [type(layer).__name__ for layer in net.layers] == [type(layer).__name__ for layer in zoo.lenet5().layers]
