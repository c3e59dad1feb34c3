"""Each layer kind alone on the simulator, across its edge cases, bit-exact with the golden model."""
import numpy as np
import pytest

from streamcnn import golden, zoo
from streamcnn.network import AvgPool2d, Flatten, MaxPool2d, ReLU
from streamcnn.quantization import FloatConv2d, FloatLinear, quantize

from conftest import images, roomy_network


def build(rng, shape, layers):
    return quantize(shape, layers, rng.uniform(-1, 1, (8,) + shape).astype(np.float32))


def conv(rng, cin, cout, k, stride=1, padding=0):
    k = (k, k) if isinstance(k, int) else k
    return FloatConv2d(rng.normal(0, 0.3, (cout, cin) + k), rng.normal(0, 0.2, cout), stride, padding)


def check(device, net, x, batch=None, **compile_options):
    prog = device.load(net, batch=batch, **compile_options)
    out = prog.run(x)
    expected = golden.run(net, x)
    assert out.dtype == np.int8 and out.shape == expected.shape
    assert np.array_equal(out, expected), f"{int((out != expected).sum())} of {out.size} outputs differ"
    assert len(np.unique(expected)) > 1, "degenerate test: constant output"
    return prog


CONV_CASES = [
    # cin, cout, kernel, stride, padding, (h, w)
    (1, 6, 5, 1, 0, (32, 32)),       # LeNet's first layer
    (1, 1, 1, 1, 0, (5, 5)),         # 1x1 kernel, one channel
    (3, 16, 3, 1, 1, (32, 32)),      # SVHN first layer, padding
    (8, 8, 3, 2, 1, (9, 9)),         # exact groups, stride 2, odd size
    (9, 17, 3, 1, 0, (7, 11)),       # channels off multiples of 8, non-square input
    (5, 3, 7, 2, 3, (13, 13)),       # largest kernel and padding
    (4, 12, (5, 2), (2, 1), (1, 0), (11, 8)),  # rectangular kernel/stride/padding
    (2, 9, (1, 7), 1, (0, 3), (6, 10)),
    (64, 20, 7, 1, 3, (8, 8)),       # 392 blocks per output group: 1 group per tile, 3 tiles
    (40, 100, 3, 1, 1, (6, 6)),      # tiles that do not divide the groups evenly
    (3, 5, 2, 2, 0, (4, 4)),         # output 2x2
    (1, 4, 4, 1, 3, (1, 1)),         # 1x1 input, all padding around it
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(c) for c in CONV_CASES])
@pytest.mark.parametrize("packing", [True, False], ids=["columns-packed", "plain"])
def test_conv(any_config, rng, case, packing):
    cin, cout, k, stride, pad, (h, w) = case
    net = build(rng, (cin, h, w), [conv(rng, cin, cout, k, stride, pad)])
    prog = check(any_config, net, images(rng, net, 5), batch=2, column_packing=packing)
    packed = cin * prog.network.layers[0].kernel_size[1] <= 8 and prog.network.layers[0].kernel_size[1] > 1
    assert (prog.compiled.columns is not None) == (packing and packed)


def test_conv_relu_fused_and_tiles_counted(device, rng):
    net = build(rng, (64, 8, 8), [conv(rng, 64, 20, 7, 1, 3), ReLU()])
    prog = check(device, net, images(rng, net, 3), batch=1)
    out = golden.run(net, images(rng, net, 2))
    assert net.output_zero_point == -128 and out.min() == -128  # unsigned after the ReLU, clamped at its zero point
    (counters,) = prog.last.counters
    assert counters.tiles == 3 and counters.opcode == 0x20


@pytest.mark.parametrize("pool", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("k,s,h,w", [(2, 2, 8, 8), (2, 2, 9, 7), (3, 3, 10, 10), (3, 1, 6, 9), (2, 3, 11, 11),
                                     (1, 1, 4, 4), (3, 2, 3, 3)])
def test_pool(device, rng, pool, k, s, h, w):
    net = build(rng, (11, h, w), [conv(rng, 11, 10, 1), pool(k, s)])
    check(device, net, images(rng, net, 3), batch=3)


def test_standalone_relu_everywhere(device, rng):
    net = build(rng, (3, 12, 12), [ReLU(), conv(rng, 3, 7, 3), MaxPool2d(2), ReLU(), Flatten(), ReLU(),
                                   FloatLinear(rng.normal(0, 0.3, (5, 175)))])
    check(device, net, images(rng, net, 4), batch=2)


@pytest.mark.parametrize("fin,fout", [(1, 1), (7, 9), (64, 10), (400, 120), (1000, 17), (1024, 1024), (37, 1024)])
def test_linear(device, rng, fin, fout):
    net = build(rng, (fin, 1, 1), [Flatten(), FloatLinear(rng.normal(0, 1 / np.sqrt(fin), (fout, fin)),
                                                          rng.normal(0, 0.1, fout))])
    check(device, net, images(rng, net, 3), batch=2)


def test_flatten_order_is_pytorch_chw(device, rng):
    """C = 13 channels of 3x4: on chip the channels are padded to 16 and interleaved;
    the compiler permutes the Linear's columns so PyTorch's (c, y, x) order holds."""
    net = build(rng, (13, 3, 4), [Flatten(), FloatLinear(rng.normal(0, 0.2, (6, 156)))])
    check(device, net, images(rng, net, 3))
    # one-hot rows of the weight pick single inputs, in PyTorch's flatten order
    lin = net.layers[1]
    lin.weight[:] = 0
    lin.weight[np.arange(6), [0, 1, 12, 13, 100, 155]] = 1
    lin.bias[:] = 0
    lin.multiplier[:], lin.shift[:] = 1 << 20, 20
    q = np.arange(156, dtype=np.int8).reshape(1, 13, 3, 4) - 60
    out = check(device, net, q).run(q)
    picked = q.reshape(-1)[[0, 1, 12, 13, 100, 155]].astype(int) - net.input_zero_point + lin.output_zero_point
    assert out.ravel().tolist() == np.clip(picked, -128, 127).tolist()


def test_network_ending_in_conv_returns_nchw(device, rng):
    net = build(rng, (2, 6, 6), [conv(rng, 2, 3, 3)])
    out = check(device, net, images(rng, net, 2))
    assert out.run(images(rng, net, 2)).shape == (2, 3, 4, 4)


def test_batches_padding_single_images_and_int8_input(device, rng):
    net = zoo.lenet5(7)
    x = images(rng, net, 11)
    prog = device.load(net, batch=4)
    out = prog.run(x)
    assert np.array_equal(out, golden.run(net, x))
    assert prog.last.batches == 3 and prog.last.images == 11
    assert np.array_equal(prog.run(x[0]), out[0])  # unbatched in, unbatched out
    q = net.quantize_input(x)
    assert np.array_equal(prog.run(q), out)  # int8 passes as it is


def test_every_layer_output(device, rng):
    net = zoo.svhn_cnn(2)
    x = images(rng, net, 3)
    outs = device.load(net).run(x, all_layers=True)
    names = [layer.name for layer in net.layers]
    expected = golden.run(net, x, all_layers=True)
    assert len(outs) == 10  # 3 conv+relu, 3 pools, the flatten, 3 dense
    for name, out in outs.items():
        assert np.array_equal(out, expected[names.index(name)]), name


def test_default_batch_fills_the_buffers(device):
    net = zoo.lenet5()
    prog = device.load(net)
    # conv1 and pool1 image chunk by image chunk (a segment), conv1 column-packed: 37 images
    # (896 words for one image's input, then 37 x 196 of pool1's outputs), where the whole
    # batch's 1,024 input words each would allow 8
    assert prog.batch == net.max_batch(device.caps) == 37 and prog.compiled.segment is not None
    assert prog.compiled.columns is not None
    assert net.max_batch(device.caps, segments=False) == device.caps.act_words // 1024


def test_the_large_buffer_variant_takes_what_the_shipped_one_refuses(rng):
    """mac64's doubled activation buffers hold a 16 x 80 x 80 activation (12,800 words); mac256's
    8,192-word buffers refuse the network at load time, naming the limit."""
    import streamcnn
    from streamcnn.errors import LimitError

    net = roomy_network()
    x = rng.uniform(0, 1, (3, 1, 80, 80)).astype(np.float32)
    with streamcnn.open_device("sim", config="mac256") as fast, streamcnn.open_device("sim", config="mac64") as roomy:
        with pytest.raises(LimitError, match="act_words"):
            fast.load(net)
        program = roomy.load(net)
        np.testing.assert_array_equal(program.run(x), golden.run(net, x))
