"""Network shapes to exercise the engine: LeNet-5, the hls4ml paper's SVHN CNN,
and random LeNet-like topologies.

Weights here are random (He-initialised floats, quantized with calibration
images), so outputs mean nothing: these are for bit-exactness tests, smoke
tests and throughput measurements.  Trained models live elsewhere.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .caps import Capabilities
from .errors import LimitError, NetworkError
from . import golden
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU, pair
from .quantization import FloatConv2d, FloatLinear, quantize


def _conv(rng: np.random.Generator, cin: int, cout: int, kernel, **kw) -> FloatConv2d:
    kh, kw_ = pair(kernel)
    std = np.sqrt(2.0 / (cin * kh * kw_))
    return FloatConv2d(rng.normal(0, std, (cout, cin, kh, kw_)), rng.normal(0, 0.1, cout), **kw)


def _linear(rng: np.random.Generator, fin: int, fout: int) -> FloatLinear:
    return FloatLinear(rng.normal(0, np.sqrt(2.0 / fin), (fout, fin)), rng.normal(0, 0.1, fout))


def _calibration(rng: np.random.Generator, shape: tuple, n: int = 16) -> np.ndarray:
    return rng.uniform(-1, 1, (n,) + tuple(shape)).astype(np.float32)


def lenet5(seed: int = 0) -> Network:
    """LeNet-5 on 1x32x32: conv 5x5 -> 6, max pool 2, conv 5x5 -> 16, max pool 2,
    dense 120, 84, 10, ReLU activations; random weights."""
    rng = np.random.default_rng(seed)
    layers = [_conv(rng, 1, 6, 5), ReLU(), MaxPool2d(2), _conv(rng, 6, 16, 5), ReLU(), MaxPool2d(2), Flatten(),
              _linear(rng, 400, 120), ReLU(), _linear(rng, 120, 84), ReLU(), _linear(rng, 84, 10)]
    return quantize((1, 32, 32), layers, _calibration(rng, (1, 32, 32)), name="lenet5-random")


def svhn_cnn(seed: int = 0) -> Network:
    """The hls4ml paper's SVHN CNN shape on 3x32x32: three conv 3x3 blocks of 16, 16
    and 24 filters with ReLU and 2x2 max pooling, dense 42, 64, 10; random weights
    (its BatchNorm layers are folded into the convolutions in a trained model)."""
    rng = np.random.default_rng(seed)
    layers = [_conv(rng, 3, 16, 3), ReLU(), MaxPool2d(2), _conv(rng, 16, 16, 3), ReLU(), MaxPool2d(2),
              _conv(rng, 16, 24, 3), ReLU(), MaxPool2d(2), Flatten(), _linear(rng, 24 * 2 * 2, 42), ReLU(),
              _linear(rng, 42, 64), ReLU(), _linear(rng, 64, 10)]
    return quantize((3, 32, 32), layers, _calibration(rng, (3, 32, 32)), name="svhn-cnn-random")


def wide_cnn(seed: int = 3) -> Network:
    """A CNN on 1 x 80 x 80 whose first activation, 16 x 80 x 80 (12,800 words an image), only
    the large-buffer accelerator variant holds (``mac64``: 16,384 words; ``mac256`` has 8,192):
    conv 3x3 of 16 (padding 1), ReLU, 2x2 max pooling, conv 3x3 of 8 (stride 2), ReLU, dense 10;
    random weights."""
    rng = np.random.default_rng(seed)
    layers = [FloatConv2d(rng.normal(0, 0.3, (16, 1, 3, 3)), rng.normal(0, 0.1, 16), padding=1), ReLU(), MaxPool2d(2),
              FloatConv2d(rng.normal(0, 0.1, (8, 16, 3, 3)), rng.normal(0, 0.1, 8), stride=2), ReLU(), Flatten(),
              FloatLinear(rng.normal(0, 0.05, (10, 8 * 19 * 19)), rng.normal(0, 0.1, 10))]
    return quantize((1, 80, 80), layers, rng.uniform(0, 1, (8, 1, 80, 80)).astype(np.float32), name="wide-80x80")


def random_network(rng: np.random.Generator, caps: Optional[Capabilities] = None, batch: int = 1,
                   name: str = "random") -> Network:
    """A random LeNet-like int8 network that fits ``caps`` at ``batch``: 1-3 conv blocks
    (any kernel 1-7, square or not, stride 1-2, padding 0-3, 1-40 filters,
    optional ReLU, optional max/avg pooling 1-3 with stride 1-3), then usually
    Flatten and 1-3 dense layers.  Channel counts are seldom multiples of 8 and
    sizes often odd, on purpose.  Zero points (:func:`_zero_point`) make some tensors
    signed (0), some unsigned (-128, the usual one after a ReLU) and some neither.

    Everything is drawn as integers and calibrated with the golden model's exact
    integer arithmetic (:func:`integer_network`), never with float results, so a
    seed gives the same network, byte for byte, on every machine and NumPy release
    (the smoke test's ``--seed S --only I`` replays anywhere, the board included)."""
    for _ in range(1000):
        try:
            net = _random_network(rng, name)
            if caps is not None:
                net.check(caps, batch)
            return net
        except (LimitError, _Retry):
            continue
    raise NetworkError("could not draw a random network that fits the device")  # pragma: no cover


class _Retry(Exception):
    pass


#: The input scale of integer networks: a power of two, so float images in [-1, 1)
#: quantize exactly (x * 128) whatever the machine.
INTEGER_INPUT_SCALE = 1.0 / 128


def _random_network(rng: np.random.Generator, name: str) -> Network:
    c = int(rng.choice([1, 1, 1, 2, 3, 3, 4, 5, 8, 9, 12, 16]))
    h = int(rng.integers(4, 33))
    w = h if rng.random() < 0.7 else int(rng.integers(4, 33))
    shape = (c, h, w)
    layers: list = []
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(1, 8))
        kernel = (k, k) if rng.random() < 0.8 else (k, int(rng.integers(1, 8)))
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) if rng.random() < 0.3 else int(rng.integers(1, 3))
        padding = int(rng.integers(0, 4))
        out = int(rng.integers(1, 41))
        (kh, kw), (sh, sw) = kernel, pair(stride)
        oh, ow = (shape[1] + 2 * padding - kh) // sh + 1, (shape[2] + 2 * padding - kw) // sw + 1
        if shape[1] + 2 * padding < kh or shape[2] + 2 * padding < kw:
            raise _Retry
        relu = rng.random() < 0.8
        layers.append(Conv2d(_int_weights(rng, (out, shape[0], kh, kw)), *_placeholder_requant(out),
                             stride=stride, padding=padding, output_zero_point=_zero_point(rng, relu)))
        shape = (out, oh, ow)
        if relu:
            layers.append(ReLU())
        if rng.random() < 0.6:
            pk = int(rng.integers(1, 4))
            ps = int(rng.integers(1, 4))
            if min(shape[1:]) >= pk:
                layers.append((MaxPool2d if rng.random() < 0.6 else AvgPool2d)(pk, ps))
                shape = (shape[0], (shape[1] - pk) // ps + 1, (shape[2] - pk) // ps + 1)
                if rng.random() < 0.15:
                    layers.append(ReLU())
    if rng.random() < 0.9:
        layers.append(Flatten())
        features = int(np.prod(shape))
        n_dense = int(rng.integers(1, 4))
        for i in range(n_dense):
            out = int(rng.integers(1, 130))
            relu = i + 1 < n_dense or rng.random() < 0.2
            layers.append(Linear(_int_weights(rng, (out, features)), *_placeholder_requant(out),
                                 output_zero_point=_zero_point(rng, relu)))
            features = out
            if relu:
                layers.append(ReLU())
    calibration = rng.integers(-128, 128, (8, c, h, w)).astype(np.int8)
    return integer_network((c, h, w), layers, calibration, rng, name=name,
                           input_zero_point=_zero_point(rng, rng.random() < 0.5))


def _zero_point(rng: np.random.Generator, relu: bool) -> int:
    """A tensor's zero point: after a ReLU mostly -128 (unsigned, as quantizers make it), else
    mostly 0 (signed); now and then any value, the far ends included."""
    u = rng.random()
    if u < 0.6:
        return -128 if relu else 0
    if u < 0.75:
        return 0 if relu else -128
    return int(rng.choice([-128, 127])) if u < 0.8 else int(rng.integers(-128, 128))


def _int_weights(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """int8 weights, zero about one time in eight (sparse rows and columns happen); now and then
    all within 4 or 2 bits, and now and then with most 8x8 blocks zero (some whole output
    groups), so that compiled programs carry narrow weights and occupancy maps."""
    w = rng.integers(-127, 128, shape)
    w[rng.integers(0, 8, shape) == 0] = 0
    u = rng.random()
    if u < 0.3:
        w >>= 4 if u < 0.2 else 6  # [-8, 7] or [-2, 1]: 4- or 2-bit weights
    if rng.random() < 0.3:
        _zero_blocks(rng, w, float(rng.uniform(0.3, 0.95)))
    return w.astype(np.int8)


def _zero_blocks(rng: np.random.Generator, w: np.ndarray, fraction: float) -> None:
    """Zero about ``fraction`` of ``w``'s 8x8 blocks (8 outputs x 8 inputs at one kernel
    position), and sometimes every block of an output group."""
    out, fan = w.shape[0], w.shape[1]
    gout, gin = -(-out // 8), -(-fan // 8)
    taps = w.shape[2:]
    drop = rng.random((gout, gin) + taps) < fraction
    if gout > 1 and rng.random() < 0.5:
        drop[int(rng.integers(0, gout))] = True  # an output group with no block at all
    for index in zip(*np.nonzero(drop)):
        g, i, tap = index[0], index[1], tuple(index[2:])
        w[(slice(8 * g, 8 * g + 8), slice(8 * i, 8 * i + 8)) + tap] = 0


def _placeholder_requant(out: int) -> tuple:
    """Bias, multiplier and shift until :func:`integer_network` calibrates them."""
    return np.zeros(out, np.int32), np.ones(out, np.int64), np.zeros(out, np.int64)


def integer_network(input_shape: tuple, layers: list, calibration: np.ndarray, rng: np.random.Generator, *,
                    name: str = "network", input_zero_point: int = 0) -> Network:
    """Give each Conv2d/Linear of ``layers`` (int8 weights and output zero points already set)
    a random bias and a requantization that maps its accumulators on the int8
    ``calibration`` images to about the int8 range, per output channel, sometimes a little
    beyond it (so outputs saturate): the peak to 127 steps from 0, or 255 for an unsigned
    output (zero point -128).  Integer arithmetic throughout: the golden model's sums are exact."""
    x, z = calibration, input_zero_point
    for layer in layers:
        if isinstance(layer, (Conv2d, Linear)):
            conv = isinstance(layer, Conv2d)
            centred = x.astype(np.int16) - z
            acc = (golden.conv2d(centred, layer.weight, layer.stride, layer.padding) if conv
                   else golden.linear(centred, layer.weight))
            out = layer.weight.shape[0]
            fan_in = int(np.prod(layer.weight.shape[1:]))
            layer.bias = rng.integers(-64 * fan_in, 64 * fan_in + 1, out).astype(np.int32)
            axes = (0, 2, 3) if conv else (0,)
            bias = layer.bias.astype(np.int64).reshape((1, -1) + (1, 1) * conv)
            peak = np.abs(acc + bias).max(axis=axes)
            # multiplier / 2**shift = k / 128 * steps / peak, k in [96, 160): the peak lands at
            # 0.75x to 1.25x of `steps`; 2**shift >= 2**15 * peak (2**14 for 255 steps) keeps
            # 20+ significant bits and the multiplier below 2**24.
            z = layer.output_zero_point
            steps = 255 if z == -128 else 127
            extra = 14 if steps == 255 else 15
            shift = np.array([int(p).bit_length() + extra for p in np.maximum(peak, 1)], np.int64)
            k = rng.integers(96, 160, out)
            layer.multiplier = np.array([(int(ki) * steps << int(si)) // (128 * max(int(p), 1))
                                         for ki, si, p in zip(k, shift, peak)], np.int64)
            layer.shift = shift
            layer.weight_scale = np.full(out, 1.0 / 127)
            x = golden.requantize(acc + bias, layer.multiplier, layer.shift, z)
        else:
            x = golden._shape_layer(layer, x, z)
    net = Network(tuple(input_shape), layers, input_scale=INTEGER_INPUT_SCALE, input_zero_point=input_zero_point,
                  name=name)
    _derive_scales(net)
    return net


def _derive_scales(net: Network) -> None:
    """Float output scales consistent with the integer requantization (for run_float and
    dequantize_output); no program byte depends on them."""
    scale = net.input_scale
    for layer in net.layers:
        if isinstance(layer, (Conv2d, Linear)):
            factor = layer.multiplier.astype(np.float64) / np.exp2(layer.shift.astype(np.float64))
            layer.output_scale = float(np.mean(scale * layer.weight_scale / np.maximum(factor, 1e-30)))
            scale = layer.output_scale
