"""The accelerator library on the simulated PYNQ-Z2: pynq 4.0.0's own Overlay and partial
reconfiguration code (Overlay.pr_download, DefaultHierarchy.download, the legacy .hwh parser,
Device.update_partial_region) against tests/board_model.py, whose partition holds one
accelerator configuration at a time and runs it (the simulator's C++ of that configuration).

Needs pynq 4.0.0 (see test_pynq_device.py); skipped elsewhere."""
import json
import threading
import warnings

import numpy as np
import pytest

pynq = pytest.importorskip("pynq", reason="the board-path tests need pynq 4.0.0 (see README)")
if pynq.__version__ != "4.0.0":  # board_model uses pynq internals
    pytest.skip(f"board_model is written against pynq 4.0.0, found {pynq.__version__}", allow_module_level=True)

import streamcnn  # noqa: E402
from streamcnn import datasets, golden, library, models  # noqa: E402
from streamcnn.errors import LimitError, OverlayError  # noqa: E402

from board_model import SimulatedPynqZ2, make_library  # noqa: E402
from conftest import roomy_network  # noqa: E402

warnings.filterwarnings("ignore", category=ResourceWarning)


@pytest.fixture
def board():
    return SimulatedPynqZ2()


@pytest.fixture
def folder(tmp_path):
    return make_library(tmp_path / "library")


@pytest.fixture
def device(folder, board):
    return streamcnn.open_device("pynq", library=str(folder), pynq_device=board, timeout=0.5, download=False)


@pytest.fixture(scope="module")
def lenet():
    net = models.load("lenet5-mnist")
    images, _ = datasets.test_set("mnist")
    return net, images[:40]


@pytest.fixture(scope="module")
def roomy():
    """Two networks only mac64 takes (16 x 80 x 80 activations), and their images."""
    rng = np.random.default_rng(0)
    return [roomy_network(3), roomy_network(4)], rng.uniform(0, 1, (6, 1, 80, 80)).astype(np.float32)


def test_the_shell_opens_on_its_own_module_without_a_swap(device, board, folder):
    from streamcnn.devices.pynq_library import PynqLibraryDevice

    assert isinstance(device, PynqLibraryDevice)
    assert device.variant == "mac256" and device.swaps == 0 and board.reconfigurations == []
    assert device.caps == library.expected_caps("mac256") and device.transfers == 1
    # pynq learnt the module's registers from its partial .hwh: the accelerator is in the partition
    assert "rp_streamcnn/accelerator" in device.overlay.ip_dict
    assert [v.name for v in device.library.variants] == ["mac256", "mac64"]


def test_a_network_that_needs_the_other_variant_swaps_once_then_a_second_none(device, board, lenet, roomy):
    (first, second), images = roomy
    lenet_net, digits = lenet
    program = device.load(lenet_net)  # mac256 is fastest for LeNet-5, and loaded: no swap
    assert program.variant == "mac256" and board.reconfigurations == []
    big = device.load(first)
    assert big.variant == "mac64" and device.variant == "mac64" and board.reconfigurations == ["mac64"]
    assert device.caps == library.expected_caps("mac64")  # read again after the swap
    assert np.array_equal(big.run(images), golden.run(first, images))
    other = device.load(second)
    assert other.variant == "mac64" and board.reconfigurations == ["mac64"]  # none for the second
    assert np.array_equal(other.run(images), golden.run(second, images))
    assert device.swaps == 1 and device.swap_seconds > 0


def test_a_program_whose_variant_was_swapped_out_swaps_it_back_before_it_runs(device, board, lenet, roomy):
    (first, _), images = roomy
    lenet_net, digits = lenet
    small = device.load(lenet_net, batch=8)
    big = device.load(first)
    board.events.clear()
    assert np.array_equal(small.run(digits), golden.run(lenet_net, digits))  # 5 batches, one swap before them
    # the partition decoupled from the shell while it is rewritten, then the capabilities read
    # again, then the 5 batches
    assert board.events[:3] == ["decouple", "reconfigure mac256", "couple"]
    assert board.events[3:] == ["ap_start", "recv", "send", "done"] * 6
    layers = big.run(images[:2], all_layers=True)  # the all-layers path claims its variant too
    assert board.reconfigurations == ["mac64", "mac256", "mac64"]
    expected = dict(zip([layer.name for layer in first.layers], golden.run(first, images[:2], all_layers=True)))
    assert layers and all(np.array_equal(out, expected[name]) for name, out in layers.items())
    assert np.array_equal(big.run(images), golden.run(first, images)) and device.swaps == 3


def test_a_variant_can_be_asked_for_and_a_wrong_one_is_refused_before_any_swap(device, board, lenet, roomy):
    (first, _), images = roomy
    lenet_net, digits = lenet
    program = device.load(lenet_net, variant="mac64", batch=8)
    assert program.variant == "mac64" and board.reconfigurations == ["mac64"]
    assert np.array_equal(program.run(digits), golden.run(lenet_net, digits))
    device.load(lenet_net)  # mac256 is faster for LeNet-5
    assert board.reconfigurations == ["mac64", "mac256"]
    with pytest.raises(LimitError, match=r"maximum is 8192 \(act_words\)"):
        device.load(first, variant="mac256")
    with pytest.raises(OverlayError, match="no variant 'mac1024'.*mac256, mac64"):
        device.load(lenet_net, variant="mac1024")
    assert board.reconfigurations == ["mac64", "mac256"]


def test_a_network_that_fits_no_variant_names_each_reason_and_swaps_nothing(device, board):
    from streamcnn.network import Flatten
    from streamcnn.quantization import FloatLinear, quantize

    rng = np.random.default_rng(1)
    wide = quantize((1, 1, 6000), [Flatten(), FloatLinear(rng.normal(0, 0.01, (10, 6000)), np.zeros(10))],
                    rng.uniform(0, 1, (4, 1, 1, 6000)).astype(np.float32), name="wide")
    with pytest.raises(LimitError, match=r"wide fits no variant of the accelerator library \(mac256: .*; mac64: "):
        device.load(wide)
    assert board.reconfigurations == [] and device.variant == "mac256"


def test_a_partial_bitstream_that_is_not_its_variant_is_refused(tmp_path, board, lenet, roomy):
    """library.txt and the .hwh say mac64, the bitstream holds mac256: the capabilities read
    after the swap give it away, and the device recovers with the next load."""
    folder = make_library(tmp_path / "mislabelled", holds={"mac64": "mac256"})
    device = streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)
    (first, _), images = roomy
    with pytest.raises(OverlayError, match=r"reports act_words 8192 \(expected 16384\).*not the mac64 variant"):
        device.load(first)
    assert device.variant is None  # unknown hardware: the next load swaps whatever it needs
    lenet_net, digits = lenet
    program = device.load(lenet_net)
    assert device.variant == "mac256" and board.reconfigurations == ["mac256", "mac256"]
    assert np.array_equal(program.run(digits[:8]), golden.run(lenet_net, digits[:8]))


def test_two_threads_on_two_variants_take_turns(device, board, lenet, roomy):
    """Each thread's program swaps its variant in under the board's lock; the model asserts that
    no partition is reconfigured while a transfer is in flight."""
    (first, _), images = roomy
    lenet_net, digits = lenet
    programs = [(device.load(lenet_net, batch=8), lenet_net, digits), (device.load(first), first, images)]
    expected = [golden.run(net, x) for _, net, x in programs]
    failures = []
    start = threading.Barrier(2)

    def work(k):
        program, _, x = programs[k]
        start.wait()
        for _ in range(6):
            try:
                if not np.array_equal(program.run(x), expected[k]):
                    failures.append(k)
            except Exception as e:  # noqa: BLE001 - reported below, not lost with the thread
                failures.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # the loads left mac64 in, so LeNet-5's thread swapped at least once
    assert failures == [] and len(board.reconfigurations) == device.swaps >= 2


def test_open_device_finds_the_library_and_refuses_a_broken_one(tmp_path, board, folder, monkeypatch):
    monkeypatch.setenv("STREAMCNN_LIBRARY", str(folder))
    device = streamcnn.open_device("pynq", pynq_device=board, download=False)
    assert device.library.folder == folder
    monkeypatch.delenv("STREAMCNN_LIBRARY")
    (folder / "streamcnn-mac64.hwh").unlink()
    with pytest.raises(OverlayError, match=r"lacks streamcnn-mac64\.hwh"):
        streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)
    with pytest.raises(OverlayError, match=r"no accelerator library in .*nothing.*make -C overlay library"):
        streamcnn.open_device("pynq", library=str(tmp_path / "nothing"), pynq_device=board)
    with pytest.raises(streamcnn.StreamCNNError, match="not both"):
        streamcnn.open_device("pynq", library=str(folder), bitfile="x.bit")


def test_info_lists_the_library(device, monkeypatch, capsys, folder):
    from streamcnn import cli

    opened = []

    def open_simulated_board(name, **options):
        assert name == "pynq" and options == {"library": str(folder)}
        opened.append(name)
        return device

    monkeypatch.setattr(cli, "open_device", open_simulated_board)
    assert cli.main(["info", "--device", "pynq", "--library", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(v["variant"], v["loaded"], v["macs_per_cycle"], v["act_words"]) for v in report["library"]] == [
        ("mac256", True, 256, 8192), ("mac64", False, 64, 16384)]
    assert report["macs_per_cycle"] == 256
    assert cli.main(["info", "--device", "pynq", "--library", str(folder)]) == 0
    text = capsys.readouterr().out
    assert "accelerator library" in text and "* mac256" in text and "streamcnn-mac64.bit" in text
    assert opened == ["pynq", "pynq"]


def test_the_board_smoke_test_runs_every_variant_of_the_library(board, folder, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    from streamcnn import cli

    def open_simulated_board(name, **options):
        assert name == "pynq" and options == {"library": str(folder)}
        return streamcnn.open_device("pynq", pynq_device=board, download=False, **options)

    monkeypatch.setattr(cli, "open_device", open_simulated_board)
    script = Path(__file__).resolve().parent.parent / "scripts" / "board_smoke_test.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--library", str(folder), "--random", "3", "--lenet", "10",
                                      "--json"])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(script), run_name="__main__")
    report = json.loads(capsys.readouterr().out)
    assert e.value.code == 0 and report["ok"] and report["topologies"] == 6 and report["mismatches"] == 0
    assert {name: part["topologies"] for name, part in report["variants"].items()} == {"mac256": 3, "mac64": 3}
    # mac64 swapped in for its topologies, mac256 back for LeNet-5 (the faster one for it)
    assert board.reconfigurations == ["mac64", "mac256"] and report["lenet5"]["mismatches"] == 0


def test_a_shell_without_the_decoupler_is_refused(folder, board):
    """Swapping a module with its outputs joined to the shell could wedge the AXI buses."""
    shell = folder / "streamcnn-shell.hwh"
    shell.write_text(shell.read_text().replace('INSTANCE="dfx_decouple"', 'INSTANCE="leds"')
                     .replace('FULLNAME="/dfx_decouple"', 'FULLNAME="/leds"'))
    with pytest.raises(OverlayError, match="no AXI GPIO dfx_decouple driving the partition's decoupler"):
        streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)


def test_a_failed_partial_download_is_named_and_leaves_the_partition_coupled(device, board, lenet, roomy):
    (first, _), images = roomy
    board.fault_partial_download = RuntimeError("fpga_manager: write failed")
    with pytest.raises(OverlayError, match=r"could not load streamcnn-mac64\.bit.*RuntimeError: fpga_manager"):
        device.load(first)
    assert not board.decoupled and board.events[-2:] == ["decouple", "couple"]
    assert device.variant is None  # unknown: the next load swaps a known module in
    program = device.load(first)
    assert program.variant == "mac64" and np.array_equal(program.run(images[:2]), golden.run(first, images[:2]))


def test_a_corrupt_partial_hwh_is_an_overlay_error(device, board, folder, roomy):
    (first, _), _ = roomy
    (folder / "streamcnn-mac64.hwh").write_text("<EDKSYSTEM><MODULES>")
    with pytest.raises(OverlayError, match=r"could not load streamcnn-mac64\.bit.*ParseError"):
        device.load(first)
    assert not board.decoupled


def test_a_decoupler_that_does_not_follow_stops_the_swap(device, board, lenet, roomy):
    (first, _), _ = roomy
    board.decoupler_stuck = True
    device.timeout = 0.05
    with pytest.raises(OverlayError, match="decoupler did not decouple within 0.05 s"):
        device.load(first)
    assert board.reconfigurations == [] and not board.decoupled and board.decouple_request == 0
    board.decoupler_stuck = False
    net, digits = lenet
    assert np.array_equal(device.load(net).run(digits[:8]), golden.run(net, digits[:8]))


def test_a_closed_library_device_swaps_nothing(device, board):
    device.close()
    with pytest.raises(streamcnn.DeviceClosedError):
        device.swap("mac64")
    assert board.reconfigurations == []


def test_device_objects_on_one_board_share_what_its_partition_holds(device, board, folder, lenet, roomy):
    """Two device objects (as two notebooks' cells might make) on one board: a swap by one is
    seen by the other, so neither runs a program on the other's variant."""
    (first, _), images = roomy
    net, digits = lenet
    other = streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)
    assert other.variant == "mac256" and board.reconfigurations == []
    big = device.load(first)
    assert other.variant == "mac64" and other.caps == library.expected_caps("mac64")
    small = other.load(net, batch=8)  # swaps mac256 back in, through the other object
    assert np.array_equal(big.run(images[:2]), golden.run(first, images[:2]))  # and mac64 again
    assert np.array_equal(small.run(digits), golden.run(net, digits))
    assert board.reconfigurations == ["mac64", "mac256", "mac64", "mac256"]


@pytest.mark.parametrize("left_decoupled", [False, True])
def test_opening_again_finds_the_module_the_partition_holds(device, board, folder, roomy, left_decoupled):
    """Another process swapped mac64 in (and perhaps died decoupled, mid-swap): a new process
    opening the shell without downloading it couples the partition first, then recognises the
    module by its capabilities and reads its metadata, swapping nothing."""
    from streamcnn.devices import pynq_library

    (first, _), images = roomy
    device.load(first)
    pynq_library.forget_partition(board)  # what a new process knows of the board: nothing
    board.decoupled = board.decouple_request = left_decoupled
    again = streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)
    assert again.variant == "mac64" and not board.decoupled and board.reconfigurations == ["mac64"]
    assert again.overlay.ip_dict["rp_streamcnn/accelerator"]["type"].endswith("streamcnn_top_mac64:1.0")
    assert np.array_equal(again.load(first).run(images[:2]), golden.run(first, images[:2]))
    assert board.reconfigurations == ["mac64"]


def test_a_variant_that_cannot_come_in_fails_the_smoke_test_and_the_others_still_run(board, folder, monkeypatch,
                                                                                    capsys):
    from streamcnn import cli

    device = streamcnn.open_device("pynq", library=str(folder), pynq_device=board, download=False)
    monkeypatch.setattr(cli, "open_device", lambda name, **options: device)
    (folder / "streamcnn-mac64.hwh").write_text("<EDKSYSTEM>")  # mac64's swap will fail
    assert cli.main(["smoke-test", "--device", "pynq", "--library", str(folder), "--random", "2", "--lenet", "0",
                     "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["variants"]["mac256"]["topologies"], report["variants"]["mac256"]["mismatches"]) == (2, 0)
    assert report["variants"]["mac64"]["topologies"] == 0 and not report["ok"]
    assert [f["variant"] for f in report["failures"]] == ["mac64"] and "OverlayError" in report["failures"][0]["error"]
