"""streamcnn: int8 CNN inference on the PYNQ-Z2, layers and weights streamed at run time.

The data flow, top to bottom::

    network = streamcnn.Network(...)            # or streamcnn.quantize(...)
    device = streamcnn.open_device("sim")        # "pynq" on a board, "auto" picks
    program = device.load(network)               # compile the wire format once
    outputs = program.run(images)                # int8, bit-exact with:
    expected = streamcnn.golden.run(network, images)

Several boards as one (Dask distributed): :mod:`streamcnn.cluster`.
"""
from . import datasets, golden, models
from .caps import Capabilities
from .devices import Device, Program, open_device
from .errors import (BuildError, ClusterError, DependencyError, DeviceClosedError, DeviceError, DMAError, DMATimeoutError, InputError, LimitError,
                     ModelFileError, NetworkError, OverlayError, ProtocolError, StreamCNNError, UnsupportedError,
                     WorkerError)
from .importers import from_onnx, from_torch
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from .quantization import FloatConv2d, FloatLinear, quantize

__version__ = "0.1.0"

__all__ = [
    "golden", "open_device", "Device", "Program", "Capabilities", "Network", "Conv2d", "Linear", "MaxPool2d",
    "AvgPool2d", "ReLU", "Flatten", "FloatConv2d", "FloatLinear", "quantize", "StreamCNNError", "NetworkError",
    "LimitError", "InputError", "DeviceError", "DeviceClosedError", "DMAError", "DMATimeoutError", "ProtocolError", "BuildError",
    "ModelFileError", "UnsupportedError", "OverlayError", "DependencyError", "ClusterError", "WorkerError", "from_torch", "from_onnx", "datasets", "models", "__version__",
]
