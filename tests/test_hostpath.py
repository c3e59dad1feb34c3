"""The host's work per batch (streamcnn.hostpath): a fixed number of calls, whatever the
network, and the same outputs as the full parser and the golden model, for float, uint8 and
int8 images.  Call counts are cProfile's, the same on every machine; time is bench/host.py's."""
import cProfile
import pstats

import numpy as np
import pytest

from streamcnn import datasets, golden, models, protocol as P, smoke
from streamcnn.devices.replay import ReplayDevice
from streamcnn.devices.sim import SimDevice
from streamcnn.errors import DeviceError, InputError
from streamcnn.network import Conv2d, Flatten, Linear, Network, ReLU

#: issue 13's bound: Python-level calls (cProfile counts builtins and NumPy methods too) per batch
MAX_CALLS = 30


def calls_per_run(program, x, runs=20) -> float:
    program.run(x)  # the first answer goes through the parser
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(runs):
        program.run(x)
    profile.disable()
    return pstats.Stats(profile).total_calls / runs


@pytest.fixture(scope="module")
def lenet():
    return models.load("lenet5-mnist")


@pytest.fixture(scope="module")
def digits(lenet):
    return datasets.test_set("mnist", lenet.input_shape)[0][:40]


@pytest.mark.parametrize("batch", [1, 8])
def test_a_batch_costs_a_fixed_handful_of_calls(device, lenet, digits, batch):
    program = device.load(lenet, batch=batch)
    x = digits[:batch]
    expected = program.run(x)
    replay = ReplayDevice(device.caps, program.last_answer())
    fast = replay.load(lenet, batch=batch)
    assert np.array_equal(fast.run(x), expected)
    assert calls_per_run(fast, x) <= MAX_CALLS
    # many batches in one run: the calls per batch stay under the bound (the run's own are shared)
    many = np.concatenate([x] * 5)
    assert calls_per_run(fast, many, runs=4) <= MAX_CALLS * 5
    assert fast._loaded.path.parsed == 1  # only the very first answer was parsed in full


def layouts():
    rng = np.random.default_rng(3)

    def conv(cout, cin, k, **kw):
        return Conv2d(rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8),
                      rng.integers(-500, 500, cout).astype(np.int32), np.full(cout, 1 << 20), np.full(cout, 27), **kw)

    def linear(fout, fin):
        return Linear(rng.integers(-127, 128, (fout, fin)).astype(np.int8), rng.integers(-500, 500, fout).astype(np.int32),
                      np.full(fout, 1 << 20), np.full(fout, 28))

    return {
        "column-packed": Network((1, 12, 12), [conv(4, 1, 5), ReLU(), Flatten(), linear(6, 256)]),
        "channel lanes, 11 channels": Network((11, 6, 6), [conv(9, 11, 3, padding=1), ReLU()]),
        "flattened input": Network((1, 8, 8), [Flatten(), linear(10, 64), ReLU(), linear(3, 10)]),
        "FLATTEN pass": Network((1, 6, 6), [conv(3, 1, 3), Flatten(), ReLU(), linear(5, 48)]),
        "conv output": Network((2, 7, 7), [conv(3, 2, 3, stride=2)]),
    }


@pytest.mark.parametrize("name", list(layouts()))
def test_every_layout_matches_the_golden_model(device, name):
    net = layouts()[name]
    x = np.random.default_rng(4).integers(-128, 128, (7,) + net.input_shape).astype(np.int8)
    program = device.load(net, batch=3)
    for _ in range(2):  # the first answer is parsed, the second read by the batch path
        assert np.array_equal(program.run(x), golden.run(net, x))
    assert program._loaded.path.parsed == 1
    assert np.array_equal(program.run(x[0]), golden.run(net, x[:1])[0])  # one unbatched image


def test_random_topologies_match_on_the_batch_path(device):
    """smoke-test's topologies, three batches a run in two pairs of buffers: each pair's first
    answer is parsed, every later one read by the batch path."""
    for i in range(12):
        net, batch, images = smoke.topology(9, i, device)
        program = device.load(net, batch=batch)
        expected = golden.run(net, images)
        for _ in range(2):
            assert np.array_equal(program.run(images), expected), i
        assert program.last.batches == 3 and program._loaded.path.parsed == 1 and program._second.parsed == 1, i


def test_uint8_and_int8_images_skip_the_float_path(device, lenet, digits):
    program = device.load(lenet, batch=4)
    pixels = np.rint(digits * 255).astype(np.uint8)
    as_floats = pixels.astype(np.float32) / np.float32(255)  # what uint8 pixels stand for
    expected = golden.run(lenet, as_floats)
    assert np.array_equal(program.run(pixels), expected)
    assert np.array_equal(golden.run(lenet, pixels), expected)
    assert np.array_equal(program.run(lenet.quantize_input(as_floats)), expected)
    # every pixel value, through the table and through the float path
    every = np.arange(256, dtype=np.uint8).repeat(4).reshape(1, 1, 32, 32)
    table = program._loaded.path._lut
    assert np.array_equal(table[every], lenet.quantize_input(every.astype(np.float32) / np.float32(255)))


def test_uint8_pixels_far_outside_the_calibration_are_refused(device):
    net = models.load("lenet5-mnist")
    net.input_scale = net.input_scale / 4  # calibrated for [0, 0.25]: pixels above 96 (int8 256) are far out
    program = device.load(net, batch=1)
    dark = np.full((1, 1, 32, 32), 90, np.uint8)
    assert np.array_equal(program.run(dark), golden.run(net, dark))
    with pytest.raises(InputError, match=r"uint8 pixels \(standing for pixels / 255\) reach 255, far outside"):
        program.run(np.full((1, 1, 32, 32), 255, np.uint8))
    with pytest.raises(InputError, match="far outside the range"):
        golden.run(net, np.full((1, 1, 32, 32), 255, np.uint8))


def test_bad_images_and_error_answers_are_still_named(device, lenet, digits):
    program = device.load(lenet, batch=2)
    program.run(digits[:2])
    bad = digits[:2].copy()
    bad[1, 0, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN or infinity"):
        program.run(bad)
    with pytest.raises(InputError, match="far outside the range"):
        program.run(digits[:2] * 255)
    loaded = program._loaded
    loaded.send[loaded.prog.input_offset] ^= np.uint64(1 << 40)  # the INPUT packet's CRC no longer matches,
    program.run(digits[:2])  # but each batch rewrites the header and its CRC
    tile = next(p for p in loaded.prog.packets if p.opcode == P.Op.TILE)
    loaded.send[tile.offset + 30] ^= np.uint64(1 << 7)  # a weight bit flips in the DMA buffer
    try:
        with pytest.raises(DeviceError, match="ERR_CRC"):
            program.run(digits[:2])
    finally:
        loaded.send[tile.offset + 30] ^= np.uint64(1 << 7)
    assert np.array_equal(program.run(digits[:4]), golden.run(lenet, digits[:4]))


class LaterDevice(SimDevice):
    """A simulator whose transfers complete only when waited for, as the board's DMA does:
    it checks that no send buffer is rewritten while the DMA reads it, that the host waits
    before reading a receive buffer (which holds garbage until then), and that one transfer
    at most is in flight."""

    def __init__(self):
        super().__init__()
        self._flight, self.started = None, 0

    def _start(self, send, send_words, recv):
        assert self._flight is None, "a second transfer started while one was in flight"
        self._flight = (send, send[:send_words].copy(), recv)
        recv[:] = np.uint64(0xA5A5A5A5A5A5A5A5)  # what the host would see if it read too early
        self.started += 1

    def _complete(self):
        send, sent, recv = self._flight
        self._flight = None
        assert np.array_equal(send[:len(sent)], sent), "a send buffer was rewritten while the DMA read it"
        return SimDevice._transfer(self, sent, len(sent), recv)


def test_overlapped_batches_keep_order_and_buffers(lenet, digits):
    device = LaterDevice()
    program = device.load(lenet, batch=3)
    x = digits[:13]  # 5 batches, the last of one image
    assert np.array_equal(program.run(x), golden.run(lenet, x))
    assert device.started == 5 and program.last.batches == 5 and program._second is not None
    assert np.array_equal(program.run(x[:3]), golden.run(lenet, x[:3]))  # one batch: no overlap needed
    pixels = np.rint(x * 255).astype(np.uint8)
    assert np.array_equal(program.run(pixels), golden.run(lenet, pixels))
    # a bad image in the fourth batch: refused when that batch is prepared, the DMA left idle
    bad = x.copy()
    bad[10, 0, 5, 5] = np.inf
    with pytest.raises(InputError, match="NaN or infinity"):
        program.run(bad)
    assert device._flight is None
    assert np.array_equal(program.run(x), golden.run(lenet, x))
    # an error answer in the middle: named, and the transfer after it is waited for
    loaded = program._loaded
    tile = next(p for p in loaded.prog.packets if p.opcode == P.Op.TILE)
    program._second.send[tile.offset + 30] ^= np.uint64(1 << 7)  # only the second buffers' batches fail
    try:
        with pytest.raises(DeviceError, match="ERR_CRC"):
            program.run(x)
    finally:
        program._second.send[tile.offset + 30] ^= np.uint64(1 << 7)
    assert device._flight is None
    assert np.array_equal(program.run(x), golden.run(lenet, x))


def test_the_host_benchmark_reports_one_transfer_and_few_calls_per_batch():
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "bench" / "host.py"
    r = subprocess.run([sys.executable, str(script), "--batch", "1", "8", "--runs", "20", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert [row["batch"] for row in rows] == [1, 8]
    for row in rows:
        assert row["dma_transfers_per_batch"] == 1 and row["calls_per_batch"] <= MAX_CALLS
        # the INPUT packet's header and the digits: at batch 1 as bytes, 32 rows of 4 words (1,024
        # bytes); at batch 8 column-packed words (7,168 bytes), for conv1 runs as a segment
        per_digit = 1024 if row["batch"] == 1 else 7168
        assert row["answers_parsed"] == 1 and row["bytes_written_per_batch"] == 8 + per_digit * row["batch"]

