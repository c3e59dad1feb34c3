"""Several devices as one, through Dask distributed: data-parallel runs and layer pipelines.

Each worker is a board (or a simulator) with the streamcnn plugin (:mod:`.worker`). The client
sends a network, as Dask data, to the workers whose capabilities it fits, once per worker; each
worker compiles it once and keeps the program under the network's content hash::

    from streamcnn import cluster
    with cluster.connect("tcp://192.168.2.10:8786") as c:     # or cluster.local(2): simulators here
        program = c.load(network)              # LimitError here if it fits no worker
        outputs = program.run(images)          # bit-exact with one device, in order
        piped = c.load(network, stages=2)      # cut at layer boundaries, stages balanced by the cycle model

A run splits the images into chunks, one Dask task each. A worker lost mid-run has its chunks
rerun by Dask on the others; a device error on a worker comes back naming the worker
(:class:`WorkerError`) and the chunk is retried on another worker. Nothing is lost or
duplicated: every chunk's result is taken once, by its position.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Optional, Sequence

import numpy as np

from ..caps import Capabilities
from ..errors import ClusterError, DependencyError, InputError, LimitError, StreamCNNError, WorkerError
from ..network import Network, as_images
from . import worker as _worker
from .worker import RESOURCE

#: how often a run checks that every chunk can still reach a live worker, seconds
WATCH_SECONDS = 1.0


def _distributed():
    try:
        import distributed
    except ImportError as e:
        raise DependencyError(f"streamcnn's cluster needs Dask distributed: pip install 'streamcnn[cluster]' ({e})") from None
    return distributed


def content_hash(network: Network) -> str:
    """A digest of everything that decides a network's outputs (layers, arrays, scales, zero
    points, shapes; not its name or metadata): equal networks share one program per worker."""
    h = hashlib.sha256()

    def feed(value) -> None:
        if isinstance(value, np.ndarray):
            h.update(f"{value.dtype.str}{value.shape}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
        h.update(b"\0")

    for v in (network.input_shape, network.input_scale, network.input_zero_point):
        feed(v)
    for layer in network.layers:
        feed(type(layer).__name__)
        for f in fields(layer) if is_dataclass(layer) else ():
            if f.name != "name":
                feed(getattr(layer, f.name))
    return h.hexdigest()


@dataclass
class WorkerInfo:
    """A streamcnn worker: its Dask name and address, its device and the device's capabilities."""

    name: str
    address: str
    device: str
    caps: Capabilities
    pid: int
    #: content hash -> times compiled on this worker
    programs: dict = field(default_factory=dict)


@dataclass
class ClusterStats:
    """What the last cluster run did."""

    images: int = 0
    chunks: int = 0
    seconds: float = 0.0
    #: worker name -> images it ran (a pipeline: images of every stage it served)
    images_per_worker: dict = field(default_factory=dict)
    #: (chunk, worker, message) of every device error that was retried elsewhere
    retries: list = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def _fit_problem(network: Network, caps: Capabilities) -> Optional[str]:
    """None if ``network`` runs on a device with ``caps``, else why not."""
    try:
        network.check(caps, 1)
    except LimitError as e:
        return str(e)
    return None


class Cluster:
    """Dask workers with streamcnn devices, used as one device.  Use :func:`connect` or
    :func:`local` to make one; close it (or use ``with``) to release what it started.

    Safe to use from several threads: Dask's client is, and loads of one network share one
    program."""

    def __init__(self, client, own: Sequence = ()) -> None:
        import threading

        self.client = client
        self._own = list(own)  # what close() shuts down: a LocalCluster this object started
        self._programs: dict = {}  # (content hash, stages, batch) -> program object
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``cluster of N workers (scheduler address)``: what reports call the device."""
        return f"cluster of {len(self.workers())} workers ({self.client.scheduler.address})"

    # -- the workers ----------------------------------------------------------------

    def workers(self) -> dict:
        """{address: :class:`WorkerInfo`} of the workers with a streamcnn device."""
        answers = self.client.run(_worker.describe)
        return {addr: WorkerInfo(**info) for addr, info in answers.items() if info is not None}

    def _fitting(self, network: Network) -> list:
        """The workers ``network`` fits, or :class:`LimitError` naming why it fits none."""
        infos = self.workers()
        if not infos:
            raise ClusterError(f"the cluster at {self.client.scheduler.address} has no streamcnn worker: start one "
                               f"on each board with `streamcnn worker --scheduler {self.client.scheduler.address}`")
        problems = {info.name: _fit_problem(network, info.caps) for info in infos.values()}
        fitting = sorted((i for i in infos.values() if problems[i.name] is None), key=lambda i: i.name)
        if not fitting:
            why = "; ".join(f"{name}: {p}" for name, p in sorted(problems.items()))
            raise LimitError(f"{network.name} fits none of the cluster's {len(infos)} streamcnn workers ({why})",
                             limit="workers")
        return fitting

    # -- loading ------------------------------------------------------------------------

    def load(self, network: Network, *, stages: int = 1, batch: Optional[int] = None,
             chunk: Optional[int] = None) -> "ClusterProgram":
        """Send ``network`` to the workers it fits and compile it there; the same network loaded
        again returns the same program and sends nothing.

        ``stages`` > 1 cuts it into a layer pipeline (:mod:`streamcnn.partition`), each stage on
        its own workers.  ``batch`` is the images per DMA transfer on each worker (default: as
        many as its buffers hold); ``chunk`` the images per Dask task (default 8 transfers)."""
        from ..partition import balanced_cuts, split

        if not isinstance(network, Network):
            raise InputError(f"load() takes a streamcnn.Network, got {type(network).__name__}")
        if isinstance(stages, bool) or not isinstance(stages, (int, np.integer)) or stages < 1:
            raise InputError(f"stages must be a positive integer, got {stages!r}")
        key = (content_hash(network), stages, batch, chunk)
        with self._lock:
            if key in self._programs:
                return self._programs[key]
            if stages == 1:
                program = ClusterProgram(self, network, [self._stage(network, batch)], chunk, None)
            else:
                infos = sorted(self.workers().values(), key=lambda i: i.name)
                if not infos:
                    self._fitting(network)  # raises: no worker
                # the slowest board's cycle model decides the cuts (all boards alike is the usual case)
                plan = balanced_cuts(network, min((i.caps for i in infos), key=lambda c: c.macs_per_cycle), stages)
                parts = split(network, plan.cuts)
                shares = [self._fitting(part) for part in parts]
                program = ClusterProgram(self, network, [self._stage(part, batch, share[s::stages] if len(share) >= stages
                                                                     else share)
                                                         for s, (part, share) in enumerate(zip(parts, shares))],
                                         chunk, plan)
            self._programs[key] = program
            return program

    def _stage(self, network: Network, batch: Optional[int], workers: Optional[list] = None) -> "_Stage":
        """``network`` sent to ``workers`` (default: every worker it fits) and compiled there."""
        fitting = self._fitting(network) if workers is None else workers
        stage = _Stage(network, content_hash(network), batch, [w.address for w in fitting])
        stage.send(self.client)
        return stage

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the client, and shut down the local cluster if this object started it."""
        self.client.close()
        for thing in self._own:
            thing.close()
        self._own = []

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<streamcnn Cluster {self.client.scheduler.address}>"


@dataclass
class _Stage:
    """One network (the whole one, or a pipeline stage) on the workers it fits."""

    network: Network
    key: str
    batch: Optional[int]
    addresses: list
    data: object = None  # the network's Dask future, held on the workers
    batches: dict = field(default_factory=dict)  # worker address -> its program's batch

    def send(self, client) -> None:
        """The network to every worker it fits (once each), compiled there."""
        name = f"streamcnn-network-{self.key[:16]}"
        self.data = client.scatter({name: self.network}, workers=self.addresses, broadcast=True, hash=False)[name]
        futures = [client.submit(_worker.load, self.key, self.data, self.batch, workers=[a], allow_other_workers=False,
                                 resources={RESOURCE: 1}, pure=False, key=f"streamcnn-load-{self.key[:16]}-{a}")
                   for a in self.addresses]
        for a, f in zip(self.addresses, futures):
            self.batches[a] = f.result()

    def submit(self, client, images, chunk: int, run: str, excluded: set):
        workers = [a for a in self.addresses if a not in excluded]
        if not workers:
            return None
        return client.submit(_worker.run, self.key, self.data, self.batch, images, workers=workers,
                             allow_other_workers=False, resources={RESOURCE: 1}, pure=False,
                             key=f"streamcnn-run-{self.key[:12]}-{run}-{chunk}")


class ClusterProgram:
    """A network loaded on a cluster: :meth:`run` spreads images over its workers."""

    def __init__(self, cluster: Cluster, network: Network, stages: list, chunk: Optional[int], plan) -> None:
        self.cluster, self.network, self.stages, self.plan = cluster, network, stages, plan
        smallest = min(b for s in stages for b in s.batches.values())
        #: the smallest batch (images per DMA transfer) of any worker's program
        self.batch = smallest
        self.chunk = int(chunk) if chunk else 8 * smallest
        if self.chunk < 1:
            raise InputError(f"chunk must be a positive integer, got {chunk!r}")
        self.last = ClusterStats()

    @property
    def workers(self) -> list:
        """The addresses of the workers of each stage."""
        return [list(s.addresses) for s in self.stages]

    def run(self, images, *, progress: bool = False) -> np.ndarray:
        """Outputs for (N, C, H, W) images, in order, as one device's :meth:`Program.run` gives
        them.  The images are quantized here (so int8 crosses the network) and checked before
        anything is sent."""
        x = as_images(images)
        single = x.ndim == 3
        q = self.network.quantize_input(x[None] if single else x)
        client = self.cluster.client
        starts = list(range(0, len(q), self.chunk))
        run_id = uuid.uuid4().hex[:8]
        excluded = [set() for _ in self.stages]  # per stage: workers whose device failed this run
        stats = ClusterStats(images=len(q), chunks=len(starts))
        t0 = time.perf_counter()

        def submit(i: int, attempt: int):
            data = q[starts[i]:starts[i] + self.chunk]
            futures = []
            for s, stage in enumerate(self.stages):
                f = stage.submit(client, data, i, f"{run_id}-{attempt}", excluded[s])
                if f is None:
                    return None
                futures.append(f)
                data = f
            return futures

        pending = {}  # chunk -> futures of its stages (the last one's result is the chunk's)
        for i in range(len(starts)):
            pending[i] = submit(i, 0)
        results: dict = {}
        attempts = {i: 0 for i in pending}
        bar = _progress(len(starts), progress, f"{self.network.name} on {len(self.workers[0])} workers")
        try:
            while pending:
                self._watch(pending, submit, attempts)
                done = [i for i, fs in pending.items() if fs[-1].done()]
                if not done:
                    _distributed().wait([fs[-1] for fs in pending.values()], timeout=WATCH_SECONDS,
                                        return_when="FIRST_COMPLETED")
                    continue
                for i in done:
                    futures = pending.pop(i)
                    try:
                        answers = [f.result() for f in futures]
                    except WorkerError as e:
                        stats.retries.append((i, e.worker, str(e)))
                        for s, stage in enumerate(self.stages):
                            if e.address in stage.addresses:
                                excluded[s].add(e.address)
                        attempts[i] += 1
                        again = submit(i, attempts[i])
                        if again is None:
                            raise ClusterError(f"chunk {i} of {self.network.name} failed on every worker that can "
                                               f"run it; the last error: {e}", worker=e.worker) from None
                        pending[i] = again
                        continue
                    except _distributed().KilledWorker as e:
                        raise ClusterError(f"chunk {i} of {self.network.name}: its workers kept dying ({e})") from None
                    results[i] = answers[-1]["out"]
                    for a in answers:
                        stats.images_per_worker[a["worker"]] = stats.images_per_worker.get(a["worker"], 0) + len(a["out"])
                    bar.update(1)
        finally:
            bar.close()
            for fs in pending.values():
                for f in fs:
                    f.cancel()
        out = np.concatenate([results[i] for i in range(len(starts))])
        stats.seconds = time.perf_counter() - t0
        self.last = stats
        return out[0] if single else out

    def _watch(self, pending: dict, submit, attempts: dict) -> None:
        """Chunks whose workers are all gone (a board restarted under a new address, say) are sent
        again to the workers the network fits now."""
        alive = set(self.cluster.client.scheduler_info(n_workers=-1)["workers"])
        stranded = [s for s, stage in enumerate(self.stages) if not alive.intersection(stage.addresses)]
        if not stranded:
            return
        for s in stranded:
            stage = self.stages[s]
            fresh = self.cluster._stage(stage.network, stage.batch)
            self.stages[s] = fresh
        for i in list(pending):
            if not pending[i][-1].done():
                for f in pending[i]:
                    f.cancel()
                attempts[i] += 1
                pending[i] = submit(i, attempts[i])

    def __repr__(self) -> str:
        kind = f"{len(self.stages)}-stage pipeline" if len(self.stages) > 1 else "data-parallel"
        return f"<ClusterProgram {self.network.name!r}, {kind} on {sum(map(len, self.workers))} workers>"


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="chunk")


def connect(address: str, **client_options) -> Cluster:
    """A :class:`Cluster` of the streamcnn workers at a Dask scheduler (``tcp://HOST:8786``)."""
    distributed = _distributed()
    try:
        client = distributed.Client(address, **{"timeout": 10, **client_options})
    except (OSError, TimeoutError) as e:
        raise ClusterError(f"cannot reach a Dask scheduler at {address}: {e}") from None
    return Cluster(client)


def local(workers: int = 2, device: str = "sim", **device_options) -> Cluster:
    """A :class:`Cluster` of ``workers`` worker processes on this machine (loopback only), each
    with its own ``open_device(device, **device_options)``: simulators by default."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise InputError(f"a local cluster needs a positive number of workers, got {workers!r}")
    distributed = _distributed()
    cluster = distributed.LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=":0", resources={RESOURCE: 1},
                                       silence_logs=40)
    client = distributed.Client(cluster)
    try:
        client.register_plugin(_worker.DevicePlugin(device, **device_options), name=_worker.PLUGIN)
    except Exception:
        client.close()
        cluster.close()
        raise
    return Cluster(client, own=[cluster])


def open_cluster(spec: str) -> Cluster:
    """``"local:N"`` (:func:`local` with N simulator workers) or a scheduler address (:func:`connect`)."""
    if spec.startswith("local:"):
        try:
            n = int(spec[len("local:"):])
        except ValueError:
            raise InputError(f"--cluster takes local:N with N a number of workers, got {spec!r}") from None
        return local(n)
    if "://" not in spec:
        raise InputError(f"a cluster is local:N or a scheduler address tcp://HOST:PORT, got {spec!r}")
    return connect(spec)


__all__ = ["Cluster", "ClusterProgram", "ClusterStats", "WorkerInfo", "connect", "local", "open_cluster",
           "content_hash", "StreamCNNError", "WorkerError", "ClusterError"]
