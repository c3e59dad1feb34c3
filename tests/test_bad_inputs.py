"""The catalogue of bad inputs (docs/reliability.md): each raises one specific exception
whose message names the problem, before anything is sent where that is possible, and the
device keeps working afterwards.  Run alone: python -m pytest tests/test_bad_inputs.py -v"""
from __future__ import annotations

import dataclasses
import json
import re
import sys
import types
import zipfile
from typing import Callable

import numpy as np
import pytest

import streamcnn
from streamcnn import compiler, evaluate, golden, models, protocol as P
from streamcnn.errors import (DependencyError, DeviceClosedError, DeviceError, DMAError, DMATimeoutError, InputError,
                              LimitError, ModelFileError, NetworkError, OverlayError, UnsupportedError)
from streamcnn.network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from streamcnn.quantization import FloatConv2d


def qconv(cout, cin, k, **kw):
    return Conv2d(np.ones((cout, cin, k, k), np.int8), np.zeros(cout, np.int32), np.full(cout, 1 << 20),
                  np.full(cout, 24), **kw)


def qlinear(fout, fin):
    return Linear(np.ones((fout, fin), np.int8), np.zeros(fout, np.int32), np.full(fout, 1 << 20), np.full(fout, 24))


class Ctx:
    """What a case may use: the simulator, the shipped LeNet-5 loaded at batch 2, a scratch dir."""

    def __init__(self, device, tmp_path, monkeypatch):
        self.device, self.tmp, self.monkeypatch = device, tmp_path, monkeypatch
        self.caps = device.caps
        self.lenet = models.load("lenet5-mnist")
        self.program = device.load(self.lenet, batch=2)

    def model_file(self) -> bytes:
        return self.lenet.save(self.tmp / "lenet.scnn").read_bytes()

    def fake_pynq(self, overlay_ip: dict | None = None):
        """A stand-in pynq module: enough for the checks streamcnn makes before it
        drives any hardware (tests/test_pynq_device.py runs pynq itself)."""
        module = types.ModuleType("pynq")

        class Overlay:
            def __init__(self, path, download=True, device=None):
                self.bitfile_name, self.ip_dict = path, dict(overlay_ip or {})

            def __getattr__(self, name):  # pynq's overlays expose their IP as attributes
                if name in self.__dict__.get("ip_dict", {}):
                    return types.SimpleNamespace(name=name)
                raise AttributeError(name)

        module.Overlay = Overlay
        self.monkeypatch.setitem(sys.modules, "pynq", module)

    def bitfile(self, with_hwh: bool = True) -> str:
        bit = self.tmp / "streamcnn.bit"
        bit.write_bytes(b"\0" * 64)
        if with_hwh:
            bit.with_suffix(".hwh").write_text("<MODULES/>")
        return str(bit)


CASES: list = []


def case(name: str, error: type, match: str):
    def register(fn: Callable[[Ctx], object]):
        CASES.append(pytest.param(fn, error, match, id=name))
        return fn
    return register


# -- images ------------------------------------------------------------------------------------

@case("image-wrong-shape", InputError, r"expects images of shape \(N, 1, 32, 32\), got \(2, 1, 28, 28\)")
def _(c): c.program.run(np.zeros((2, 1, 28, 28), np.float32))


@case("image-missing-axes", InputError, r"expects images of shape \(N, 1, 32, 32\), got \(32, 32\)")
def _(c): c.program.run(np.zeros((32, 32), np.float32))


@case("image-wrong-dtype", InputError, "must be float .* or int8 .*, got int32")
def _(c): c.program.run(np.zeros((2, 1, 32, 32), np.int32))


@case("image-int16-pixels", InputError, r"images must be float .*, uint8 pixels .* or int8 .*, got int16")
def _(c): c.program.run(np.zeros((2, 1, 32, 32), np.int16))


@case("image-nan", InputError, "NaN or infinity")
def _(c): c.program.run(np.full((2, 1, 32, 32), np.nan, np.float32))


@case("image-infinity", InputError, "NaN or infinity")
def _(c): c.program.run(np.full((1, 1, 32, 32), np.inf, np.float32))


@case("image-out-of-range", InputError, r"span \[0, 255\], far outside the range lenet5-mnist was calibrated for")
def _(c): c.program.run(np.linspace(0, 255, 2 * 32 * 32, dtype=np.float32).reshape(2, 1, 32, 32))


@case("image-uint8-far-out", InputError, r"uint8 pixels \(standing for pixels / 255\) reach 255, far outside the range")
def _(c):
    net = models.load("lenet5-mnist")
    net.input_scale /= 4  # calibrated for [0, 0.25]
    c.device.load(net, batch=1).run(np.full((1, 1, 32, 32), 255, np.uint8))


@case("image-ragged-list", InputError, r"images must be an \(N, C, H, W\) array: setting an array element")
def _(c): c.program.run([[[[0.0] * 32] * 32], [[[0.0] * 31] * 32]])


@case("image-empty-batch-golden", InputError, r"no images: got an empty batch of shape \(0, 1, 32, 32\)")
def _(c): golden.run(c.lenet, np.zeros((0, 1, 32, 32), np.float32))


@case("image-empty-batch", InputError, r"no images: got an empty batch of shape \(0, 1, 32, 32\)")
def _(c): c.program.run(np.zeros((0, 1, 32, 32), np.float32))


@case("image-slot-wrong-batch", InputError, r"takes int8 images of shape \(2, 1, 32, 32\), got int8 \(3, 1, 32, 32\)")
def _(c): c.program.compiled.set_images(np.zeros((3, 1, 32, 32), np.int8))


# -- networks beyond the device's maxima (each one) ---------------------------------------------

def _limit(build, batch: int = 1):
    def run(c):
        c.device.load(build(), batch=batch)
    return run


for _name, _build, _batch, _match in [
    ("max_channels", lambda: Network((4097, 1, 1), [Flatten()]), 1, r"input: channels is 4097, .* 4096 \(max_channels\)"),
    ("max_dim", lambda: Network((3, 200, 8), [qconv(2, 3, 3)]), 1, r"input: height is 200, .* 128 \(max_dim\)"),
    ("max_kernel", lambda: Network((3, 16, 16), [qconv(2, 3, 8)]), 1, r"conv2d0: kernel height is 8, .* \(max_kernel\)"),
    ("max_stride", lambda: Network((3, 16, 16), [qconv(2, 3, 3, stride=3)]), 1, r"conv2d0: stride \(height\) is 3.*max_stride"),
    ("max_pad", lambda: Network((3, 16, 16), [qconv(2, 3, 3, padding=(0, 4))]), 1, r"conv2d0: padding \(width\) is 4.*max_pad"),
    ("max_pool_kernel", lambda: Network((3, 16, 16), [MaxPool2d(4)]), 1, r"maxpool2d0: pooling kernel is 4.*max_pool_kernel"),
    ("max_pool_stride", lambda: Network((3, 16, 16), [AvgPool2d(2, 4)]), 1, r"avgpool2d0: pooling stride is 4.*max_pool_stride"),
    ("max_fc_in", lambda: Network((8, 23, 23), [Flatten(), qlinear(2, 4232)]), 1, r"flatten0: flattened features is 4232.*max_fc_in"),
    ("max_fc_out", lambda: Network((8, 1, 1), [Flatten(), qlinear(4097, 8)]), 1, r"linear1: output features is 4097.*max_fc_out"),
    ("weight_entries", lambda: Network((520, 4, 4), [qconv(8, 520, 3)]), 1, r"conv2d0: weight blocks per output group .* 585.*weight_entries"),
    ("act_words", lambda: Network((64, 40, 40), [qconv(2, 64, 7)]), 1, r"activation words .* 12800.*act_words"),
    ("max_batch", lambda: Network((1, 2, 2), [ReLU()]), 257, r"batch size is 257, .* 256 \(max_batch\)"),
    ("max_layers", lambda: Network((3, 4, 4), [qconv(3, 3, 1)] + [ReLU() for _ in range(33)]), 1,
     r"accelerator layers is 33, .* 32 \(max_layers\)"),
]:
    case(f"limit-{_name}", LimitError, _match)(_limit(_build, _batch))


@case("limit-max_program_words", LimitError, r"the program at batch 1 is \d+ words, .* 1000 \(max_program_words")
def _(c): compiler.compile_network(c.lenet, dataclasses.replace(c.caps, max_program_words=1000))


# -- networks that make no sense, whatever the device ---------------------------------------------

for _name, _build, _match in [
    ("input-scale-nan", lambda: Network((1, 4, 4), [ReLU()], input_scale=float("nan")),
     r"input_scale must be finite and positive, got nan"),
    ("input-scale-zero", lambda: Network((1, 4, 4), [ReLU()], input_scale=0.0), r"input_scale must be finite and positive, got 0"),
    ("input-scale-negative", lambda: Network((1, 4, 4), [ReLU()], input_scale=-0.5),
     r"input_scale must be finite and positive, got -0.5"),
    ("output-scale-nan", lambda: Network((2, 4, 4), [dataclasses.replace(qconv(2, 2, 3), output_scale=float("nan"))]),
     r"conv2d0: output_scale must be finite and positive"),
    ("zero-output-channels", lambda: Network((2, 4, 4), [Conv2d(np.ones((0, 2, 3, 3), np.int8), np.zeros(0, np.int32),
                                                                np.zeros(0, np.int64), np.zeros(0, np.int64))]),
     r"conv2d0: weights of shape \(0, 2, 3, 3\): every dimension .* at least 1"),
    ("zero-kernel", lambda: Network((2, 4, 4), [qconv(2, 2, 0)]), r"conv2d0: weights of shape \(2, 2, 0, 0\)"),
    ("zero-dense-outputs", lambda: Network((2, 1, 1), [Flatten(), Linear(np.ones((0, 2), np.int8), np.zeros(0, np.int32),
                                                                       np.zeros(0, np.int64), np.zeros(0, np.int64))]),
     r"linear1: weights of shape \(0, 2\): a Linear needs at least one input and one output"),
    ("fractional-pool-kernel", lambda: Network((2, 4, 4), [MaxPool2d(2.5)]), r"MaxPool2d kernel_size must be an integer, got 2.5"),
    ("fractional-stride", lambda: Network((2, 8, 8), [qconv(2, 2, 3, stride=1.5)]), r"stride must be an integer, got 1.5"),
    ("empty-name", lambda: Network((1, 4, 4), [ReLU()], name=" "), r"name must be a non-empty string, got ' '"),
    ("metadata-not-json", lambda: Network((1, 4, 4), [ReLU()], metadata={"labels": {1, 2}}),
     r"metadata must be JSON-serializable \(model files keep it\)"),
    ("name-line-break", lambda: Network((1, 4, 4), [ReLU()], name="a\nb"),
     r"name must be at most 255 printable characters \(no line breaks\), got 'a\\nb'"),
    ("metadata-labels-not-strings", lambda: Network((1, 4, 4), [ReLU()], metadata={"labels": 5}),
     r"metadata\['labels'\] must be a list of strings, got 5"),
    ("metadata-ranges-not-pairs", lambda: Network((1, 4, 4), [ReLU()], metadata={
        "input_statistics": {"ranges": {"mean intensity": [1]}}}), r"metadata\['input_statistics'\] must be an object"),
]:
    case(f"network-{_name}", NetworkError, _match)(lambda c, build=_build: build())


@case("quantize-nan-weights", NetworkError, r"c1: its weights or bias contain NaN or infinity")
def _(c):
    w = np.ones((2, 1, 3, 3))
    w[0, 0, 1, 1] = np.nan
    streamcnn.quantize((1, 8, 8), [FloatConv2d(w, name="c1")], np.ones((2, 1, 8, 8), np.float32))


@case("quantize-nan-calibration", InputError, "calibration images contain NaN or infinity")
def _(c):
    x = np.ones((2, 1, 8, 8), np.float32)
    x[1, 0, 3, 3] = np.nan
    streamcnn.quantize((1, 8, 8), [FloatConv2d(np.ones((2, 1, 3, 3)))], x)


@case("quantize-all-zero-calibration", InputError, "calibration images are all zero, so they set no input scale")
def _(c): streamcnn.quantize((1, 8, 8), [FloatConv2d(np.ones((2, 1, 3, 3)))], np.zeros((2, 1, 8, 8), np.float32))


@case("quantize-input-scale-not-a-number", NetworkError, r"input_scale must be a number, got 'a'")
def _(c): streamcnn.quantize((1, 8, 8), [FloatConv2d(np.ones((2, 1, 3, 3)))], np.ones((2, 1, 8, 8), np.float32),
                             input_scale="a")


@case("evaluate-labels-not-integers", InputError, r"labels must be integer class indices, got <U1")
def _(c): evaluate.evaluate(c.lenet, c.device, np.zeros((2, 1, 32, 32), np.float32), np.array(["a", "b"]))


@case("evaluate-images-missing", InputError, r"lenet5-mnist expects images of shape \(N, 1, 32, 32\), got \(\)")
def _(c): evaluate.evaluate(c.lenet, c.device, None, np.zeros(2, np.int64))


@case("load-batch-zero", InputError, r"batch must be a positive integer, got 0")
def _(c): c.device.load(c.lenet, batch=0)


@case("load-batch-negative", InputError, r"batch must be a positive integer, got -1")
def _(c): c.device.load(c.lenet, batch=-1)


# -- importers ---------------------------------------------------------------------------------

@case("torch-unsupported-operator", UnsupportedError, "unsupported operator Sigmoid at '1'")
def _(c):
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Sigmoid()).eval()
    streamcnn.from_torch(model, np.zeros((2, 1, 8, 8), np.float32))


@case("torch-unsupported-option", UnsupportedError, r"Conv2d '0': only groups=1, dilation=1")
def _(c):
    torch = pytest.importorskip("torch")
    streamcnn.from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=2)).eval(),
                         np.zeros((2, 1, 8, 8), np.float32))


@case("onnx-unsupported-operator", UnsupportedError, "unsupported operator Sigmoid at node 's'")
def _(c):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"], name="s")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])])
    path = c.tmp / "s.onnx"
    onnx.save(helper.make_model(graph), str(path))
    streamcnn.from_onnx(path, np.zeros((2, 1, 4, 4), np.float32))


# -- model files -------------------------------------------------------------------------------

@case("model-file-missing", ModelFileError, r"no model file at .*nothere\.scnn")
def _(c): models.load(c.tmp / "nothere.scnn")


@case("model-file-truncated", ModelFileError, "truncated or corrupted")
def _(c):
    data = c.model_file()
    (c.tmp / "cut.scnn").write_bytes(data[:len(data) // 2])
    models.load(c.tmp / "cut.scnn")


@case("model-file-corrupted", ModelFileError, r"truncated or corrupted .*layers/0/weight\.npy")
def _(c):
    data = bytearray(c.model_file())
    with zipfile.ZipFile(c.tmp / "lenet.scnn") as z:
        info = z.getinfo("layers/0/weight.npy")
    data[info.header_offset + 30 + len(info.filename) + 8] ^= 0xFF  # inside the stored weights
    (c.tmp / "flip.scnn").write_bytes(bytes(data))
    models.load(c.tmp / "flip.scnn")


@case("model-file-unsaveable-metadata", ModelFileError, r"cannot save lenet5-mnist: metadata must be JSON-serializable")
def _(c):
    net = models.load("lenet5-mnist")
    net.metadata = {"when": object()}  # replaced after the checks of construction
    net.save(c.tmp / "m.scnn")


@case("model-file-metadata-of-another-type", ModelFileError,
      r"the network it holds is invalid: metadata\['dataset'\] must be a string, got \['mnist'\]")
def _(c):
    c.model_file()  # writes lenet.scnn
    with zipfile.ZipFile(c.tmp / "lenet.scnn") as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    header = json.loads(members["network.json"])
    header["metadata"]["dataset"] = ["mnist"]  # streamcnn run and eval would index a dict with it
    members["network.json"] = json.dumps(header).encode()
    with zipfile.ZipFile(c.tmp / "meta.scnn", "w") as z:
        for name, body in members.items():
            z.writestr(name, body)
    models.load(c.tmp / "meta.scnn")


@case("model-file-not-a-model", ModelFileError, "not a streamcnn model file")
def _(c):
    (c.tmp / "x.scnn").write_text("hello")
    models.load(c.tmp / "x.scnn")


# -- the board ---------------------------------------------------------------------------------

@case("board-pynq-missing", DependencyError, r"needs the pynq package.*streamcnn\[board\]")
def _(c):
    c.monkeypatch.setitem(sys.modules, "pynq", None)  # import pynq raises ImportError
    streamcnn.open_device("pynq", bitfile=c.bitfile())


@case("board-bitstream-missing", OverlayError, r"no bitstream at .*nothere\.bit: build it with `make -C overlay`")
def _(c):
    c.fake_pynq()
    streamcnn.open_device("pynq", bitfile=str(c.tmp / "nothere.bit"))


@case("board-hwh-missing", OverlayError, r"streamcnn\.hwh is missing: pynq needs the \.hwh")
def _(c):
    c.fake_pynq()
    streamcnn.open_device("pynq", bitfile=c.bitfile(with_hwh=False))


@case("board-foreign-overlay", OverlayError, r"0 instances of the streamcnn accelerator.*resize_accel_0")
def _(c):
    c.fake_pynq({"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"},
                 "resize_accel_0": {"type": "xilinx.com:hls:resize_accel:1.0"}})
    streamcnn.open_device("pynq", bitfile=c.bitfile())


@case("board-ip-without-registers", OverlayError, r"lacks registers \['status', 'packet_index', 'words'\]")
def _(c):
    c.fake_pynq({"axi_dma_0": {"type": "xilinx.com:ip:axi_dma:7.1"},
                 "streamcnn_top_0": {"type": "xilinx.com:hls:streamcnn_top:1.0",
                                     "registers": {"hw_version": {"address_offset": 0x40}}}})
    streamcnn.open_device("pynq", bitfile=c.bitfile())


# -- the device --------------------------------------------------------------------------------

@case("device-error-status", DeviceError, r"ERR_CRC: CRC-32 mismatch.* at packet 2 \(TILE: 0-conv2d output channels 0\.\.5\)")
def _(c):
    loaded = c.program._variant(False)
    tile = next(p for p in loaded.prog.packets if p.opcode == P.Op.TILE)
    loaded.send[tile.offset + 30] ^= np.uint64(1 << 5)  # a weight bit flips in the DMA buffer
    try:
        c.program.run(np.zeros((2, 1, 32, 32), np.float32))
    finally:
        loaded.send[tile.offset + 30] ^= np.uint64(1 << 5)


@case("device-dma-timeout", DMATimeoutError, r"timeout: .* stopped taking input after 100 of \d+ words.*ready again")
def _(c):
    c.device.inject_stall(after_words=100)
    c.program.run(np.zeros((2, 1, 32, 32), np.float32))


@case("device-receive-buffer-too-small", DMAError, r"response is 25 words and the receive buffer holds 10: .*would never complete")
def _(c):
    words = compiler.compile_caps_request().words
    send = c.device.allocate(len(words))
    send[:] = words
    c.device.transfer(send, c.device.allocate(10))


@case("device-unaligned-buffer", DMAError, "not 8-byte aligned")
def _(c):
    raw = np.zeros(9 * 8 + 1, np.uint8)
    c.device.transfer(raw[1:].view(np.uint64), c.device.allocate(64))


@case("device-closed", DeviceClosedError, r"the sim device is closed; open a new one")
def _(c):
    dev = streamcnn.open_device("sim")
    program = dev.load(c.lenet, batch=1)
    dev.close()
    program.run(np.zeros((1, 1, 32, 32), np.float32))


@case("device-unknown", streamcnn.StreamCNNError, r"unknown device 'fpga'; choose one of auto, sim, pynq")
def _(c): streamcnn.open_device("fpga")


@pytest.fixture
def ctx(device, tmp_path, monkeypatch):
    return Ctx(device, tmp_path, monkeypatch)


@pytest.mark.parametrize("action,error,match", CASES)
def test_bad_input_is_named_and_the_device_still_works(ctx, action, error, match):
    with pytest.raises(error, match=match) as e:
        action(ctx)
    assert type(e.value) is error, f"expected exactly {error.__name__}, got {type(e.value).__name__}"
    assert "\n" not in str(e.value), "a named error is one line"
    x = np.random.default_rng(5).uniform(0, 1, (2, 1, 32, 32)).astype(np.float32)
    assert np.array_equal(ctx.program.run(x), golden.run(ctx.lenet, x))


def test_the_catalogue_covers_what_reliability_promises():
    ids = [p.id for p in CASES]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)
    for prefix in ("image-", "limit-", "network-", "quantize-", "load-", "torch-", "onnx-", "model-file-", "board-",
                   "device-"):
        assert any(i.startswith(prefix) for i in ids), prefix
    caps_limits = {f.name for f in dataclasses.fields(type(streamcnn.open_device("sim").caps))
                   if f.name.startswith("max_")} | {"act_words", "weight_entries"}
    assert {i[len("limit-"):] for i in ids if i.startswith("limit-")} == caps_limits


def test_reliability_md_lists_every_case():
    """docs/reliability.md names each catalogue case and says how many there are."""
    from pathlib import Path
    doc = (Path(__file__).parents[1] / "docs" / "reliability.md").read_text()
    ids = [p.id for p in CASES]
    assert f"Each of its {len(ids)} bad inputs" in doc
    listed = set(re.findall(r"\[([a-z0-9_-]+)\]", doc))
    missing = [i for i in ids if i not in listed and not i.startswith(("image-", "limit-"))]
    assert not missing, f"cases missing from docs/reliability.md: {missing}"



def test_reliability_md_names_tests_that_exist():
    """Every `file.py::test` the catalogue cites (a bare `::test` means the file named before it
    in the row) is a test function of that file."""
    from pathlib import Path
    root = Path(__file__).parents[1]
    doc = (root / "docs" / "reliability.md").read_text()
    cited = 0
    for row in doc.splitlines():
        current = None
        for file, name in re.findall(r"`(?:tests/)?(test_\w+\.py)?::(test_\w+)", row):
            current = file or current
            assert current, f"a bare ::{name} with no file before it: {row[:80]}"
            assert f"def {name}(" in (root / "tests" / current).read_text(), f"{current}::{name} does not exist"
            cited += 1
    assert cited >= 60
