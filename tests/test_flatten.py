"""A Linear after a Flatten streams weights for real inputs only, whatever the channel count:
at the start of a network the host sends the images flattened; after a layer with channels
that do not fill the 8 lanes the accelerator packs them (FLATTEN).  Bit-exact throughout."""
import numpy as np
import pytest

from streamcnn import golden, protocol as P
from streamcnn.errors import LimitError
from streamcnn.lowering import flattened_order, lower
from streamcnn.network import Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU


def qconv(rng, cout, cin, k, **kw):
    return Conv2d(rng.integers(-127, 128, (cout, cin, k, k)).astype(np.int8), rng.integers(-500, 500, cout).astype(np.int32),
                  np.full(cout, 1 << 20), np.full(cout, 27), **kw)


def qlinear(rng, fout, fin):
    return Linear(rng.integers(-127, 128, (fout, fin)).astype(np.int8), rng.integers(-500, 500, fout).astype(np.int32),
                  np.full(fout, 1 << 20), np.full(fout, 28))


def images(rng, net, n):
    return rng.integers(-128, 128, (n,) + net.input_shape).astype(np.int8)


def weight_words(program):
    return program.compiled.stats["weight_words"]


def test_flatten_of_the_input_is_done_on_the_host(device, rng):
    """Flatten -> Linear(1024) on 1 x 32 x 32: 1,024 inputs, not 8,192 padded ones; the host
    sends them flattened and a FLATTEN pass lays the batch out for the Linear."""
    net = Network((1, 32, 32), [Flatten(), qlinear(rng, 10, 1024)])
    program = device.load(net, batch=3)
    assert [hw.op for hw in program.compiled.hw_layers] == [P.Op.FLATTEN, P.Op.FC]
    assert program.compiled.input_layout == (1024, 1, 1)
    assert weight_words(program) == 2 * 1024  # 2 output groups x 1024 inputs / 8 lanes x 8 words
    x = images(rng, net, 7)
    assert np.array_equal(program.run(x), golden.run(net, x))


@pytest.mark.parametrize("channels", [1, 3, 6, 12])
def test_flatten_after_a_conv_packs_the_lanes(device, rng, channels):
    net = Network((2, 12, 12), [qconv(rng, channels, 2, 3), ReLU(), MaxPool2d(2), Flatten(), qlinear(rng, 9, channels * 25),
                                ReLU(), qlinear(rng, 4, 9)])
    program = device.load(net, batch=2)
    ops = [hw.op for hw in program.compiled.hw_layers]
    assert ops == [P.Op.CONV, P.Op.POOL, P.Op.FLATTEN, P.Op.FC, P.Op.FC]
    fc = program.compiled.hw_layers[3]
    assert fc.in_shape == (channels * 25, 1, 1) and fc.blocks_per_group == -(-channels * 25 // 8)
    x = images(rng, net, 5)
    assert np.array_equal(program.run(x), golden.run(net, x))
    every = program.run(x, all_layers=True)
    expected = dict(zip([layer.name for layer in net.layers], golden.run(net, x, all_layers=True)))
    assert list(every) == ["relu1", "maxpool2d2", "flatten3", "relu5", "linear6"]  # each layer's last name
    for name, out in every.items():
        assert np.array_equal(out, expected[name]), name
    assert every["flatten3"].shape == (5, channels * 25)


def test_the_flatten_pass_is_counted_and_modeled(device, rng):
    from streamcnn import cycles

    net = Network((3, 9, 9), [qconv(rng, 5, 3, 3), Flatten(), qlinear(rng, 7, 245)])
    program = device.load(net, batch=4)
    program.run(images(rng, net, 4))
    counters = program.last.counters
    assert [c.opcode for c in counters] == [P.Op.CONV, P.Op.FLATTEN, P.Op.FC]
    assert repr(counters[1]).startswith("LayerCounters(FLATTEN, ")  # a name, not opcode=50
    modeled = cycles.model(program.compiled, device.caps)["layers"]
    assert counters[1].iterations == modeled[1]["iterations"] == 4 * (49 + 1)  # a word a step, a step per image


def test_a_flatten_pass_lays_out_every_dense_layers_input(rng):
    """Even when the lanes are full or the tensor is one pixel: a dense layer takes its input
    batch-innermost (its pixel slots are images), which only FLATTEN and dense layers write."""
    net = Network((16, 5, 5), [Flatten(), qlinear(rng, 3, 400)])
    assert [hw.op for hw in lower(net).layers] == [P.Op.FLATTEN, P.Op.FC]
    net = Network((3, 8, 8), [qconv(rng, 16, 3, 3), Flatten(), qlinear(rng, 3, 16 * 36)])
    assert [hw.op for hw in lower(net).layers] == [P.Op.CONV, P.Op.FLATTEN, P.Op.FC]
    net = Network((3, 8, 8), [qconv(rng, 5, 3, 8), Flatten(), qlinear(rng, 3, 5)])  # one pixel
    assert [hw.op for hw in lower(net).layers] == [P.Op.CONV, P.Op.FLATTEN, P.Op.FC]
    plan = lower(Network((3, 8, 8), [qconv(rng, 5, 3, 8), Flatten(), qlinear(rng, 4, 5), ReLU(), qlinear(rng, 3, 4)]))
    assert [(hw.op, hw.batch_inner) for hw in plan.layers] == [(P.Op.CONV, False), (P.Op.FLATTEN, True),
                                                               (P.Op.FC, True), (P.Op.FC, True)]


def test_the_flattened_order_is_dense():
    order = flattened_order((3, 2, 2))  # one group of 3 valid lanes per pixel
    assert order.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11, -1, -1, -1, -1]


def test_a_flatten_too_large_for_a_dense_layer_says_what_to_change(caps, rng):
    net = Network((1, 64, 70), [Flatten(), qlinear(rng, 2, 64 * 70)])
    with pytest.raises(LimitError, match=r"flatten0: flattened features is 4480, .* 4096 \(max_fc_in\); shrink the tensor"):
        net.check(caps)
    net = Network((1, 66, 66), [qconv(rng, 3, 1, 3), Flatten(), qlinear(rng, 2, 3 * 64 * 64)])
    with pytest.raises(LimitError, match=r"flatten1: flattened features is 12288, .* \(max_fc_in\); shrink"):
        net.check(caps)


@pytest.mark.parametrize("channels", [3, 5])
def test_a_relu_after_a_flatten_pass_reads_back_in_order(device, rng, channels):
    """Conv -> Flatten -> ReLU -> Linear: the ReLU runs on the packed features, and its output
    (all_layers=True) is read back in the network's order, not the chip's."""
    net = Network((1, 6, 6), [qconv(rng, channels, 1, 3), Flatten(), ReLU(), qlinear(rng, 5, channels * 16)])
    program = device.load(net, batch=1)
    assert [hw.op for hw in program.compiled.hw_layers] == [P.Op.CONV, P.Op.FLATTEN, P.Op.RELU, P.Op.FC]
    x = images(rng, net, 3)
    every = program.run(x, all_layers=True)
    expected = dict(zip([layer.name for layer in net.layers], golden.run(net, x, all_layers=True)))
    assert list(every) == ["conv2d0", "flatten1", "relu2", "linear3"]
    for name, out in every.items():
        assert np.array_equal(out, expected[name]), name
