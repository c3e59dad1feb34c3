"""Devices and programs from several threads: every run bit-exact with the golden model.

The simulator's accelerator keeps its on-chip memories in the run's own stack frame, so
separate simulator devices run in parallel (cffi releases the GIL); one device runs one
program at a time, as the board's single accelerator does, and its users take turns."""
import threading

import numpy as np
import pytest

import streamcnn
from streamcnn import datasets, golden, models, zoo
from streamcnn.errors import DeviceClosedError


@pytest.fixture(scope="module")
def lenet():
    net = models.load("lenet5-mnist")
    images, _ = datasets.test_set("mnist")
    return net, images[:768]


def _in_threads(jobs):
    """Run each job in its own thread, all started together; return their results in order."""
    results, errors = [None] * len(jobs), []
    start = threading.Barrier(len(jobs))

    def work(i, job):
        try:
            start.wait()
            results[i] = job()
        except BaseException as e:  # noqa: BLE001 - reported below, with its thread
            errors.append((i, e))

    threads = [threading.Thread(target=work, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_two_devices_in_two_threads_are_bit_exact(lenet):
    net, images = lenet
    expected = golden.run(net, images)
    devices = [streamcnn.open_device("sim") for _ in range(2)]
    try:
        outs = _in_threads([lambda d=d: d.load(net, batch=8).run(images) for d in devices])
    finally:
        for d in devices:
            d.close()
    for out in outs:
        assert np.array_equal(out, expected)


def test_one_device_four_threads_are_bit_exact(lenet, rng):
    """Four programs (two networks, three batch sizes, one program shared by two threads)
    on one device at once."""
    net, images = lenet
    other = zoo.svhn_cnn(3)
    svhn_images = rng.uniform(-1, 1, (96,) + other.input_shape).astype(np.float32)
    with streamcnn.open_device("sim") as dev:
        shared = dev.load(net, batch=4)
        jobs = [lambda: shared.run(images[:384]), lambda: shared.run(images[384:]),
                lambda: dev.load(net, batch=8).run(images), lambda: dev.load(other, batch=2).run(svhn_images)]
        outs = _in_threads(jobs)
        assert dev.transfers > 0
    assert np.array_equal(np.concatenate(outs[:2]), golden.run(net, images))
    assert np.array_equal(outs[2], golden.run(net, images))
    assert np.array_equal(outs[3], golden.run(other, svhn_images))


def test_the_simulator_runs_on_a_small_thread_stack(lenet):
    """The on-chip memories live on the calling thread's stack (about 170 KiB): a 1 MiB
    stack, smaller than any platform's default for Python threads, is enough."""
    net, images = lenet
    old = threading.stack_size(1 << 20)
    try:
        with streamcnn.open_device("sim") as dev:
            out = _in_threads([lambda: dev.load(net, batch=8).run(images[:64])])[0]
    finally:
        threading.stack_size(old)
    assert np.array_equal(out, golden.run(net, images[:64]))


def test_a_closed_device_refuses_work(lenet):
    net, images = lenet
    dev = streamcnn.open_device("sim")
    program = dev.load(net, batch=2)
    dev.close()
    dev.close()  # twice is harmless
    assert dev.closed
    with pytest.raises(DeviceClosedError, match="the sim device is closed; open a new one"):
        program.run(images[:2])
    with pytest.raises(DeviceClosedError):
        dev.load(net)
