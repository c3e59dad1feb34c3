"""The network description: structure errors and limits name the layer and the limit."""
import numpy as np
import pytest

from streamcnn import zoo
from streamcnn.errors import InputError, LimitError, NetworkError
from streamcnn.network import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize


def qconv(cout, cin, k, **kw):
    return Conv2d(np.ones((cout, cin, k, k), np.int8), np.zeros(cout, np.int32), np.full(cout, 1 << 20),
                  np.full(cout, 24), **kw)


def qlinear(fout, fin):
    return Linear(np.ones((fout, fin), np.int8), np.zeros(fout, np.int32), np.full(fout, 1 << 20), np.full(fout, 24))


def test_shapes_follow_pytorch():
    net = zoo.lenet5()
    assert net.shapes() == [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5), (400,),
                            (120,), (120,), (84,), (84,), (10,)]
    assert net.hardware_layers() == 8  # conv+relu, pool, conv+relu, pool, flatten, 3 dense (+relu)


@pytest.mark.parametrize("layers,message", [
    ([qconv(4, 2, 3)], "expect 2 input channels, the input has 3"),
    ([qlinear(4, 3)], "add a Flatten"),
    ([qconv(4, 3, 9)], "does not fit the 8x8 input"),
    ([Flatten(), qlinear(4, 100)], "expect 100 inputs, the input has 192"),
    ([MaxPool2d(9)], "does not fit"),
    ([object()], "layer 0 is a object"),
    ([], "at least one layer"),
])
def test_structure_errors(layers, message):
    with pytest.raises(NetworkError, match=message):
        Network((3, 8, 8), layers)


def test_requant_fields_are_checked():
    bad = qconv(2, 3, 3)
    bad.multiplier = np.full(2, 1 << 24)
    with pytest.raises(NetworkError, match=r"multipliers must lie in \[0, 2\*\*24\)"):
        Network((3, 8, 8), [bad])


@pytest.mark.parametrize("build,limit,layer", [
    (lambda: Network((3, 200, 8), [qconv(2, 3, 3)]), "max_dim", "input"),
    (lambda: Network((3, 16, 16), [qconv(2, 3, 3, stride=3)]), "max_stride", "conv2d0"),
    (lambda: Network((3, 16, 16), [qconv(2, 3, 3, padding=(0, 4))]), "max_pad", "conv2d0"),
    (lambda: Network((3, 16, 16), [qconv(2, 3, 8)]), "max_kernel", "conv2d0"),
    (lambda: Network((3, 16, 16), [qconv(2, 3, 3), MaxPool2d(4)]), "max_pool_kernel", "maxpool2d1"),
    (lambda: Network((5000, 1, 1), [Flatten(), qlinear(2, 5000)]), "max_channels", "input"),
    (lambda: Network((4097, 1, 1), [Flatten()]), "max_channels", "input"),
    (lambda: Network((600, 1, 1), [Flatten(), qlinear(2, 600), ReLU(), qlinear(4097, 2)]), "max_fc_out", "linear3"),
    (lambda: Network((8, 23, 23), [Flatten(), qlinear(2, 4232)]), "max_fc_in", "flatten0"),
    (lambda: Network((64, 40, 40), [qconv(2, 64, 7)]), "act_words", "network"),
])
def test_limits_name_layer_and_limit(caps, build, limit, layer):
    net = build()
    with pytest.raises(LimitError) as e:
        net.check(caps, 1)
    assert e.value.limit == limit and e.value.layer == layer
    assert limit in str(e.value) and str(e.value.maximum) in str(e.value)


def test_batch_limit_and_default_batch(caps):
    net = zoo.lenet5()
    net.check(caps, net.max_batch(caps))
    with pytest.raises(LimitError, match="act_words"):
        net.check(caps, net.max_batch(caps) + 1)


def test_too_many_layers(caps):
    layers = [qconv(3, 3, 1)] + [ReLU() for _ in range(caps.max_layers)]  # the first ReLU is fused
    Network((3, 4, 4), layers).check(caps)
    layers.append(ReLU())
    with pytest.raises(LimitError, match="max_layers"):
        Network((3, 4, 4), layers).check(caps)


def test_load_refuses_before_sending(device):
    net = Network((3, 16, 16), [qconv(2, 3, 8)])
    with pytest.raises(LimitError, match="kernel height is 8"):
        device.load(net)


@pytest.mark.parametrize("x,message", [
    (np.zeros((2, 1, 28, 28), np.float32), r"shape \(N, 1, 32, 32\)"),
    (np.zeros((1, 32, 32), np.float32), r"shape \(N, 1, 32, 32\)"),
    (np.zeros((2, 1, 32, 32), np.int32), "must be float .* or int8"),
    (np.full((2, 1, 32, 32), np.nan, np.float32), "NaN"),
])
def test_bad_images(x, message):
    with pytest.raises(InputError, match=message):
        zoo.lenet5().quantize_input(x)


def test_quantize_rejects_mismatched_calibration():
    with pytest.raises(NetworkError, match="calibration images"):
        quantize((1, 8, 8), [FloatConv2d(np.ones((2, 1, 3, 3)))], np.zeros((4, 1, 9, 9)))


def test_float_layers_quantize_per_channel():
    w = np.stack([np.full((1, 3, 3), 0.5), np.full((1, 3, 3), -2.0)])
    net = quantize((1, 8, 8), [FloatConv2d(w, np.array([0.1, -0.1])), ReLU(), Flatten(),
                               FloatLinear(np.ones((3, 72)))], np.ones((4, 1, 8, 8), np.float32))
    conv = net.layers[0]
    assert conv.weight.min() == -127 and conv.weight.max() == 127
    assert np.allclose(conv.weight_scale, [0.5 / 127, 2.0 / 127])
