"""The accelerator library (issue 19): what each variant can do before it is loaded, which variant
a network runs on, and library.txt read with named errors."""
import numpy as np
import pytest

import streamcnn
from streamcnn import library, models, partition, protocol
from streamcnn.errors import LimitError, OverlayError
from streamcnn.quantization import FloatConv2d, quantize

from conftest import roomy_network


@pytest.mark.parametrize("config", protocol.CONFIGS)
def test_expected_capabilities_are_what_the_hardware_reports(config):
    """Derived from the same headers as the C++: equal to the simulated accelerator's record."""
    with streamcnn.open_device("sim", config=config) as dev:
        assert library.expected_caps(config) == dev.caps


def variants():
    return [library.Variant(c, None, library.expected_caps(c)) for c in protocol.CONFIGS]


def test_each_network_runs_on_the_variant_it_fits_that_is_fastest():
    lenet = models.load("lenet5-mnist")
    assert library.choose(lenet, variants()).name == "mac256"  # fits both, 3.7x faster on 256 MACs
    speeds = {v.name: partition.seconds_per_image(lenet, v.caps) for v in variants()}
    assert speeds["mac256"] < speeds["mac64"]
    assert library.choose(roomy_network(), variants()).name == "mac64"  # fits only the large buffers
    assert library.choose(roomy_network(), variants(), current="mac64").name == "mac64"


def test_a_network_no_variant_fits_names_every_reason():
    rng = np.random.default_rng(4)
    huge = quantize((1, 128, 128), [FloatConv2d(rng.normal(0, 0.3, (64, 1, 3, 3)), None, padding=1)],
                    rng.uniform(0, 1, (2, 1, 128, 128)).astype(np.float32), name="huge")
    with pytest.raises(LimitError, match="huge fits no variant of the accelerator library") as e:
        library.choose(huge, variants())
    assert "mac256: " in str(e.value) and "mac64: " in str(e.value)


def make_library(folder, text="partition rp_streamcnn\nvariant mac256 streamcnn-mac256.bit\n"
                              "variant mac64 streamcnn-mac64.bit\n"):
    folder.mkdir(exist_ok=True)
    (folder / "library.txt").write_text(text)
    for name in ("streamcnn-shell", "streamcnn-mac256", "streamcnn-mac64"):
        (folder / f"{name}.bit").write_bytes(b"bit")
        (folder / f"{name}.hwh").write_text("hwh")
    return folder


def test_library_txt_is_read_with_its_bitstreams(tmp_path):
    lib = library.read(make_library(tmp_path / "library"))
    assert lib.partition == "rp_streamcnn" and lib.shell.name == "streamcnn-shell.bit"
    assert [v.name for v in lib.variants] == ["mac256", "mac64"]
    assert lib.variant("mac64").caps.act_words == 2 * lib.variant("mac256").caps.act_words
    with pytest.raises(OverlayError, match="no variant 'mac128'"):
        lib.variant("mac128")


@pytest.mark.parametrize("text, message", [
    ("variant mac256 a.bit\n", "names no partition"),
    ("partition rp\n", "names no variant"),
    ("partition rp\nvariant mac999 streamcnn-mac256.bit\n", "variant 'mac999' is not a configuration"),
    ("partition rp\nvariant mac256 streamcnn-mac256.bit\nvariant mac256 streamcnn-mac256.bit\n", "listed twice"),
    ("partition rp\nbitstream x\n", "line 2: expected 'partition NAME' once"),
    ("partition rp\nvariant mac64 missing.bit\n", "lacks missing.bit"),
])
def test_a_bad_library_is_a_named_error(tmp_path, text, message):
    with pytest.raises(OverlayError, match=message):
        library.read(make_library(tmp_path / "library", text))


def test_no_library_says_how_to_build_one(tmp_path):
    with pytest.raises(OverlayError, match="make -C overlay library"):
        library.read(tmp_path)
    folder = make_library(tmp_path / "library")
    (folder / "streamcnn-mac64.hwh").unlink()
    with pytest.raises(OverlayError, match="lacks streamcnn-mac64.hwh"):
        library.read(folder)


def test_the_committed_library_figures_are_the_cycle_models():
    """bench/results/library.json (docs/performance.md's table) against the cycle model now:
    the shipped models' figures exactly (model files, integer cycle counts), and the 80 x 80
    network only on the large-buffer variant."""
    import json
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    bench = runpy.run_path(str(root / "bench" / "library.py"))
    committed = json.loads((root / "bench" / "results" / "library.json").read_text())
    rows = {row["network"]: row for row in committed["networks"]}
    assert set(rows) == set(models.available()) | {"wide-80x80"}
    for name in models.available():
        net = models.load(name)
        for v in variants():
            assert rows[name]["variants"][v.name] == bench["on_variant"](net, v), (name, v.name)
        assert rows[name]["chosen"] == library.choose(net, variants()).name == "mac256"
    roomy = rows["wide-80x80"]
    assert not roomy["variants"]["mac256"]["fits"] and roomy["variants"]["mac64"]["fits"] and roomy["chosen"] == "mac64"
