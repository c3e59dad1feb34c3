"""The device interface every backend implements, and the loaded-program object.

A backend provides three things: contiguous buffers (:meth:`Device.allocate`),
one DMA round trip (:meth:`Device._transfer`: send a buffer, receive into
another, return the words received) and a name.  Everything else (reading the
capabilities, loading networks, batching, checking the response) is here, so
the simulator and the board behave the same way.
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .. import compiler, protocol as P
from ..caps import Capabilities
from ..errors import DeviceClosedError, DeviceError, InputError, ProtocolError, StreamCNNError
from ..hostpath import BatchPath
from ..network import Network, as_images


def describe_status(resp: compiler.Response, prog: Optional[compiler.CompiledProgram] = None) -> str:
    """One sentence for an error status: what, where, and the detail decoded."""
    status = resp.status
    where = prog.describe_packet(resp.packet) if prog is not None else (
        "the program header" if resp.packet is None else f"packet {resp.packet}")
    detail = resp.detail
    if status == P.Status.ERR_LIMIT and detail in P.Cap._value2member_map_:
        detail_text = f"limit {P.Cap(detail).name.lower()}"
    elif status in (P.Status.ERR_BAD_FIELD, P.Status.ERR_SHAPE) and detail in P.Field._value2member_map_:
        detail_text = f"field {P.Field(detail).name.lower()}"
    elif status == P.Status.ERR_UNKNOWN_OPCODE or status == P.Status.ERR_SEQUENCE:
        name = P.Op(detail).name if detail in P.Op._value2member_map_ else "?"
        detail_text = f"opcode {detail:#04x} ({name})"
    else:
        detail_text = f"detail {detail:#x}"
    return f"accelerator error {status.name}: {P.STATUS_MEANING[status]}, at {where}, {detail_text}"


@dataclass
class RunStats:
    """What the last :meth:`Program.run` did."""

    images: int = 0
    batches: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    seconds: float = 0.0
    #: the last answer's status trailer, from which :attr:`counters` are read when asked for
    trailer: Optional[np.ndarray] = field(default=None, repr=False)
    _counters: Optional[list] = field(default=None, repr=False)

    @property
    def counters(self) -> list:
        """The accelerator's counters per layer (:class:`compiler.LayerCounters`), last batch."""
        if self._counters is None:
            self._counters = compiler.trailer_counters(self.trailer) if self.trailer is not None else []
        return self._counters

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


class Device(ABC):
    """An accelerator reachable through one DMA send and one DMA receive.

    Safe to use from several threads: one accelerator runs one program at a time, so
    a device's transfers (and a program's runs, which reuse its buffers) take turns
    under the device's lock.  Separate simulator devices share nothing and run in
    parallel."""

    name = "device"

    def __init__(self) -> None:
        self._caps: Optional[Capabilities] = None
        self._lock = threading.RLock()
        self._closed = False

    # -- what a backend implements ---------------------------------------------

    @abstractmethod
    def allocate(self, words: int) -> np.ndarray:
        """A uint64 buffer the DMA can read and write (physically contiguous on a board)."""

    @abstractmethod
    def _transfer(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> int:
        """Send ``send[:send_words]`` (TLAST on the last word), receive into
        ``recv``; return the words received.  Raises :class:`DMAError`."""

    def _start(self, send: np.ndarray, send_words: int, recv: np.ndarray) -> None:
        """Begin a DMA round trip that :meth:`_complete` waits for, so the host can prepare the
        next batch meanwhile.  One at a time.  By default the transfer happens here, whole."""
        self._pending = self._transfer(send, send_words, recv)

    def _complete(self) -> int:
        """Wait for the transfer :meth:`_start` began; return the words received."""
        return self._pending

    def _sync_to_device(self, buf: np.ndarray) -> None:
        """Make CPU writes to ``buf`` visible to the DMA (a cache flush on a board)."""

    #: the accelerator variant loaded, on a device that can swap it (an accelerator library);
    #: None for fixed hardware
    variant: Optional[str] = None

    def _claim(self, program: "Program") -> None:
        """Called under the lock before every run of ``program``: make the hardware it was
        compiled for the hardware loaded.  Fixed hardware has nothing to do."""

    def close(self) -> None:
        """Release the device; using it (or a program loaded on it) afterwards raises
        :class:`DeviceClosedError`.  Closing twice is harmless."""
        with self._lock:
            self._closed = True
            self._release()

    def _release(self) -> None:
        """What a backend frees when the device closes."""

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"the {self.name} device is closed; open a new one with "
                                    f"streamcnn.open_device({self.name!r})")

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the common part --------------------------------------------------------

    transfers = 0  # DMA round trips so far (one per batch)

    def transfer(self, send: np.ndarray, recv: np.ndarray, send_words: Optional[int] = None) -> int:
        """One DMA round trip; returns the words received."""
        with self._lock:
            if self._closed:
                self._check_open()
            n = len(send) if send_words is None else send_words
            self.transfers += 1
            return self._transfer(send, n, recv)

    def execute(self, words: np.ndarray, response_words: Optional[int] = None) -> compiler.Response:
        """Run a raw program (any words at all) and parse the answer, without
        raising on an error status: for capability requests and for tests."""
        words = np.asarray(words, dtype=np.uint64)
        send = self.allocate(max(len(words), 1))
        send[:len(words)] = words
        self._sync_to_device(send)
        recv = self.allocate(response_words or compiler.CAPS_RESPONSE_WORDS)
        n = self.transfer(send, recv, len(words))
        return compiler.parse_response(recv[:n])

    @property
    def caps(self) -> Capabilities:
        """The accelerator's version and maxima, read once from the device."""
        with self._lock:
            if self._caps is None:
                self._caps = self._read_caps()
            return self._caps

    def _read_caps(self) -> Capabilities:
        resp = self.execute(compiler.compile_caps_request().words)
        if resp.status == P.Status.ERR_BAD_VERSION:
            raise DeviceError(
                f"the {self.name} accelerator does not speak program format {P.FORMAT_VERSION} "
                f"(this streamcnn's); rebuild the overlay from this release's overlay/ or install "
                f"the streamcnn release that matches the overlay",
                status=resp.status, packet=resp.packet, detail=resp.detail)
        if resp.status != P.Status.OK:
            raise DeviceError(describe_status(resp), status=resp.status, packet=resp.packet, detail=resp.detail)
        kinds = [kind for kind, _ in resp.records]
        if kinds != [P.C["SCNN_REC_CAPS"]]:
            raise ProtocolError(f"a capabilities request was answered with records {kinds}")
        caps = Capabilities.from_words([int(w) for w in resp.records[0][1]])
        if caps.format_version != P.FORMAT_VERSION:
            raise DeviceError(
                f"the {self.name} accelerator reports program format {caps.format_version}, this streamcnn "
                f"speaks {P.FORMAT_VERSION}; rebuild the overlay or install the matching streamcnn",
                status=resp.status, packet=None, detail=caps.format_version)
        return caps

    def load(self, network: Network, batch: Optional[int] = None, **compile_options) -> "Program":
        """Compile ``network`` for this device and allocate its buffers.

        ``batch`` images travel in each DMA transfer; by default as many as
        the on-chip buffers hold.  Raises :class:`LimitError` (naming the layer
        and the limit) before anything is sent if the network does not fit, and
        :class:`InputError` for a batch that is not a positive integer.
        ``compile_options`` go to :func:`streamcnn.compiler.compile_network`."""
        self._check_open()
        with self._lock:  # the capabilities and the variant they belong to, read together
            caps, variant = self.caps, self.variant
        return self._load_for(caps, variant, network, batch, compile_options)

    def _load_for(self, caps: Capabilities, variant: Optional[str], network: Network, batch: Optional[int],
                  compile_options: dict) -> "Program":
        """:meth:`load` for hardware of ``caps`` (``variant``), which need not be loaded now."""
        if batch is None:
            batch = network.max_batch(caps, segments=compile_options.get("segments", True),
                                      column_packing=compile_options.get("column_packing", True))
            if batch < 1:
                network.check(caps, 1)  # raises, naming the limit
        elif isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InputError(f"batch must be a positive integer, got {batch!r}")
        return Program(self, network, int(batch), compile_options, caps=caps, variant=variant)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class _Loaded:
    """A compiled program in device buffers."""

    def __init__(self, device: Device, prog: compiler.CompiledProgram) -> None:
        self.prog = prog
        self.send = device.allocate(len(prog.words))
        self.send[:] = prog.words
        prog.words = self.send  # from now on the input slot is rewritten in place
        device._sync_to_device(self.send)
        self.recv = device.allocate(prog.response_words)
        self.words = len(self.send)
        self.path: Optional[BatchPath] = None  # made for the final-output variant


class Program:
    """A network loaded on a device: call :meth:`run` with images."""

    def __init__(self, device: Device, network: Network, batch: int, compile_options: Optional[dict] = None, *,
                 caps: Optional[Capabilities] = None, variant: Optional[str] = None) -> None:
        self.device, self.network, self.batch = device, network, batch
        #: what the program was compiled for: the device's capabilities (or those given), and the
        #: variant they belong to on a device that swaps them (its run swaps that one in first)
        if caps is None:
            with device._lock:
                caps, variant = device.caps, device.variant
        self.caps, self.variant = caps, variant
        self._options = compile_options or {}
        self._variants: dict = {}
        self._compile_lock = threading.Lock()
        self.last = RunStats()
        loaded = self._variant(False)  # compile now: limit errors surface at load time
        loaded.path = BatchPath(loaded.prog, loaded.send, loaded.recv, network)
        self._loaded, self._input_shape = loaded, tuple(network.input_shape)
        self._answer = loaded.recv, 0  # (receive buffer, words) of the last answer
        self._second: Optional[BatchPath] = None  # the other buffers of overlapped runs

    def _variant(self, all_layers: bool) -> _Loaded:
        with self._compile_lock:  # two threads asking for a new variant compile it once
            if all_layers not in self._variants:
                batch = self.batch
                if all_layers:  # every layer's output is asked for: no segment, so perhaps a smaller batch
                    batch = max(1, min(batch, self.network.max_batch(
                        self.caps, segments=False, column_packing=self._options.get("column_packing", True))))
                prog = compiler.compile_network(self.network, self.caps, batch, all_layers=all_layers,
                                                **self._options)
                self._variants[all_layers] = _Loaded(self.device, prog)
            return self._variants[all_layers]

    @property
    def compiled(self) -> compiler.CompiledProgram:
        return self._variant(False).prog

    def run(self, images: np.ndarray, *, all_layers: bool = False):
        """Outputs for (N, C, H, W) images, as :func:`streamcnn.golden.run` returns them.

        Images are float (quantized with the network's input scale), uint8 pixels
        (standing for the float32 images ``pixels / 255``) or int8 (already quantized).
        Returns int8 arrays of the network's output shape, (N, C, H, W) or (N, F); a
        single (C, H, W) image gives an unbatched result.  With ``all_layers`` a dict
        {layer name: int8 output} of every accelerator layer's output.

        The work per batch is fixed (:mod:`streamcnn.hostpath`): it does not grow with
        the number of layers or records."""
        if all_layers:
            return self._run_all_layers(images)
        x = images if type(images) is np.ndarray else as_images(images)
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.ndim != 4 or x.shape[1:] != self._input_shape or x.shape[0] == 0:
            self.network.quantize_input(x)  # raises, naming the problem
        count = x.shape[0]
        loaded, device = self._loaded, self.device
        out = np.empty((count,) + loaded.path.output_shape, np.int8)
        start = time.perf_counter()
        with device._lock:
            if device._closed:
                device._check_open()
            device._claim(self)
            if count <= self.batch:  # one batch: the arrays themselves, no views, no second buffers
                path, send, recv, words = loaded.path, loaded.send, loaded.recv, loaded.words
                path.stage(x, count)
                device._sync_to_device(path.written)
                device.transfers += 1  # transfer()'s work, inline: the lock is held and the device open
                n = device._transfer(send, words, recv)
                if not path.read(n, out, count):
                    self._read_parsed(path, n, out, count)
                batches, trailer = 1, path.trailer(n)
            else:
                batches, path, n = self._run_overlapped(x, out)
                trailer = path.trailer(n)
            self._answer = path.recv, n
        seconds = time.perf_counter() - start
        words = loaded.words
        self.last = RunStats(count, batches, batches * 8 * words, batches * 8 * n, seconds, trailer)
        return out[0] if single else out

    def _run_overlapped(self, x: np.ndarray, out: np.ndarray) -> tuple:
        """Many batches, two pairs of buffers used in turn: while the accelerator runs batch
        k, the host prepares batch k + 1 in the other send buffer, and reads batch k's
        results while batch k + 1 runs.  No buffer is written while a transfer uses it.
        Returns (batches, the path of the last one, its answer's words)."""
        device, b, count = self.device, self.batch, x.shape[0]
        paths = (self._loaded.path, self._second_path())
        words = self._loaded.words
        in_flight = None  # (path, first image, images) of the transfer the DMA is doing
        batches = n = 0
        try:
            for first in range(0, count, b):
                keep = count - first if count - first < b else b
                path = paths[batches & 1]
                path.stage(x[first:first + keep], keep)  # the other pair's transfer may be running
                device._sync_to_device(path.written)
                done, in_flight = in_flight, None
                if done is not None:
                    n = device._complete()
                device.transfers += 1
                try:
                    device._start(path.send, words, path.recv)
                except BaseException:
                    if done is not None:  # batch k's own error, if it has one, comes first
                        self._read(done, n, out)
                    raise
                in_flight = (path, first, keep)
                batches += 1
                if done is not None:  # batch k's results, while batch k + 1 runs
                    self._read(done, n, out)
            done, in_flight = in_flight, None
            n = device._complete()
            self._read(done, n, out)
        except BaseException:
            if in_flight is not None:  # leave the DMA idle for the next run
                try:
                    device._complete()
                except StreamCNNError:
                    pass
            raise
        return batches, done[0], n

    def _read(self, batch: tuple, n: int, out: np.ndarray) -> None:
        path, first, keep = batch
        target = out[first:first + keep]
        if not path.read(n, target, keep):
            self._read_parsed(path, n, target, keep)

    def _second_path(self) -> BatchPath:
        """The second pair of buffers (made on the first run of several batches): a copy of
        the first, so the program's words are fixed once loaded (only the INPUT slot changes)."""
        if self._second is None:
            loaded = self._loaded
            send = self.device.allocate(loaded.words)
            send[:] = loaded.send
            self.device._sync_to_device(send)
            self._second = loaded.path.twin(send, self.device.allocate(len(loaded.recv)))
        return self._second

    def last_answer(self) -> np.ndarray:
        """A copy of the words the device answered the last batch with (records and trailer)."""
        recv, n = self._answer
        return recv[:n].copy()

    def _read_parsed(self, path: BatchPath, n: int, out: np.ndarray, keep: int) -> None:
        """The answer through the full parser: errors named, the final output of ``keep``
        images copied into ``out``, and the batch path told what an accepted answer looks like."""
        records, _ = self._check_response(self._loaded.prog, path.recv[:n])
        spec, payload = records[-1]
        values = compiler.tensor_from_record(payload, spec, self.batch)
        out[...] = values[:keep]
        path.learn(n, values)

    def _check_response(self, prog: compiler.CompiledProgram, words: np.ndarray) -> tuple:
        """([(output spec, record payload)], counters) of an answer, or the error it reports."""
        resp = compiler.parse_response(words)
        if resp.status != P.Status.OK:
            raise DeviceError(describe_status(resp, prog), status=resp.status, packet=resp.packet,
                              detail=resp.detail)
        if len(resp.records) != len(prog.outputs):
            raise ProtocolError(f"expected {len(prog.outputs)} result records, got {len(resp.records)}")
        return [(spec, payload) for spec, (_, payload) in zip(prog.outputs, resp.records)], resp.counters

    def _run_all_layers(self, images: np.ndarray) -> dict:
        """Every accelerator layer's output: the general path, one parsed answer per batch."""
        x = as_images(images)
        single = x.ndim == 3
        q = self.network.quantize_input(x[None] if single else x)
        loaded = self._variant(True)
        prog = loaded.prog
        b = prog.batch  # at most the program's: every output kept needs no segment
        parts: dict = {spec.layer: [] for spec in prog.outputs}
        stats = RunStats(images=len(q))
        start = time.perf_counter()
        with self.device._lock:
            self.device._check_open()
            self.device._claim(self)
            for first in range(0, len(q), b):
                chunk = q[first:first + b]
                if len(chunk) < b:  # the last batch: padded, the padding dropped below
                    chunk = np.concatenate([chunk, np.zeros((b - len(chunk),) + chunk.shape[1:], np.int8)])
                prog.set_images(chunk)
                self.device._sync_to_device(loaded.send)
                n = self.device.transfer(loaded.send, loaded.recv)
                keep = min(b, len(q) - first)
                records, stats._counters = self._check_response(prog, loaded.recv[:n])
                self._answer = loaded.recv, n
                for spec, payload in records:
                    parts[spec.layer].append(compiler.tensor_from_record(payload, spec, b)[:keep])
                stats.batches += 1
                stats.bytes_sent += prog.nbytes
                stats.bytes_received += 8 * n
        stats.seconds = time.perf_counter() - start
        self.last = stats
        outs = {name: np.concatenate(p) for name, p in parts.items()}
        return {k: v[0] for k, v in outs.items()} if single else outs

    def __repr__(self) -> str:
        st = self.compiled.stats
        return (f"<Program {self.network.name!r} on {self.device.name}: batch {self.batch}, "
                f"{st['program_words'] * 8} bytes per transfer>")


__all__ = ["Device", "Program", "RunStats", "describe_status"]
