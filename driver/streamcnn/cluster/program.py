"""A network loaded on a cluster, and how a run spreads its chunks over the workers.

The client deals the chunks out itself: each worker holds at most :data:`IN_FLIGHT` chunks at
a time (one running, the next already there), and the worker that finishes one gets the next.
So a fast board takes more chunks than a slow one, the scheduler never has to guess, and a run
of any length keeps only a few chunks' images in the cluster at once.

Every task names the worker it is meant for, loosely: if that worker dies, Dask reruns the
task on another worker with the accelerator resource (and a chunk that lands on a worker the
network does not fit comes back as a :class:`WorkerError`, to be dealt again).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import ClusterError, InputError, WorkerError
from ..network import Network, as_images
from . import worker as _worker
from .worker import RESOURCE

#: chunks a worker holds at once: the one it runs and the next, so it never waits for the client
IN_FLIGHT = 2
#: how often a run checks that every stage still has a live worker, seconds
WATCH_SECONDS = 1.0
#: the most int8 image bytes a task carries (Dask warns of task graphs above 10 MB)
CHUNK_BYTES = 4 << 20
#: how often a run looks for finished chunks: each worker already holds its next one
POLL_SECONDS = 0.005


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


@dataclass
class Stage:
    """One network (the whole one, or a pipeline stage) on the workers it fits."""

    network: Network
    key: str
    batch: Optional[int]
    addresses: list
    data: object = None  # the network's Dask future, held on the workers
    batches: dict = field(default_factory=dict)  # worker address -> its program's batch

    def send(self, client, holders: list) -> None:
        """The network to ``holders`` (once each), compiled on this stage's workers."""
        name = f"streamcnn-network-{self.key[:16]}"
        self.data = client.scatter({name: self.network}, workers=holders, broadcast=True, hash=False)[name]
        futures = [client.submit(_worker.load, self.key, self.data, self.batch, workers=[a], allow_other_workers=False,
                                 resources={RESOURCE: 1}, pure=False, key=f"streamcnn-load-{self.key[:16]}-{a}")
                   for a in self.addresses]
        for a, f in zip(self.addresses, futures):
            self.batches[a] = f.result()

    def submit(self, client, images, worker: str, name: str):
        """Run ``images`` (an array, or the previous stage's future) here, meant for ``worker``."""
        return client.submit(_worker.run, self.key, self.data, self.batch, images, workers=[worker],
                             allow_other_workers=True, resources={RESOURCE: 1}, pure=False,
                             key=f"streamcnn-run-{self.key[:12]}-{name}")


class ClusterProgram:
    """A network loaded on a cluster: :meth:`run` spreads images over its workers.  Made by
    :meth:`Cluster.load`."""

    def __init__(self, cluster, network: Network, stages: list, chunk: Optional[int], plan) -> None:
        self.cluster, self.network, self.stages, self.plan = cluster, network, stages, plan
        #: the smallest batch (images per DMA transfer) of any worker's program
        self.batch = min(b for s in stages for b in s.batches.values())
        if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1):
            raise InputError(f"chunk must be a positive integer, got {chunk!r}")
        self.chunk = int(chunk) if chunk else None
        self.last = ClusterStats()

    @property
    def workers(self) -> list:
        """The addresses of the workers of each stage."""
        return [list(s.addresses) for s in self.stages]

    def chunk_for(self, images: int) -> int:
        """Images a task: the ``chunk`` given to load, else whole transfers, at most 64 of the
        largest stage batch (so Dask's cost a task, about a millisecond, stays small) and
        :data:`CHUNK_BYTES`, and a whole number of rounds of at least 4 chunks a worker (so no
        worker idles while the last ones finish)."""
        if self.chunk:
            return self.chunk
        widest = max(len(s.addresses) for s in self.stages)
        largest = max(b for s in self.stages for b in s.batches.values())  # a pipeline's stages differ
        most = max(self.batch, min(64 * largest, CHUNK_BYTES // int(np.prod(self.network.input_shape))))
        rounds = max(4, -(-images // (widest * most)))
        per = -(-images // (rounds * widest))
        return -(-per // self.batch) * self.batch

    def run(self, images, *, progress: bool = False) -> np.ndarray:
        """Outputs for (N, C, H, W) images, in order, as one device's :meth:`Program.run` gives
        them.  The images are quantized here (so int8 crosses the network) and checked before
        anything is sent."""
        x = as_images(images)
        single = x.ndim == 3
        q = self.network.quantize_input(x[None] if single else x)
        run = _Run(self, q, self.chunk_for(len(q)), progress)
        out = run.go()
        self.last = run.stats
        return out[0] if single else out

    def __repr__(self) -> str:
        kind = f"{len(self.stages)}-stage pipeline" if len(self.stages) > 1 else "data-parallel"
        return f"<ClusterProgram {self.network.name!r}, {kind} on {sum(map(len, self.workers))} workers>"


class _Run:
    """One :meth:`ClusterProgram.run`: chunks dealt to workers, results taken by position."""

    def __init__(self, program: ClusterProgram, q: np.ndarray, chunk: int, progress: bool) -> None:
        from distributed import as_completed

        self.program, self.q, self.chunk = program, q, chunk
        self.client = program.cluster.client
        self.starts = list(range(0, len(q), chunk))
        self.todo = list(range(len(self.starts)))[::-1]  # popped from the end: chunk 0 first
        self.id = uuid.uuid4().hex[:8]
        self.stats = ClusterStats(images=len(q), chunks=len(self.starts))
        self.excluded: set = set()  # workers whose device failed in this run
        self.load = {a: 0 for s in program.stages for a in s.addresses}  # worker -> chunks it holds
        self.flying: dict = {}  # chunk -> (its stages' futures, their workers)
        self.chunk_of: dict = {}  # the last stage's future key -> chunk
        self.attempts = {i: 0 for i in self.todo}
        self.results: dict = {}
        self.done = as_completed()
        self.bar = _progress(len(self.starts), progress, f"{program.network.name} on {len(self.load)} workers")

    def go(self) -> np.ndarray:
        t0 = time.perf_counter()
        watched = time.monotonic()
        try:
            self.deal()
            while self.flying or self.todo:
                if time.monotonic() - watched > WATCH_SECONDS:
                    self.watch()
                    watched = time.monotonic()
                if not self.done.has_ready():
                    time.sleep(POLL_SECONDS)
                    continue
                for f in self.done.next_batch(block=False):
                    self.finished(f)
                self.deal()
        finally:
            self.bar.close()
            for futures, _ in self.flying.values():
                for f in futures:
                    f.cancel()
        self.stats.seconds = time.perf_counter() - t0
        return np.concatenate([self.results[i] for i in range(len(self.starts))])

    def pick(self, stage: Stage) -> Optional[str]:
        """The stage's least-loaded worker with room for another chunk, if any."""
        free = [a for a in stage.addresses if a not in self.excluded and self.load.get(a, 0) < IN_FLIGHT]
        return min(free, key=lambda a: self.load[a]) if free else None

    def deal(self) -> None:
        """Give chunks to the workers with room, until every worker holds :data:`IN_FLIGHT`."""
        stages = self.program.stages
        for stage in stages:
            if all(a in self.excluded for a in stage.addresses):
                raise ClusterError(f"{self.program.network.name}: every worker of a stage failed in this run; the "
                                   f"last error: {self.stats.retries[-1][2] if self.stats.retries else '?'}",
                                   worker=self.stats.retries[-1][1] if self.stats.retries else None)
        while self.todo:
            chosen = [self.pick(stage) for stage in stages]
            if None in chosen:
                return
            i = self.todo.pop()
            data = self.q[self.starts[i]:self.starts[i] + self.chunk]
            futures = []
            for s, (stage, worker) in enumerate(zip(stages, chosen)):
                data = stage.submit(self.client, data, worker, f"{self.id}-{self.attempts[i]}-{i}-{s}")
                futures.append(data)
                self.load[worker] += 1
            self.flying[i] = (futures, chosen)
            self.chunk_of[futures[-1].key] = i
            self.done.add(futures[-1])

    def release(self, i: int) -> list:
        futures, workers = self.flying.pop(i)
        for w in workers:
            if w in self.load:
                self.load[w] -= 1
        return futures

    def finished(self, f) -> None:
        from distributed import CancelledError, KilledWorker

        i = self.chunk_of.pop(f.key, None)
        if i is None or i not in self.flying or self.flying[i][0][-1] is not f:
            return  # an attempt superseded by a resubmission
        self.release(i)
        try:
            answer = f.result()
        except WorkerError as e:
            self.stats.retries.append((i, e.worker, str(e)))
            self.excluded.add(e.address)
            self.again(i)
            return
        except KilledWorker as e:
            raise ClusterError(f"chunk {i} of {self.program.network.name}: its workers kept dying ({e})") from None
        except CancelledError:  # not by this run: its data went with a lost worker, so deal it again
            self.stats.retries.append((i, None, "cancelled by the cluster (a worker was lost)"))
            self.again(i)
            return
        self.results[i] = answer["out"]
        per = self.stats.images_per_worker
        for name in answer["workers"]:
            per[name] = per.get(name, 0) + len(answer["out"])
        self.bar.update(1)

    def again(self, i: int) -> None:
        self.attempts[i] += 1
        self.todo.append(i)  # next to be dealt

    def watch(self) -> None:
        """Workers gone from the cluster get no more chunks; a stage left with none (its only
        board restarted under a new address, say) is sent again to the workers it fits now,
        and its chunks in flight are dealt again."""
        alive = set(self.client.scheduler_info(n_workers=-1)["workers"])
        for a in self.load:
            if a not in alive:
                self.excluded.add(a)
        stages = self.program.stages
        stranded = [s for s, stage in enumerate(stages) if not alive.intersection(stage.addresses)]
        if not stranded:
            return
        for s in stranded:
            stage = stages[s]
            stages[s] = self.program.cluster._stage(stage.network, stage.batch)
            for a in stages[s].addresses:
                self.load.setdefault(a, 0)
        for i in list(self.flying):
            for f in self.release(i):
                f.cancel()
            self.again(i)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="chunk")


__all__ = ["ClusterProgram", "ClusterStats", "Stage", "IN_FLIGHT"]
