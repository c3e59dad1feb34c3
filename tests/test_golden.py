"""The golden model's arithmetic, checked against hand-worked values, naive loops and PyTorch."""
import numpy as np
import pytest

from streamcnn import golden, zoo
from streamcnn.network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize, requant_params


def test_requantize_rounds_half_to_even_and_saturates():
    m, s = np.array([1 << 23]), np.array([24])  # x 0.5
    acc = np.array([5, -5, 3, -3, 1, -1, 1000, -1000, 0, 4]).reshape(1, 1, -1)
    out = golden.requantize(acc, m, s).ravel()
    assert out.tolist() == [2, -2, 2, -2, 0, 0, 127, -128, 0, 2]  # 2.5 -> 2, 1.5 -> 2, 0.5 -> 0
    assert golden.requantize(np.array([[7, -7]]).reshape(1, 1, 2), np.array([3]), np.array([0])).ravel().tolist() == [21, -21]
    # x 0.75: 0.75 -> 1, 2.25 -> 2, 3.75 -> 4; not a tie in sight
    m3 = np.array([3 << 22])
    assert golden.requantize(np.array([1, 3, 5]).reshape(1, 1, 3), m3, s).ravel().tolist() == [1, 2, 4]


def test_requantize_adds_the_zero_point_before_saturating():
    m, s = np.array([1 << 23]), np.array([24])
    acc = np.array([5, -5, 300, -300]).reshape(1, 1, -1)
    assert golden.requantize(acc, m, s, -128).ravel().tolist() == [-126, -128, 22, -128]
    assert golden.requantize(acc, m, s, 100).ravel().tolist() == [102, 98, 127, -50]


def test_round_half_even_matches_python_round_for_every_shift():
    from fractions import Fraction

    rng = np.random.default_rng(1)
    num = np.concatenate([rng.integers(-2 ** 56, 2 ** 56, 300), np.arange(-40, 41)])
    for shift in (0, 1, 2, 3, 17, 40, 56, 62, 63):
        expected = [round(Fraction(int(v), 2 ** shift)) for v in num]  # Python's round: half to even
        assert golden.round_half_even(num, shift).tolist() == expected, shift


def test_requant_params_approximate_the_factor():
    real = np.array([0.5, 1e-3, 3.7, 1e-9, 0.999999999, 2.0 ** -40])
    m, s = requant_params(real)
    assert np.all(m < 2 ** 24) and np.all((s >= 0) & (s <= 63))
    assert np.allclose(m / 2.0 ** s, real, rtol=1e-6)
    assert requant_params(np.array([0.0]))[0][0] == 0


def test_requant_params_saturate_factors_beyond_int64():
    with np.errstate(all="raise"):  # the cast must not overflow
        m, s = requant_params(np.array([2.0 ** 24, 1e30, 1e300]))
    assert m.tolist() == [2 ** 24 - 1] * 3 and s.tolist() == [0, 0, 0]


def test_avg_pool_is_the_mean_rounded_half_to_even():
    windows = [[1, 2, 2, 2], [-1, -2, -2, -2], [1, 0, 0, 0], [-3, 0, 0, 0],  # 1.75, -1.75, 0.25, -0.75
               [1, 1, 0, 0], [3, 3, 0, 0], [5, 5, 0, 0], [-1, -1, 0, 0], [-3, -3, 0, 0]]  # ties: 0.5 ... -1.5
    x = np.array(windows, np.int8).reshape(-1, 1, 2, 2)
    assert golden.avg_pool(x, 2, 2).ravel().tolist() == [2, -2, 0, -1, 0, 2, 2, 0, -2]
    # 3x3 windows have no ties: 4.5 / 9 is not a mean of nine integers
    assert golden.avg_pool(np.full((1, 1, 3, 3), -128, np.int8), 3, 3).item() == -128


def naive_conv(x, w, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), np.int64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, oh, ow), np.int64)
    for b in range(n):
        for oc in range(o):
            for y in range(oh):
                for xx in range(ow):
                    out[b, oc, y, xx] = (xp[b, :, y * sh:y * sh + kh, xx * sw:xx * sw + kw] * w[oc]).sum()
    return out


@pytest.mark.parametrize("stride,pad,k", [((1, 1), (0, 0), (3, 3)), ((2, 1), (1, 3), (5, 2)), ((2, 2), (3, 3), (7, 7))])
def test_conv2d_equals_naive_loops(rng, stride, pad, k):
    x = rng.integers(-128, 128, (2, 3, 9, 11)).astype(np.int8)
    w = rng.integers(-128, 128, (4, 3) + k).astype(np.int8)
    assert np.array_equal(golden.conv2d(x, w, stride, pad), naive_conv(x, w, stride, pad))


def test_float_path_dequantizes_int8_input(rng):
    net = zoo.lenet5()
    x = rng.uniform(-1, 1, (3,) + net.input_shape).astype(np.float32)
    q = net.quantize_input(x)
    from_int8 = golden.run_float(net, q)
    from_float = golden.run_float(net, q.astype(np.float32) * net.input_scale)
    assert np.allclose(from_int8, from_float)


def test_int8_tracks_float_within_quantization_error(rng):
    for net in (zoo.lenet5(3), zoo.svhn_cnn(3)):
        x = rng.uniform(-1, 1, (32,) + net.input_shape).astype(np.float32)
        q = net.dequantize_output(golden.run(net, x))
        f = golden.run_float(net, x)
        lsb = net.output_scale
        # a few output steps: every layer adds up to half a step of rounding
        assert np.abs(q - f).mean() < 2 * lsb, net.name
        assert np.abs(q - f).max() < 12 * lsb, net.name


torch = pytest.importorskip("torch", reason="PyTorch is optional; the float reference test needs it")


def torch_model(layers):
    mods = []
    for layer in layers:
        if isinstance(layer, FloatConv2d):
            m = torch.nn.Conv2d(layer.weight.shape[1], layer.weight.shape[0], layer.weight.shape[2:],
                                stride=layer.stride, padding=layer.padding)
            m.weight.data = torch.tensor(layer.weight, dtype=torch.float32)
            m.bias.data = torch.tensor(layer.bias, dtype=torch.float32)
        elif isinstance(layer, FloatLinear):
            m = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0])
            m.weight.data = torch.tensor(layer.weight, dtype=torch.float32)
            m.bias.data = torch.tensor(layer.bias, dtype=torch.float32)
        elif isinstance(layer, MaxPool2d):
            m = torch.nn.MaxPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, AvgPool2d):
            m = torch.nn.AvgPool2d(layer.kernel_size, layer.stride)
        elif isinstance(layer, ReLU):
            m = torch.nn.ReLU()
        else:
            m = torch.nn.Flatten()
        mods.append(m)
    return torch.nn.Sequential(*mods).eval()


def float_lenet(rng):
    def conv(i, o, k):
        return FloatConv2d(rng.normal(0, np.sqrt(2 / (i * k * k)), (o, i, k, k)), rng.normal(0, 0.05, o))

    def lin(i, o):
        return FloatLinear(rng.normal(0, np.sqrt(2 / i), (o, i)), rng.normal(0, 0.05, o))

    return [conv(1, 6, 5), ReLU(), AvgPool2d(2), conv(6, 16, 5), ReLU(), MaxPool2d(2), Flatten(),
            lin(400, 120), ReLU(), lin(120, 84), ReLU(), lin(84, 10)]


def test_golden_agrees_with_pytorch_within_quantization_error(rng):
    layers = float_lenet(rng)
    calib = rng.uniform(0, 1, (64, 1, 32, 32)).astype(np.float32)
    net = quantize((1, 32, 32), layers, calib)
    x = rng.uniform(0, 1, (64, 1, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = torch_model(layers)(torch.tensor(x)).numpy()
    got = net.dequantize_output(golden.run(net, x))
    lsb = net.output_scale
    err = np.abs(got - ref)
    assert err.mean() < 3 * lsb and err.max() < 15 * lsb
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.9


def test_float_path_equals_pytorch_with_dequantized_weights(rng):
    net = zoo.svhn_cnn(5)
    float_layers = []
    for layer in net.layers:
        if isinstance(layer, (Conv2d, Linear)):
            ws = layer.weight_scale.reshape((-1,) + (1,) * (layer.weight.ndim - 1))
            in_scale = net.scales()[net.layers.index(layer) - 1] if net.layers.index(layer) else net.input_scale
            w, b = layer.weight * ws, layer.bias * in_scale * layer.weight_scale
            float_layers.append(FloatConv2d(w, b, layer.stride, layer.padding) if isinstance(layer, Conv2d)
                                else FloatLinear(w, b))
        else:
            float_layers.append(layer)
    x = rng.uniform(-1, 1, (8, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = torch_model(float_layers)(torch.tensor(x)).numpy()
    assert np.allclose(golden.run_float(net, x), ref, rtol=1e-4, atol=1e-4)
