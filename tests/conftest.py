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
    not mac256's 8,192 words (streamcnn.zoo.wide_cnn)."""
    from streamcnn import zoo

    return zoo.wide_cnn(seed)
