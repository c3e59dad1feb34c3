"""Exceptions raised by streamcnn.  Every message names the problem."""
from __future__ import annotations


class StreamCNNError(Exception):
    """Base class of every error streamcnn raises on purpose."""


class NetworkError(StreamCNNError, ValueError):
    """The network description is inconsistent (shapes, dtypes, layer order)."""


class LimitError(NetworkError):
    """The network does not fit the device: names the layer, the quantity and the limit."""

    def __init__(self, message: str, *, layer: str | None = None, limit: str | None = None,
                 value: int | None = None, maximum: int | None = None):
        super().__init__(message)
        self.layer, self.limit, self.value, self.maximum = layer, limit, value, maximum


class InputError(StreamCNNError, ValueError):
    """Images (arrays or files) of the wrong shape, dtype or value range, an unknown data set,
    or a run argument out of range (a batch size below 1, say)."""


class DeviceError(StreamCNNError):
    """The accelerator answered with an error status."""

    def __init__(self, message: str, *, status: int, packet: int | None, detail: int):
        super().__init__(message)
        self.status, self.packet, self.detail = status, packet, detail


class DMAError(StreamCNNError):
    """A transfer broke an AXI DMA rule, or would have hung on the board."""


class DMATimeoutError(DMAError):
    """A transfer did not finish within the device's timeout: the accelerator (or the DMA) stopped.
    The device has been reset and flushed by the time this is raised, so it can be used again."""


class DeviceClosedError(StreamCNNError):
    """The device (or a program loaded on it) was used after :meth:`Device.close`."""


class OverlayError(StreamCNNError):
    """The bitstream or its .hwh is missing, or the overlay is not one this driver can drive."""


class DependencyError(StreamCNNError, ImportError):
    """A package the request needs (pynq for the board, torch, onnx) is not installed."""


class ProtocolError(StreamCNNError):
    """The response stream is not what the wire format says it must be."""


class UnsupportedError(StreamCNNError, ValueError):
    """An imported model uses an operator or option streamcnn does not run; names it and where."""


class ModelFileError(StreamCNNError, ValueError):
    """A model file (``.scnn`` or ONNX) is missing, unreadable, truncated, corrupted, of another
    format version, beyond the format's size limits, or describes an invalid graph or layer."""


class BuildError(StreamCNNError):
    """The simulator could not be compiled."""


class ClusterError(StreamCNNError):
    """A cluster of devices could not do the work: no streamcnn worker, or a batch failed on every
    worker that could run it.  ``worker`` names the worker whose error it reports, if one."""

    def __init__(self, message: str, *, worker: str | None = None):
        super().__init__(message)
        self.worker = worker

    def __reduce__(self):  # crosses process boundaries (Dask pickles a task's exception)
        return type(self), (str(self),), {"worker": self.worker}


class WorkerError(ClusterError):
    """A device error on one worker of a cluster, with the worker's name and address; the batch
    is retried on another worker."""

    def __init__(self, message: str, *, worker: str | None = None, address: str | None = None,
                 kind: str = "DeviceError"):
        super().__init__(message, worker=worker)
        self.address, self.kind = address, kind

    def __reduce__(self):
        return type(self), (str(self),), {"worker": self.worker, "address": self.address, "kind": self.kind}
