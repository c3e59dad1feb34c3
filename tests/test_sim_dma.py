"""The simulator refuses what the board's AXI DMA would refuse or hang on."""
import numpy as np
import pytest

from streamcnn import compiler, zoo
from streamcnn.devices.sim import MAX_TRANSFER_BYTES
from streamcnn.errors import DMAError


@pytest.fixture(scope="module")
def words(caps):
    net = zoo.lenet5()
    return compiler.compile_network(net, caps, batch=1).words


def test_send_buffer_must_be_8_byte_aligned(device, words):
    raw = np.zeros(8 * len(words) + 8, np.uint8)
    misaligned = raw[4:4 + 8 * len(words)].view(np.uint64) if raw.ctypes.data % 8 == 0 else raw[:8 * len(words)].view(np.uint64)
    misaligned[:] = words
    with pytest.raises(DMAError, match="not 8-byte aligned"):
        device.transfer(misaligned, device.allocate(4096))


def test_transfer_length_limited_by_the_26_bit_register(device):
    big = np.zeros(MAX_TRANSFER_BYTES // 8 + 1, np.uint64)
    with pytest.raises(DMAError, match="26-bit length register"):
        device.transfer(big, device.allocate(4096))


def test_receive_buffer_too_small_would_hang(device, words):
    with pytest.raises(DMAError, match="receive buffer holds 10.*would never complete"):
        device.transfer(words, device.allocate(10))


def test_buffers_must_be_words(device, words):
    with pytest.raises(DMAError, match="uint64"):
        device.transfer(words.view(np.int64), device.allocate(4096))
    with pytest.raises(DMAError, match="contiguous"):
        device.transfer(np.repeat(words, 2)[::2], device.allocate(4096))
    with pytest.raises(DMAError, match="empty"):
        device.transfer(words, device.allocate(4096), send_words=0)


def test_a_good_transfer_reports_the_words_received(device, words, caps):
    recv = device.allocate(4096)
    n = device.transfer(words, recv)
    resp = compiler.parse_response(recv[:n])
    assert resp.status == 0
    assert n == 1 + 2 + 2 + caps.response_reserve_words - 2 * (caps.max_layers - resp.layers)  # 1 record of 2 words
