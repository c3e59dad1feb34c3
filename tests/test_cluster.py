"""Several simulators as one, through a real Dask LocalCluster (worker processes, loopback only)."""
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

import streamcnn  # noqa: E402
from streamcnn import cluster, datasets, golden, models, zoo  # noqa: E402
from streamcnn.cluster import worker as cluster_worker  # noqa: E402
from streamcnn.devices.sim import SimDevice  # noqa: E402
from streamcnn.errors import ClusterError, InputError, LimitError  # noqa: E402

pytestmark = pytest.mark.slow
# The small-device class below travels to the worker processes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


class SmallSim(SimDevice):
    """A simulator that reports a smaller accelerator (16 x 16 at most): a board of another kind."""

    def _read_caps(self):
        return dataclasses.replace(super()._read_caps(), max_dim=16)


@pytest.fixture(scope="module")
def two():
    with cluster.local(2) as c:
        yield c


@pytest.fixture(scope="module")
def mnist():
    x, y = datasets.test_set("mnist")
    return x, y


@pytest.fixture(scope="module")
def reference(mnist):
    with streamcnn.open_device("sim") as dev:
        return dev.load(models.load("lenet5-mnist")).run(mnist[0])


def test_the_mnist_test_set_through_the_cluster_is_one_devices(two, mnist, reference):
    program = two.load(models.load("lenet5-mnist"))
    out = program.run(mnist[0])
    np.testing.assert_array_equal(out, reference)
    stats = program.last
    assert stats.images == 10_000 and sum(stats.images_per_worker.values()) == 10_000
    assert set(stats.images_per_worker) == {"0", "1"} and stats.retries == []


def test_a_network_is_sent_and_compiled_once_per_worker(two, mnist):
    net = models.load("lenet5-mnist")
    first = two.load(net)
    again = two.load(models.load("lenet5-mnist"))  # equal content, another object
    assert again is first
    first.run(mnist[0][:100])
    key = cluster.content_hash(net)
    for info in two.workers().values():
        assert info.programs[key] == 1


def test_lenet5_split_over_two_workers_is_exact(two, mnist, reference):
    program = two.load(models.load("lenet5-mnist"), stages=2)
    assert len(program.stages) == 2 and program.plan.cuts == [3]
    assert program.workers[0] != program.workers[1]  # one board a stage
    out = program.run(mnist[0][:3000])
    np.testing.assert_array_equal(out, reference[:3000])
    # each stage holds only its layers: conv1 on the first board, everything after on the second
    names = [[layer.name for layer in s.network.layers] for s in program.stages]
    assert names == [["0-conv2d", "1-relu", "2-maxpool2d"], [layer.name for layer in program.network.layers[3:]]]
    assert set(program.last.images_per_worker) == {"0", "1"}


def test_a_single_image_and_bad_images(two, mnist, reference):
    program = two.load(models.load("lenet5-mnist"))
    np.testing.assert_array_equal(program.run(mnist[0][7]), reference[7])
    with pytest.raises(InputError, match="expects images of shape"):
        program.run(np.zeros((2, 3, 32, 32), np.float32))


def test_a_device_error_is_named_and_retried_elsewhere(two, mnist, reference):
    program = two.load(models.load("lenet5-mnist"), chunk=200)
    workers = {info.name: addr for addr, info in two.workers().items()}

    def stall(dask_worker):
        cluster_worker.plugin(dask_worker).device.inject_stall(10)

    two.client.run(stall, workers=[workers["0"]])
    out = program.run(mnist[0][:2000])
    np.testing.assert_array_equal(out, reference[:2000])
    retries = program.last.retries
    assert len(retries) == 1
    chunk, name, message = retries[0]
    assert name == "0" and "worker 0" in message and "DMATimeoutError" in message
    assert program.last.images_per_worker.get("1", 0) >= 200  # the failed chunk ran on worker 1


def test_a_network_that_fits_only_some_workers_runs_only_there():
    with cluster.local(2) as c:
        addr = {info.name: a for a, info in c.workers().items()}

        async def shrink(dask_worker):
            await dask_worker.plugin_add(cluster_worker.DevicePlugin(SmallSim), name=cluster_worker.PLUGIN)

        c.client.run(shrink, workers=[addr["1"]])
        assert c.workers()[addr["1"]].caps.max_dim == 16
        lenet = models.load("lenet5-mnist")
        program = c.load(lenet)
        assert program.workers == [[addr["0"]]]
        x = datasets.test_set("mnist")[0][:300]
        np.testing.assert_array_equal(program.run(x), golden.run(lenet, x))
        assert set(program.last.images_per_worker) == {"0"}
        small = zoo.random_network(np.random.default_rng(5), c.workers()[addr["1"]].caps)
        both = c.load(small, chunk=10)
        assert sorted(both.workers[0]) == sorted(addr.values())
        y = np.random.default_rng(1).uniform(-1, 1, (200,) + small.input_shape).astype(np.float32)
        np.testing.assert_array_equal(both.run(y), golden.run(small, y))
        # a network no worker takes is refused before anything runs
        c.client.run(shrink, workers=[addr["0"]])
        before = {a: dict(i.programs) for a, i in c.workers().items()}
        with pytest.raises(LimitError, match="fits none of the cluster's 2 streamcnn workers") as e:
            c.load(models.load("fashion-cnn"))
        assert "0: " in str(e.value) and "1: " in str(e.value)
        assert {a: dict(i.programs) for a, i in c.workers().items()} == before


def test_a_worker_killed_mid_run_loses_no_image(mnist, reference):
    with cluster.local(2) as c:
        program = c.load(models.load("lenet5-mnist"), chunk=37)
        pids = {info.name: info.pid for info in c.workers().values()}
        result: dict = {}

        def run():
            try:
                result["out"] = program.run(mnist[0])
            except BaseException as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until both workers are busy with this run
            processing = c.client.processing()
            if len(processing) == 2 and all(processing.values()):
                break
            time.sleep(0.05)
        time.sleep(1.0)
        os.kill(pids["1"], signal.SIGKILL)
        t.join(180)
        assert not t.is_alive(), "the run did not finish after a worker was killed"
        assert "error" not in result, result.get("error")
        np.testing.assert_array_equal(result["out"], reference)  # nothing lost, nothing duplicated
        assert program.last.images == 10_000


def test_no_streamcnn_worker_is_a_named_error():
    local = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                     dashboard_address=":0")
    with cluster.Cluster(distributed.Client(local), own=[local]) as c:
        assert c.workers() == {}
        with pytest.raises(ClusterError, match="no streamcnn worker: start one on each board with `streamcnn worker"):
            c.load(models.load("lenet5-mnist"))


def test_argument_errors():
    with pytest.raises(InputError, match="positive number of workers"):
        cluster.local(0)
    with pytest.raises(InputError, match="local:N or a scheduler address"):
        cluster.open_cluster("somewhere")


def test_cli_eval_on_a_local_cluster_matches_the_simulator():
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "streamcnn", "eval", "--model", "lenet5-mnist", "--limit",
                               "2000", *extra], capture_output=True, text=True, timeout=300)

    on_cluster, on_sim = run("--cluster", "local:2"), run("--device", "sim")
    assert on_cluster.returncode == 0 and on_sim.returncode == 0, on_cluster.stderr + on_sim.stderr
    line = [l for l in on_cluster.stdout.splitlines() if "accuracy" in l]
    assert line == [l for l in on_sim.stdout.splitlines() if "accuracy" in l]
    assert "device vs golden: 0 images differ" in on_cluster.stdout
    assert "cluster of 2 workers" in on_cluster.stdout


def test_cli_cluster_argument_errors():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "streamcnn", *args], capture_output=True, text=True, timeout=60)

    r = run("eval", "--cluster", "tcp://x:1")
    assert r.returncode == 1 and "--cluster takes local:N" in r.stderr and "Traceback" not in r.stderr
    r = run("eval", "--cluster", "local:2", "--device", "sim")
    assert r.returncode == 1 and "drop --device" in r.stderr
    r = run("eval", "--cluster", "local:2", "--scheduler", "tcp://x:1")
    assert r.returncode == 2 and "not allowed with" in r.stderr
    r = run("worker", "--scheduler", "nowhere")
    assert r.returncode == 1 and "tcp://" in r.stderr


def test_boards_join_through_streamcnn_worker_and_dask_worker_preload(mnist, reference):
    """A scheduler alone, then two workers as a board would start them: ``streamcnn worker`` and
    ``dask worker --preload streamcnn.cluster.worker`` (device from STREAMCNN_DEVICE)."""
    import dask

    with dask.config.set({"distributed.scheduler.work-stealing": False}):
        scheduler = distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=":0")
    address = scheduler.scheduler_address
    env = {**os.environ, "STREAMCNN_DEVICE": "sim"}
    boards = [
        subprocess.Popen([sys.executable, "-m", "streamcnn", "worker", "--scheduler", address, "--device", "sim",
                          "--name", "board-a"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True),
        subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                          "--resources", "FPGA=1", "--preload", "streamcnn.cluster.worker", "--name", "board-b",
                          "--no-nanny", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True),
    ]
    try:
        with cluster.connect(address) as c:
            deadline = time.time() + 120
            while len(c.workers()) < 2 and time.time() < deadline:
                assert all(b.poll() is None for b in boards), [b.stderr.read() for b in boards if b.poll() is not None]
                time.sleep(0.5)
            infos = {i.name: i for i in c.workers().values()}
            assert sorted(infos) == ["board-a", "board-b"] and all(i.device == "sim" for i in infos.values())
            resources = {w["name"]: w["resources"] for w in c.client.scheduler_info()["workers"].values()}
            assert resources == {"board-a": {"FPGA": 1}, "board-b": {"FPGA": 1}}
            program = c.load(models.load("lenet5-mnist"), chunk=100)
            np.testing.assert_array_equal(program.run(mnist[0][:1000]), reference[:1000])
            assert set(program.last.images_per_worker) == {"board-a", "board-b"}
    finally:
        for b in boards:
            b.terminate()
        for b in boards:
            b.wait(30)
        scheduler.close()


def test_runs_from_several_threads(two, mnist, reference):
    program = two.load(models.load("lenet5-mnist"), chunk=150)
    out: dict = {}

    def run(k):
        out[k] = program.run(mnist[0][k * 1500:(k + 1) * 1500])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for k in range(3):
        np.testing.assert_array_equal(out[k], reference[k * 1500:(k + 1) * 1500])


def test_a_pipeline_stage_worker_killed_mid_run_loses_no_image(mnist, reference):
    with cluster.local(2) as c:
        program = c.load(models.load("lenet5-mnist"), stages=2, chunk=37)
        second = {info.address: info.pid for info in c.workers().values()}[program.workers[1][0]]
        result: dict = {}

        def run():
            try:
                result["out"] = program.run(mnist[0][:4000])
            except BaseException as e:  # reported below
                result["error"] = e

        t = threading.Thread(target=run)
        t.start()
        time.sleep(2.0)
        os.kill(second, signal.SIGKILL)
        t.join(180)
        assert not t.is_alive() and "error" not in result, result.get("error")
        np.testing.assert_array_equal(result["out"], reference[:4000])


def test_a_board_with_an_accelerator_library_takes_what_any_variant_fits():
    """A worker describes every variant its library can swap in; a network fits the worker if it
    fits one of them (the worker's device.load swaps that one in)."""
    from conftest import roomy_network

    from streamcnn import library

    roomy = roomy_network()
    caps = {c: library.expected_caps(c) for c in ("mac256", "mac64")}
    fixed = cluster.WorkerInfo("board-0", "tcp://10.0.0.2:1", "pynq", caps["mac256"], 1)
    swapping = dataclasses.replace(fixed, variants=caps)
    assert cluster._fit_problem(roomy, fixed).endswith("maximum is 8192 (act_words)")
    assert cluster._fit_problem(roomy, swapping) is None
    assert cluster._fit_problem(models.load("lenet5-mnist"), swapping) is None
    narrow = dataclasses.replace(fixed, variants={"mac256": caps["mac256"]})
    assert cluster._fit_problem(roomy, narrow).startswith("mac256: ")
