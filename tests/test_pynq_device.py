"""The pynq device, driving pynq's own Overlay and DMA drivers against a simulated
PYNQ-Z2 (tests/board_model.py) that runs the accelerator's C++.

Needs pynq 4.0.0 from PyPI (it pins numpy < 2, so it lives in its own environment:
see the README); skipped elsewhere.  Overlays are opened with download=False:
pynq 4.0.0's metadata parser finds no PL clock frequency for Zynq-7000 designs
(ZynqProcSysCore keeps the UltraScale+ parameter name), so Overlay.download()
fails on any PYNQ-Z2 .hwh under that version.  Downloading only programs the PL
clocks and the FPGA, which is pynq's code on the board (PYNQ 3.x images), not ours.
"""
import time
import warnings

import numpy as np
import pytest

pynq = pytest.importorskip("pynq", reason="the board-path tests need pynq 4.0.0 (see README)")
if pynq.__version__ != "4.0.0":  # board_model uses pynq internals
    pytest.skip(f"board_model is written against pynq 4.0.0, found {pynq.__version__}", allow_module_level=True)

import streamcnn  # noqa: E402
from streamcnn import datasets, golden, models, protocol  # noqa: E402
from streamcnn.errors import DeviceError, DMAError, DMATimeoutError, OverlayError  # noqa: E402

from board_model import SAMPLE_HWH, SimulatedPynqZ2, make_overlay  # noqa: E402

warnings.filterwarnings("ignore", category=ResourceWarning)  # "Pynq does not support the CPU Architecture"


@pytest.fixture
def board():
    return SimulatedPynqZ2()


@pytest.fixture
def device(tmp_path, board):
    bit = make_overlay(tmp_path)
    return streamcnn.open_device("pynq", bitfile=str(bit), pynq_device=board, timeout=0.5, download=False)


@pytest.fixture(scope="module")
def lenet():
    net = models.load("lenet5-mnist")
    images, labels = datasets.test_set("mnist")
    return net, images[:100], labels[:100]


def test_capabilities_are_read_at_open(device):
    assert device.caps.version == protocol.HW_VERSION
    assert device.caps.act_words == protocol.CONFIG["act_words"]
    # the accelerator's registers as a plain DefaultIP, not a second device (pynq would bind it to
    # StreamCNNDriver), so opening reads the capabilities once
    assert type(device.ip) is pynq.DefaultIP and device.transfers == 1


def test_lenet5_bit_exact_with_one_receive_then_one_send_per_batch(device, board, lenet):
    net, images, labels = lenet
    program = device.load(net, batch=8)
    board.events.clear()
    out = program.run(images)
    assert np.array_equal(out, golden.run(net, images))
    assert (out.argmax(1) == labels).mean() > 0.95
    batches = -(-len(images) // 8)
    assert board.events == ["ap_start", "recv", "send", "done"] * batches
    assert program._second is not None  # the batches ran overlapped, in two pairs of buffers
    buffers = len(board.memory)
    program.run(images[:16])
    assert len(board.memory) == buffers  # buffers allocated once, reused


def test_dma_error_is_diagnosed_and_recovered(device, board, lenet):
    net, images, _ = lenet
    program = device.load(net, batch=4)
    board.fault_slave_error = True
    with pytest.raises(DMAError, match=r"Slave error on the send \(MM2S\).*device is ready again") as e:
        program.run(images[:4])
    assert "mm2s_dmasr=0x00000020" in str(e.value) and "ip_ctrl=" in str(e.value)
    assert np.array_equal(program.run(images[:8]), golden.run(net, images[:8]))


def test_timeout_is_bounded_and_the_accelerator_is_flushed(device, board, lenet):
    net, images, _ = lenet
    program = device.load(net, batch=4)
    board.fault_stall_after = 300  # the send hangs part way through the program
    start = time.monotonic()
    with pytest.raises(DMATimeoutError, match=r"timeout: .* 0.5 s\. The accelerator stopped taking input") as e:
        program.run(images[:4])
    assert time.monotonic() - start < 3
    assert "ip_words=" in str(e.value)
    # recovery: DMA reset, a one-word flush the accelerator drains and answers, reset again
    assert board.events[-8:] == ["ap_start", "recv", "send", "dma-reset", "recv", "send", "done", "dma-reset"]
    assert board.ip["status"] & 0xFFFF == protocol.Status.ERR_TRUNCATED  # it saw the cut program end
    assert np.array_equal(program.run(images[:12]), golden.run(net, images[:12]))


def test_a_stuck_all_layers_run_is_drained_whatever_its_answer(device, board, lenet):
    """An all-layers run that hangs after its first OUTPUT: the accelerator, flushed, still owes
    conv1's record (6,272 words at batch 8, more than any fixed flush buffer of 4,096) and the
    trailer.  recover() arms S2MM for the largest answer the stuck program may give."""
    net, images, _ = lenet
    program = device.load(net, batch=8)
    loaded = program._variant(True)
    first_output = next(p for p in loaded.prog.packets if p.opcode == protocol.Op.OUTPUT)
    assert loaded.prog.outputs[0].words * 8 > 4096
    board.fault_stall_after = first_output.offset + 2  # past the OUTPUT packet: the record is owed
    with pytest.raises(DMATimeoutError, match="The DMA was reset and the accelerator flushed"):
        program.run(images[:8], all_layers=True)
    assert board.events[-3:] == ["send", "done", "dma-reset"]  # the flush word, the answer drained
    assert board.ip["status"] & 0xFFFF != protocol.Status.OK  # the flush word ended the cut program
    assert len(device._flush_buffers[1]) == len(loaded.recv) > 4096
    assert np.array_equal(program.run(images[:16]), golden.run(net, images[:16]))


def test_refuses_an_overlay_of_another_format(tmp_path, board, monkeypatch):
    bit = make_overlay(tmp_path)
    wanted = protocol.FORMAT_VERSION + 1
    monkeypatch.setattr(protocol, "FORMAT_VERSION", wanted)
    with pytest.raises(DeviceError, match=f"does not speak program format {wanted}.*rebuild the overlay"):
        streamcnn.open_device("pynq", bitfile=str(bit), pynq_device=board, download=False)


def test_missing_or_foreign_bitstreams(tmp_path, board):
    with pytest.raises(OverlayError, match=r"no bitstream at .*nothere\.bit.*make -C overlay"):
        streamcnn.open_device("pynq", bitfile=str(tmp_path / "nothere.bit"), pynq_device=board)
    (tmp_path / "lonely.bit").write_bytes(b"")
    with pytest.raises(OverlayError, match=r"lonely\.hwh is missing"):
        streamcnn.open_device("pynq", bitfile=str(tmp_path / "lonely.bit"), pynq_device=board)
    (tmp_path / "resizer.bit").write_bytes(b"")
    (tmp_path / "resizer.hwh").write_text(SAMPLE_HWH.read_text())
    with pytest.raises(OverlayError, match="0 instances of the streamcnn accelerator.*resize_accel_0"):
        streamcnn.open_device("pynq", bitfile=str(tmp_path / "resizer.bit"), pynq_device=board, download=False)


def test_board_smoke_test_script(tmp_path, board, monkeypatch, capsys):
    """scripts/board_smoke_test.py, as a board user runs it, on the simulated board."""
    import json
    import runpy
    import sys
    from pathlib import Path

    from streamcnn import cli

    bit = make_overlay(tmp_path)
    opened = []

    def open_simulated_board(name, **options):
        assert name == "pynq" and options == {"bitfile": str(bit)}
        dev = streamcnn.open_device("pynq", pynq_device=board, download=False, **options)
        opened.append(dev)
        return dev

    monkeypatch.setattr(cli, "open_device", open_simulated_board)
    script = Path(__file__).resolve().parent.parent / "scripts" / "board_smoke_test.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--bitfile", str(bit), "--random", "5", "--lenet", "20", "--json"])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(script), run_name="__main__")
    report = json.loads(capsys.readouterr().out)
    assert e.value.code == 0 and report["ok"] and report["device"] == "pynq"
    assert report["topologies"] == 5 and report["mismatches"] == 0
    assert report["lenet5"]["mismatches"] == 0 and report["lenet5"]["latency_ms"] > 0
    assert len(opened) == 1


@pytest.mark.parametrize("busy_polls", [0, 100])
def test_register_accesses_per_batch(device, board, lenet, busy_polls):
    """AXI-Lite traffic per batch, through pynq's own DMA driver: 7 writes (ap_start, and
    address low, address high and length for each channel) and 8 reads (pynq's transfer() reads
    each channel's status twice; the wait reads S2MM, MM2S and the IP once each when done; the
    received length), plus one read per poll while the answer is on its way (and MM2S's status
    every 32nd).  bench/host.py reports the same counts."""
    net, images, _ = lenet
    program = device.load(net, batch=4)
    program.run(images[:12])  # makes the second pair of buffers
    board.busy_reads = busy_polls
    board.reset_register_counts()
    program.run(images[:12])
    batches = program.last.batches
    assert batches == 3
    assert sum(board.register_writes.values()) == 7 * batches
    polling = busy_polls + busy_polls // 32
    assert sum(board.register_reads.values()) == (8 + polling) * batches
    assert board.register_reads["dma+0x34"] == (3 + busy_polls) * batches  # S2MM's status
    # one cache clean per batch: pynq's send channel flushes the buffer it sends; the driver adds none
    assert board.flushed == [program.compiled.nbytes] * batches


def test_an_interrupted_wait_is_recovered_before_the_next_transfer(device, board, lenet, monkeypatch):
    """Ctrl-C while the driver waits for a stuck answer leaves the DMA busy; the next run resets
    it and flushes the accelerator first, and is bit-exact."""
    net, images, _ = lenet
    program = device.load(net, batch=4)
    program.run(images[:4])
    board.busy_reads = 10 ** 9  # the answer never comes
    real_wait = device._wait

    def interrupted(deadline):
        raise KeyboardInterrupt

    monkeypatch.setattr(device, "_wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        program.run(images[:8])
    monkeypatch.setattr(device, "_wait", real_wait)
    board.busy_reads = 0
    board.events.clear()
    assert np.array_equal(program.run(images[:8]), golden.run(net, images[:8]))
    assert board.events[0] == "dma-reset"


def test_pynqs_own_overlay_gives_a_streamcnn_device_for_the_ip(tmp_path, board, lenet):
    """The DefaultIP driver bound to the accelerator's VLNV, found by pynq through streamcnn's
    ``pynq.lib`` entry point: pynq's Overlay makes it, nothing streamcnn-specific is called."""
    from streamcnn.devices.pynq_ip import StreamCNNDriver

    net, images, _ = lenet
    overlay = pynq.Overlay(str(make_overlay(tmp_path)), download=False, device=board)
    device = overlay.streamcnn_top_0
    assert isinstance(device, StreamCNNDriver) and isinstance(device, streamcnn.Device)
    assert isinstance(device, pynq.DefaultIP) and device.read(0x00) & 0x4  # its registers: ap_idle
    assert device.caps.version == protocol.HW_VERSION
    assert np.array_equal(device.load(net, batch=8).run(images[:24]), golden.run(net, images[:24]))


def test_pynq_get_notebooks_copies_the_notebooks(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    pynq_cli = Path(sys.executable).with_name("pynq")
    done = subprocess.run([str(pynq_cli), "get-notebooks", "streamcnn", "--path", str(tmp_path), "--force",
                           "--ignore-overlays"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    copied = sorted(p.name for p in (tmp_path / "streamcnn").glob("*.ipynb"))
    shipped = sorted(p.name for p in (Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
    assert copied == shipped and len(copied) == 5
