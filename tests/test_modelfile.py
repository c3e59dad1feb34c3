"""The .scnn model file: round trips exactly, and every broken file is named."""
import io
import json
import os
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

from streamcnn import golden, modelfile, models, zoo
from streamcnn.errors import ModelFileError, NetworkError
from streamcnn.network import AvgPool2d, Flatten, Linear, MaxPool2d, Network, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize
from test_modelfile_fuzz import find_all


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


# -- hostile files: everything raises ModelFileError, nothing allocates what a file declares ----------

def _members(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in (members.items() if isinstance(members, dict) else members):
            z.writestr(name, data)
    return path


def _npy(descr: str, shape: str, fortran: str = "False", body: bytes = b"") -> bytes:
    """A .npy file with a header written by hand (numpy would refuse to write some of these)."""
    header = ("{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)).encode("latin1")
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


def _load_traced(path) -> tuple[ModelFileError, int]:
    """The error loading ``path`` raises, and the most memory Python allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as e:
            models.load(path)
        return e.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("member,size,bound", [
    ("network.json", 4 << 20, f"bomb.scnn: network.json declares 4194304 bytes uncompressed, more than the limit "
                              f"of {modelfile.MAX_JSON_BYTES} bytes"),
    ("layers/0/weight.npy", 32 << 20, "bomb.scnn: layer 0 ('conv2d0'): weight: layers/0/weight.npy declares 33554432 "
                                      f"bytes uncompressed, more than the limit of "
                                      f"{modelfile.MAX_NPY_HEADER + modelfile.MAX_WEIGHT_ELEMENTS} bytes"),
], ids=['network-json', 'weight'])
def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path, net, member, size, bound):
    files = _members(net.save(tmp_path / "m.scnn"))
    files[member] = b" " * size  # whitespace: valid JSON if it were read; zeros' worth of compression
    path = _write(tmp_path / "bomb.scnn", files)
    assert path.stat().st_size < size // 100
    del files
    error, peak = _load_traced(path)
    assert str(error).endswith(bound), str(error)
    assert peak < 50 << 20, f"loading the bomb allocated {peak} bytes"


def test_a_member_that_inflates_beyond_its_declared_size_is_not_inflated(tmp_path, net):
    """A lying central directory: network.json claims 1000 bytes and inflates to 256 MiB."""
    files = _members(net.save(tmp_path / "m.scnn"))
    path = tmp_path / "liar.scnn"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            if name != "network.json":
                z.writestr(name, data)
        with z.open("network.json", "w") as w:
            w.write(files["network.json"])
            for _ in range(256):
                w.write(b" " * (1 << 20))
    data = bytearray(path.read_bytes())
    entry = data.rfind(b"PK\x01\x02\x14", 0, data.rfind(b"PK\x05\x06"))  # the last directory entry
    assert data[entry + 46:entry + 46 + 12] == b"network.json"
    struct.pack_into("<L", data, entry + 24, 1000)  # its uncompressed size
    path.write_bytes(bytes(data))
    error, peak = _load_traced(path)
    assert "truncated or corrupted" in str(error) and "network.json" in str(error)
    assert peak < 50 << 20, f"loading the lying file allocated {peak} bytes"


@pytest.mark.parametrize("member,header,message", [
    # 2**20 x 2**20 int8 weights: 1 TiB
    ("layers/5/weight.npy", ("'|i1'", "(1048576, 1048576)"),
     "declares a (1048576, 1048576) array (1099511627776 bytes)"),
    ("layers/0/weight.npy", ("'|i1'", "(1099511627776, 1, 1, 1)"), "a model file's limits are 4096 output channels"),
    ("layers/0/bias.npy", ("'<i4'", "(274877906944,)"), r"has shape (274877906944,), the weights need (5,)"),
], ids=['linear-weight-1TiB', 'conv-weight-1TiB', 'bias-1TiB'])
def test_a_huge_declared_array_is_refused_before_it_is_read(tmp_path, net, member, header, message):
    files = _members(net.save(tmp_path / "m.scnn"))
    files[member] = _npy(*header, body=b"\0" * 64)
    error, peak = _load_traced(_write(tmp_path / "huge.scnn", files))
    assert message in str(error) and member in str(error)
    assert peak < 50 << 20


@pytest.mark.parametrize("array,dtype", [
    ("weight", np.int16), ("weight", np.uint8), ("weight", np.float32), ("bias", np.int64), ("bias", np.float32),
    ("multiplier", np.int32), ("shift", np.float64), ("weight_scale", np.float32), ("weight_scale", np.int64),
    ("weight", np.bool_), ("bias", np.complex64),
])
def test_arrays_of_the_wrong_dtype_are_refused(tmp_path, net, array, dtype):
    files = _members(net.save(tmp_path / "m.scnn"))
    buf = io.BytesIO()
    np.save(buf, getattr(net.layers[0], array).astype(dtype))
    files[f"layers/0/{array}.npy"] = buf.getvalue()
    with pytest.raises(ModelFileError, match=rf"layers/0/{array}\.npy holds \S+ values; a {array} must be "
                                             rf"{modelfile.DTYPES[array].name}"):
        models.load(_write(tmp_path / "dtype.scnn", files))


def test_pickles_object_arrays_and_fortran_order_are_refused(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    buf = io.BytesIO()
    np.save(buf, np.array([object()] * 5, dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match=r"bias\.npy holds \|O values; a bias must be int32"):
        models.load(_write(tmp_path / "pickle.scnn", {**files, "layers/0/bias.npy": buf.getvalue()}))
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(net.layers[0].weight))
    with pytest.raises(ModelFileError, match="is in Fortran order; model files hold C-order arrays"):
        models.load(_write(tmp_path / "fortran.scnn", {**files, "layers/0/weight.npy": buf.getvalue()}))
    with pytest.raises(ModelFileError, match=r"weight\.npy declares a \(5, 2, 3, 2\) array of 60 bytes, but 59"):
        short = files["layers/0/weight.npy"][:-1]
        models.load(_write(tmp_path / "short.scnn", {**files, "layers/0/weight.npy": short}))


def test_big_endian_arrays_load_as_native(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    buf = io.BytesIO()
    np.save(buf, net.layers[0].bias.astype(">i4"))
    back = models.load(_write(tmp_path / "be.scnn", {**files, "layers/0/bias.npy": buf.getvalue()}))
    assert back.layers[0].bias.dtype == np.int32 and np.array_equal(back.layers[0].bias, net.layers[0].bias)


def _conv(h):
    return h["layers"][0]


@pytest.mark.parametrize("edit,message", [
    (lambda h: h.update(input_shape="abc"), "input_shape must be list, got str 'abc'"),
    (lambda h: h.update(input_shape=[2, 9]), r"input_shape must be \[C, H, W\], got \[2, 9\]"),
    (lambda h: h.update(input_shape=[2, 10 ** 30, 9]), "input_shape must be integers from 0 to 4096, got 1000000"),
    (lambda h: h.update(input_shape=[2, 9.0, 9]), "input_shape must be integers from 0 to 4096, got 9.0"),
    (lambda h: h.update(input_shape=[2, -9, 9]), "input_shape must be integers from 0 to 4096, got -9"),
    (lambda h: h.update(input_scale="0.5"), "input_scale must be int or float, got str '0.5'"),
    (lambda h: h.update(input_scale=True), "input_scale must be int or float, got bool True"),
    (lambda h: h.update(input_scale=10 ** 400), "input_scale 1000000.* is out of range"),
    (lambda h: h.update(input_scale=float("nan")), "invalid: tiny: input_scale must be finite and positive, got nan"),
    (lambda h: h.update(input_scale=float("-inf")), "input_scale must be finite and positive, got -inf"),
    (lambda h: h.update(version=True), "model format version True"),
    (lambda h: h.update(name=["x"]), "name must be str, got list"),
    (lambda h: h.update(metadata=[1, 2]), "metadata must be an object, got list"),
    (lambda h: h.update(layers={"0": 1}), "layers must be list, got dict"),
    (lambda h: h.update(layers=[]), "holds 1 to 256 layers, this one 0"),
    (lambda h: h.update(layers=[{"type": "ReLU", "name": str(i)} for i in range(257)]), "this one 257"),
    (lambda h: h["layers"].__setitem__(1, [1]), "layer 1 must be an object, got list"),
    (lambda h: h["layers"][1].pop("type"), "layer 1: type is missing"),
    (lambda h: h["layers"][1].update(type=["ReLU"]), r"layer 1: type must be str, got list \['ReLU'\]"),
    (lambda h: h["layers"][1].update(name=None), "layer 1: name must be str, got NoneType"),
    (lambda h: h["layers"][2].update(kernel_size=2.5), r"layer 2 \('maxpool2d2'\): kernel_size must be int"),
    (lambda h: h["layers"][2].update(kernel_size=10 ** 20), "kernel_size must be integers from 0 to 4096"),
    (lambda h: h["layers"][2].update(stride="2"), "stride must be integers from 0 to 4096, got '2'"),
    (lambda h: h["layers"][2].update(kernel_size=0), "kernel and stride must be >= 1"),
    (lambda h: _conv(h).update(stride=[True, 1]), "stride must be integers from 0 to 4096, got True"),
    (lambda h: _conv(h).update(padding=[10 ** 9, 0]), "padding must be integers from 0 to 4096, got 1000000000"),
    (lambda h: _conv(h).update(padding=[1, 0, 0]), r"padding must be \[height, width\]"),
    (lambda h: _conv(h).update(stride={}), "stride must be list, got dict"),
    (lambda h: _conv(h).update(output_scale="big"), "output_scale must be a number, got str 'big'"),
    (lambda h: _conv(h).update(output_scale=0), "output_scale must be finite and positive, got 0.0"),
    (lambda h: _conv(h).update(arrays=["layers/0/weight.npy"]), "arrays must be dict, got list"),
    (lambda h: _conv(h)["arrays"].update(weight=7), "the member of weight must be a string of at most 255 characters, got 7"),
    (lambda h: _conv(h)["arrays"].update(gamma="layers/0/bias.npy"), r"unknown arrays \['gamma'\]"),
    (lambda h: _conv(h)["arrays"].update(weight="layers/9/weight.npy"),
     "names the member 'layers/9/weight.npy', which the file does not hold"),
    (lambda h: _conv(h)["arrays"].update(shift="layers/0/multiplier.npy"), r"shifts must lie in \[0, 63\]"),
    (lambda h: _conv(h)["arrays"].update(bias="layers/0/multiplier.npy"), "holds <i8 values; a bias must be int32"),
    (lambda h: _conv(h)["arrays"].update(bias="layers/5/bias.npy"), r"has shape \(3,\), the weights need \(5,\)"),
], ids=['input_shape-str', 'input_shape-2-values', 'input_shape-huge', 'input_shape-float', 'input_shape-negative', 'input_scale-str', 'input_scale-bool', 'input_scale-huge-int', 'input_scale-nan', 'input_scale-minus-inf', 'version-bool', 'name-list', 'metadata-list', 'layers-dict', 'layers-empty', 'layers-257', 'layer-list', 'type-missing', 'type-list', 'name-null', 'pool-kernel-float', 'pool-kernel-huge', 'pool-stride-str', 'pool-kernel-0', 'conv-stride-bool', 'conv-padding-huge', 'conv-padding-3-values', 'conv-stride-dict', 'output_scale-str', 'output_scale-0', 'arrays-list', 'member-int', 'arrays-unknown', 'member-absent', 'shift-is-multiplier', 'bias-is-multiplier', 'bias-of-another-layer'])
def test_bad_json_values_are_named(tmp_path, net, edit, message):
    files = _members(net.save(tmp_path / "m.scnn"))
    header = json.loads(files["network.json"])
    edit(header)
    files["network.json"] = json.dumps(header).encode()
    with pytest.raises(ModelFileError, match=message) as e:
        models.load(_write(tmp_path / "edited.scnn", files))
    assert "\n" not in str(e.value) and str(e.value).count("edited.scnn") == 1, str(e.value)
    if "the network it holds is invalid" in str(e.value):  # the network's own error, kept as the cause
        assert isinstance(e.value.__cause__, NetworkError)


def test_network_errors_are_chained(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    buf = io.BytesIO()
    np.save(buf, -net.layers[0].weight_scale)
    with pytest.raises(ModelFileError, match=r"edited\.scnn: the network it holds is invalid: .*weight scales must "
                                             r"be finite and positive") as e:
        models.load(_write(tmp_path / "edited.scnn", {**files, "layers/0/weight_scale.npy": buf.getvalue()}))
    assert isinstance(e.value.__cause__, NetworkError)


@pytest.mark.parametrize("text", [
    lambda t: t.replace('"metadata": {', '"metadata": {"deep": ' + "[" * 100000 + "]" * 100000 + ", ", 1),
    lambda t: t.replace('"metadata": {', '"metadata": {"deep": ' + '{"a": ' * 40 + "1" + "}" * 40 + ", ", 1),
], ids=['lists-100000', 'objects-40'])
def test_deeply_nested_json_is_refused_before_it_is_parsed(tmp_path, net, text):
    files = _members(net.save(tmp_path / "m.scnn"))
    files["network.json"] = text(json.dumps(json.loads(files["network.json"]))).encode()
    with pytest.raises(ModelFileError, match="network.json nests arrays and objects more than 32 deep"):
        models.load(_write(tmp_path / "deep.scnn", files))


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path, net):
    net.metadata["note"] = "[" * 1000 + '\\"{' * 100
    assert models.load(net.save(tmp_path / "m.scnn")).metadata == net.metadata


def test_a_deeply_nested_npy_header_is_refused(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    files["layers/0/bias.npy"] = _npy("'<i4'", "(" * 1000 + ")" * 1000)
    with pytest.raises(ModelFileError, match=r"layers/0/bias\.npy is not a valid \.npy array"):
        models.load(_write(tmp_path / "deep.scnn", files))


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA, 99])
def test_unsupported_compression_is_refused(tmp_path, net, method):
    files = _members(net.save(tmp_path / "m.scnn"))
    path = _write(tmp_path / "c.scnn", files, zipfile.ZIP_BZIP2 if method == 99 else method)
    if method == 99:  # a method zipfile does not know at all, set in the central directory
        data = bytearray(path.read_bytes())
        for at in find_all(data, b"PK\x01\x02"):
            struct.pack_into("<H", data, at + 10, 99)
        path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=rf"uses zip compression method {method}; a model file uses only stored "
                                             r"\(0\) or deflated \(8\) entries"):
        models.load(path)


@pytest.mark.parametrize("flags", [0x1, 0x20, 0x40])
def test_encrypted_and_patched_entries_are_refused(tmp_path, net, flags):
    data = bytearray(net.save(tmp_path / "m.scnn").read_bytes())
    for at in find_all(data, b"PK\x01\x02"):
        struct.pack_into("<H", data, at + 8, flags)
    (tmp_path / "e.scnn").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=rf"is encrypted or patched \(zip flags {flags:#x}\)"):
        models.load(tmp_path / "e.scnn")


def test_a_newer_zip_version_is_refused(tmp_path, net):
    data = bytearray(net.save(tmp_path / "m.scnn").read_bytes())
    struct.pack_into("<H", data, find_all(data, b"PK\x01\x02")[0] + 6, 255)  # version needed to extract: 25.5
    (tmp_path / "v.scnn").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"uses a zip feature model files never use \(zip file version 25\.5\)"):
        models.load(tmp_path / "v.scnn")


def test_a_file_truncated_anywhere_or_missing_bytes_is_refused(tmp_path, net):
    data = net.save(tmp_path / "m.scnn").read_bytes()
    for n in list(range(0, len(data), 97)) + [len(data) - 1, len(data) - 22, 4]:
        (tmp_path / "cut.scnn").write_bytes(data[:n])
        with pytest.raises(ModelFileError, match="truncated or corrupted|not a streamcnn model"):
            models.load(tmp_path / "cut.scnn")
    # Bytes missing inside the file: zipfile shifts every entry back by as many bytes.
    for at in range(0, len(data) - 200, 89):
        (tmp_path / "cut.scnn").write_bytes(data[:at] + data[at + 11:])
        with pytest.raises(ModelFileError, match="truncated or corrupted"):
            models.load(tmp_path / "cut.scnn")
    with pytest.raises(ModelFileError, match=r"truncated or corrupted: its entry 'layers/0/weight\.npy' would start "
                                             r"at byte -11, outside the"):
        (tmp_path / "cut.scnn").write_bytes(data[:10] + data[21:])
        models.load(tmp_path / "cut.scnn")


def test_a_member_cut_short_inside_an_intact_directory_is_refused(tmp_path, net):
    """The last member (network.json) loses its final 400 bytes; the directory after it is kept
    and its offset fixed, so zip finds every entry and inflates past the end of the data."""
    data = net.save(tmp_path / "m.scnn").read_bytes()
    eocd, cut = data.rfind(b"PK\x05\x06"), 400
    start = struct.unpack_from("<L", data, eocd + 16)[0]
    cut_data = bytearray(data[:start - cut] + data[start:])
    struct.pack_into("<L", cut_data, eocd - cut + 16, start - cut)
    (tmp_path / "cut.scnn").write_bytes(bytes(cut_data))
    with pytest.raises(ModelFileError, match=r"cut\.scnn: network\.json is truncated or corrupted \(Error -3 while "
                                             r"decompressing data"):
        models.load(tmp_path / "cut.scnn")


@pytest.mark.parametrize("content", [
    b"", b"PK\x05\x06" + b"\0" * 18, bytes(range(256)) * 40, b"\x93NUMPY",
    b"x" * 10 + b"PK\x05\x06" + struct.pack("<4H2LH", 0, 0, 1, 1, 1000, 0, 0),
], ids=['empty', 'end-record-only', 'noise', 'npy-magic', 'directory-before-start'])
def test_files_that_are_not_zips_are_refused(tmp_path, content):
    (tmp_path / "x.scnn").write_bytes(content)
    with pytest.raises(ModelFileError, match="not a streamcnn model") as e:
        models.load(tmp_path / "x.scnn")
    if "is a zip file" not in str(e.value):  # an empty zip is a zip
        assert isinstance(e.value.__cause__, zipfile.BadZipFile)  # zipfile's own words, kept for debugging


def test_too_many_entries_and_zip64_are_refused_before_the_directory_is_parsed(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    extra = [(f"junk/{i}", b"") for i in range(modelfile.MAX_MEMBERS)]
    with pytest.raises(ModelFileError, match=rf"declares {len(files) + len(extra)} zip entries; a model file has "
                                             rf"at most {modelfile.MAX_MEMBERS}"):
        models.load(_write(tmp_path / "many.scnn", list(files.items()) + extra))
    long_names = [("j/" + f"{i:04d}" * 300, b"") for i in range(1200)]  # 1200 entries of 1202-byte names
    with pytest.raises(ModelFileError, match=r"declares a \d+-byte zip directory; a model file's is at most "
                                             rf"{modelfile.MAX_DIRECTORY_BYTES} bytes"):
        models.load(_write(tmp_path / "long.scnn", list(files.items()) + long_names))
    data = _write(tmp_path / "z64.scnn", files).read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    path = tmp_path / "z64.scnn"  # a zip64 locator (pointing at nothing) right before the end record
    path.write_bytes(data[:eocd] + b"PK\x06\x07" + b"\0" * 16 + data[eocd:])
    with pytest.raises(ModelFileError, match="uses zip64 records; a streamcnn model file never needs them"):
        models.load(path)


def test_duplicated_renamed_and_extra_members(tmp_path, net):
    files = _members(net.save(tmp_path / "m.scnn"))
    with pytest.warns(UserWarning, match="Duplicate name"):
        dup = _write(tmp_path / "dup.scnn", list(files.items()) + [("layers/0/bias.npy", files["layers/0/bias.npy"])])
    with pytest.raises(ModelFileError, match="holds two zip entries named 'layers/0/bias.npy'"):
        models.load(dup)
    renamed = {("layers/0/Bias.npy" if n == "layers/0/bias.npy" else n): d for n, d in files.items()}
    with pytest.raises(ModelFileError, match=r"layer 0 \('conv2d0'\): bias names the member 'layers/0/bias.npy', "
                                             "which the file does not hold"):
        models.load(_write(tmp_path / "renamed.scnn", renamed))
    # Members nothing refers to are never read, whatever they declare.
    back = models.load(_write(tmp_path / "extra.scnn", {**files, "README": b"x" * (8 << 20)}))
    assert back.name == "tiny"


def test_missing_directory_and_unreadable_paths(tmp_path, net, monkeypatch):
    with pytest.raises(ModelFileError, match=r"no model file at .*missing\.scnn"):
        modelfile.load(tmp_path / "missing.scnn")
    (tmp_path / "d.scnn").mkdir()
    with pytest.raises(ModelFileError, match=r"d\.scnn is a directory, not a model file"):
        models.load(tmp_path / "d.scnn")
    path = net.save(tmp_path / "m.scnn")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads anything: make open() say what it would say to a user
            def refuse(*args, **kwargs):
                raise PermissionError(13, "Permission denied", str(path))
            monkeypatch.setattr(modelfile, "open", refuse, raising=False)
        with pytest.raises(ModelFileError, match=r"cannot read the model file .*m\.scnn: permission denied"):
            models.load(path)
    finally:
        path.chmod(0o644)


def test_shipped_models_and_saved_files_still_load(tmp_path):
    for name in models.available():
        net = models.load(name)
        again = models.load(net.save(tmp_path / f"{name}.scnn"))
        assert _members(tmp_path / f"{name}.scnn").keys() == _members(models.path_of(name)).keys()
        for a, b in zip(net.layers, again.layers):
            for array in ("weight", "bias", "multiplier", "shift", "weight_scale"):
                if hasattr(a, array):
                    assert getattr(a, array).dtype == getattr(b, array).dtype
                    assert np.array_equal(getattr(a, array), getattr(b, array))


def test_save_refuses_what_load_would(tmp_path):
    wide = Linear(np.ones((4097, 1), np.int8), np.zeros(4097, np.int32), np.ones(4097, np.int64),
                  np.zeros(4097, np.int64), name="wide")
    net = Network((1, 1, 1), [Flatten(), wide])
    with pytest.raises(ModelFileError, match=r"wide: weights of shape \(4097, 1\) exceed the model file's limits"):
        net.save(tmp_path / "wide.scnn")
    big = Network((1, 5000, 1), [ReLU()], name="big")
    with pytest.raises(ModelFileError, match="big: a size, stride or padding of 5000; a model file holds at most 4096"):
        big.save(tmp_path / "big.scnn")
    deep = Network((1, 2, 2), [ReLU()], name="deep", metadata={"x": json.loads("[" * 32 + "]" * 32)})
    with pytest.raises(ModelFileError, match=r"cannot save deep to .*deep\.scnn: its metadata nests more than 31 deep"):
        deep.save(tmp_path / "deep.scnn")
    assert not (tmp_path / "deep.scnn").exists()
    deep.metadata = {"x": json.loads("[" * 30 + "]" * 30)}  # as deep as it may be
    assert models.load(deep.save(tmp_path / "deep.scnn")).metadata == deep.metadata


def test_fields_changed_after_construction_are_checked_when_saved(tmp_path, net):
    """save() builds the network again from its fields: NumPy scalars are written as JSON
    numbers, an out-of-range zero point is refused, and nothing is left behind either way."""
    layer = next(l for l in net.layers if hasattr(l, "output_zero_point"))
    layer.output_zero_point, layer.output_scale = np.int64(3), np.float32(layer.output_scale)
    loaded = modelfile.load(modelfile.save(net, tmp_path / "numpy.scnn"))
    assert next(l for l in loaded.layers if hasattr(l, "output_zero_point")).output_zero_point == 3
    layer.output_zero_point = 300
    with pytest.raises(ModelFileError, match="zero point must lie in the int8 range.*got 300"):
        modelfile.save(net, tmp_path / "bad.scnn")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["numpy.scnn"]  # no bad.scnn, no part file
    with pytest.raises(ModelFileError, match="cannot save"):
        modelfile.save(net, tmp_path / "no" / "such" / "dir.scnn")


def test_two_threads_saving_one_path_leave_a_whole_file(tmp_path, net):
    import threading

    errors = []

    def save():
        try:
            for _ in range(5):
                modelfile.save(net, tmp_path / "shared.scnn")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and [p.name for p in tmp_path.iterdir()] == ["shared.scnn"]
    assert np.array_equal(modelfile.load(tmp_path / "shared.scnn").layers[0].weight, net.layers[0].weight)
