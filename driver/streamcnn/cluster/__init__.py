"""Several devices as one, through Dask distributed: data-parallel runs and layer pipelines.

Each worker is a board (or a simulator) with the streamcnn plugin (:mod:`.worker`). The client
sends a network, as Dask data, to the workers whose capabilities it fits, once per worker; each
worker compiles it once and keeps the program under the network's content hash::

    from streamcnn import cluster
    with cluster.connect("tcp://192.168.2.10:8786") as c:     # or cluster.local(2): simulators here
        program = c.load(network)              # LimitError here if it fits no worker
        outputs = program.run(images)          # bit-exact with one device, in order
        piped = c.load(network, stages=2)      # cut at layer boundaries, stages balanced by the cycle model

A run splits the images into chunks, one Dask task each, dealt to the workers as they finish
(:mod:`.program`). A worker lost mid-run has its chunks rerun by Dask on the others; a device
error on a worker comes back naming the worker (:class:`WorkerError`) and the chunk is retried
on another worker. Nothing is lost or duplicated: every chunk's result is taken once, by its
position.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Optional, Sequence

import numpy as np

from ..caps import Capabilities
from ..errors import ClusterError, DependencyError, InputError, LimitError, StreamCNNError, WorkerError
from ..network import Network
from . import worker as _worker
from .program import ClusterProgram, ClusterStats, Stage
from .worker import RESOURCE


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
    #: a board with an accelerator library: {variant: its capabilities} (it swaps in the one a
    #: network needs); empty for fixed hardware
    variants: dict = field(default_factory=dict)


def _fit_problem(network: Network, info: WorkerInfo) -> Optional[str]:
    """None if ``network`` runs on the worker's device (on one of its variants), else why not."""
    problems = []
    for variant, caps in (info.variants or {None: info.caps}).items():
        try:
            network.check(caps, 1)
            return None
        except LimitError as e:
            problems.append(str(e) if variant is None else f"{variant}: {e}")
    return " / ".join(problems)


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
        problems = {info.name: _fit_problem(network, info) for info in infos.values()}
        fitting = sorted((i for i in infos.values() if problems[i.name] is None), key=lambda i: i.name)
        if not fitting:
            why = "; ".join(f"{name}: {p}" for name, p in sorted(problems.items()))
            raise LimitError(f"{network.name} fits none of the cluster's {len(infos)} streamcnn workers ({why})",
                             limit="workers")
        return fitting

    # -- loading ------------------------------------------------------------------------

    def load(self, network: Network, *, stages: int = 1, batch: Optional[int] = None,
             chunk: Optional[int] = None) -> ClusterProgram:
        """Send ``network`` to the workers it fits and compile it there; the same network loaded
        again returns the same program and sends nothing.

        ``stages`` > 1 cuts it into a layer pipeline (:mod:`streamcnn.partition`), each stage on
        its own workers.  ``batch`` is the images per DMA transfer on each worker (default: as
        many as its buffers hold); ``chunk`` the images per Dask task (default: chosen for each
        run, :meth:`ClusterProgram.chunk_for`).  A program keeps the workers it was loaded on
        (less those that leave); to use workers that joined later, load it through a new ``Cluster``."""
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
                # the slowest board's cycle model decides the cuts (all boards alike is the usual case); a
                # board with an accelerator library counts its slowest variant, not whichever is loaded now
                every = [caps for i in infos for caps in (i.variants.values() or [i.caps])]
                plan = balanced_cuts(network, min(every, key=lambda c: c.macs_per_cycle), stages)
                parts = split(network, plan.cuts)
                shares = [self._fitting(part) for part in parts]
                program = ClusterProgram(self, network, [self._stage(part, batch, share[s::stages] if len(share) >= stages
                                                                     else share)
                                                         for s, (part, share) in enumerate(zip(parts, shares))],
                                         chunk, plan)
            self._programs[key] = program
            return program

    def _stage(self, network: Network, batch: Optional[int], workers: Optional[list] = None) -> "Stage":
        """``network`` compiled on ``workers`` (default: every worker it fits), its data held by
        every worker it fits, so that a chunk Dask moves off a lost worker finds it."""
        fitting = self._fitting(network)
        chosen = fitting if workers is None else workers
        stage = Stage(network, content_hash(network), batch, [w.address for w in chosen])
        stage.send(self.client, [w.address for w in fitting])
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
    import dask

    # Work stealing weighs moving queued tasks at every completion; streamcnn's tasks are pinned to
    # the workers their network fits, and chunks are alike, so it would only cost the scheduler time.
    with dask.config.set({"distributed.scheduler.work-stealing": False}):
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
