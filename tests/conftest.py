import numpy as np
import pytest

import streamcnn


@pytest.fixture(scope="session")
def device():
    """The simulator, built from hls_src/ on first use."""
    with streamcnn.open_device("sim") as dev:
        yield dev


@pytest.fixture(scope="session", params=streamcnn.protocol.CONFIGS)
def any_config(request):
    """The simulator of each accelerator configuration (hls_src/config/): mac256, mac64."""
    with streamcnn.open_device("sim", config=request.param) as dev:
        yield dev


@pytest.fixture(scope="session")
def caps(device):
    return device.caps


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def images(rng, network, n):
    """Float images in [-1, 1] of the network's input shape."""
    return rng.uniform(-1, 1, (n,) + network.input_shape).astype(np.float32)


def roomy_network(seed: int = 3):
    """A network with a 16 x 80 x 80 activation (12,800 words): it fits mac64's large buffers,
    not mac256's 8,192 words."""
    from streamcnn.network import Flatten, MaxPool2d, ReLU
    from streamcnn.quantization import FloatConv2d, FloatLinear, quantize

    rng = np.random.default_rng(seed)
    layers = [FloatConv2d(rng.normal(0, 0.3, (16, 1, 3, 3)), rng.normal(0, 0.1, 16), padding=1), ReLU(), MaxPool2d(2),
              FloatConv2d(rng.normal(0, 0.1, (8, 16, 3, 3)), rng.normal(0, 0.1, 8), stride=2), ReLU(), Flatten(),
              FloatLinear(rng.normal(0, 0.05, (10, 8 * 19 * 19)), rng.normal(0, 0.1, 10))]
    return quantize((1, 80, 80), layers, rng.uniform(0, 1, (8, 1, 80, 80)).astype(np.float32), name="roomy")
