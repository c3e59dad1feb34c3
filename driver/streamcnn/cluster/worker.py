"""The streamcnn side of a Dask worker: one device, opened once, and the programs loaded on it.

A board joins a cluster as a Dask worker with this plugin, either through the CLI::

    streamcnn worker --scheduler tcp://HOST:8786            # on the board: --device pynq

or through Dask's own command with this module as a preload::

    dask worker tcp://HOST:8786 --nthreads 1 --resources FPGA=1 --preload streamcnn.cluster.worker

The plugin opens the device when the worker starts, advertises the resource ``FPGA=1`` (one
task at a time uses the accelerator) and answers :func:`describe` with its capabilities. The
task functions below run on the worker; networks reach it as Dask data, once per worker, and
each is compiled once, kept under its content hash.
"""
from __future__ import annotations

import asyncio
import os
import threading
from typing import Callable, Optional, Union

import numpy as np

from ..errors import ClusterError, InputError, LimitError, NetworkError, StreamCNNError, WorkerError

PLUGIN = "streamcnn"
#: the resource a streamcnn worker advertises: its one accelerator
RESOURCE = "FPGA"

try:
    from distributed import WorkerPlugin, get_worker
except ImportError:  # pragma: no cover - the module is importable for its docs without Dask
    WorkerPlugin = object

    def get_worker():
        raise ClusterError("streamcnn's cluster needs Dask distributed: pip install 'streamcnn[cluster]'")


class DevicePlugin(WorkerPlugin):
    """Opens ``open_device(device, **options)`` on the worker (or ``device(**options)`` if
    ``device`` is a callable, a Device class of your own, say) and keeps the programs loaded on it.

    Pickled to the worker before :meth:`setup`, so it holds only the device's name and options
    until then."""

    name = PLUGIN
    idempotent = True  # registered twice (two clients), the worker keeps the device it has

    def __init__(self, device: Union[str, Callable] = "auto", **options) -> None:
        self.device_name, self.options = device, options
        self.device = None

    async def setup(self, worker) -> None:
        from ..devices import open_device

        def open_and_read():
            spec = self.device_name
            device = spec(**self.options) if callable(spec) else open_device(spec, **self.options)
            device.caps  # read now: a worker that cannot talk to its accelerator fails to start
            return device

        self.device = await asyncio.get_running_loop().run_in_executor(None, open_and_read)
        self.worker_name, self.address = str(worker.name), worker.address
        self.programs: dict = {}
        self.compiles: dict = {}  # content hash -> compilations (1 unless the program was dropped)
        self._lock = threading.Lock()
        if worker.state.total_resources.get(RESOURCE, 0) < 1:
            await worker.set_resources(**{RESOURCE: 1})

    def teardown(self, worker) -> None:
        if self.device is not None:
            self.device.close()

    def program(self, key: str, network, batch: Optional[int]):
        """The program of ``network`` (content hash ``key``) on this worker's device, compiled on
        first use."""
        with self._lock:
            program = self.programs.get(key)
            if program is None:
                program = self.device.load(network, batch)
                self.programs[key] = program
                self.compiles[key] = self.compiles.get(key, 0) + 1
            return program

    def describe(self) -> dict:
        library = getattr(self.device, "library", None)
        return {"name": self.worker_name, "address": self.address, "device": self.device.name,
                "caps": self.device.caps, "pid": os.getpid(), "programs": dict(self.compiles),
                "variants": {v.name: v.caps for v in library.variants} if library is not None else {}}


def plugin(worker=None) -> DevicePlugin:
    """This worker's streamcnn plugin (in a task, or given the worker)."""
    worker = get_worker() if worker is None else worker
    found = worker.plugins.get(PLUGIN)
    if found is None or getattr(found, "device", None) is None:
        raise ClusterError(f"worker {worker.name} ({worker.address}) has no streamcnn device: start it with "
                           f"`streamcnn worker` or `dask worker --preload streamcnn.cluster.worker`",
                           worker=str(worker.name))
    return found


def describe(dask_worker=None) -> Optional[dict]:
    """What this worker offers (run on every worker by :meth:`Cluster.workers`, through
    ``Client.run``, which passes the worker as ``dask_worker``): None if it is not a streamcnn
    worker."""
    try:
        return plugin(dask_worker).describe()
    except (ClusterError, ValueError):
        return None


def load(key: str, network, batch: Optional[int] = None) -> int:
    """Compile ``network`` on this worker (once); returns the batch of its program."""
    return _guarded(lambda p: p.program(key, network, batch).batch)


def run(key: str, network, batch: Optional[int], images: Union[np.ndarray, dict]) -> dict:
    """Run int8 ``images`` (or the previous pipeline stage's answer) through ``network`` here:
    {"workers": the names of the workers that ran it, stage by stage, "out": int8 outputs}."""
    from ..partition import stage_input

    def go(p: DevicePlugin) -> dict:
        x, before = (images["out"], images["workers"]) if isinstance(images, dict) else (images, [])
        if x.shape[1:] != network.input_shape:
            x = stage_input(network, x)
        return {"workers": before + [p.worker_name], "out": p.program(key, network, batch).run(x)}

    return _guarded(go, placed=True)


def _guarded(work, placed: bool = False):
    """Run ``work(plugin)``; a device's error comes back as a :class:`WorkerError` naming this
    worker, which the client retries elsewhere.  Errors in the request itself pass unchanged,
    except a :class:`LimitError` of a ``placed`` chunk: Dask moved it here from a lost worker,
    and the network does not fit this one, so it is dealt again too."""
    p = plugin()
    try:
        return work(p)
    except LimitError as e:
        if not placed:
            raise
        raise WorkerError(f"worker {p.worker_name} ({p.address}): the network does not fit its device ({e})",
                          worker=p.worker_name, address=p.address, kind="LimitError") from None
    except (InputError, NetworkError):
        raise
    except StreamCNNError as e:
        raise WorkerError(f"worker {p.worker_name} ({p.address}, {p.device.name} device): {type(e).__name__}: {e}",
                          worker=p.worker_name, address=p.address, kind=type(e).__name__) from None


def serve(scheduler: str, *, device: str = "auto", name: Optional[str] = None, **options) -> None:
    """Run this machine's device as a Dask worker of ``scheduler`` until the scheduler closes or
    Ctrl-C (``streamcnn worker``)."""
    from distributed import Worker

    async def main() -> None:
        try:
            worker = Worker(scheduler, nthreads=1, name=name, resources={RESOURCE: 1},
                            plugins=(DevicePlugin(device, **options),))
            await worker
        except OSError as e:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
        async with worker:
            await worker.finished()

    asyncio.run(main())


async def dask_setup(worker) -> None:
    """``dask worker --preload streamcnn.cluster.worker``: the device named by the environment
    variable STREAMCNN_DEVICE (default auto: the board when present)."""
    await worker.plugin_add(DevicePlugin("auto"), name=PLUGIN)


__all__ = ["DevicePlugin", "PLUGIN", "RESOURCE", "plugin", "describe", "load", "run", "serve", "dask_setup"]
