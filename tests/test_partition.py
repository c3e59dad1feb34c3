"""A network cut into pipeline stages: the stages chained are the network, bit for bit, and the
cuts the cycle model picks balance the stages."""
import itertools

import numpy as np
import pytest

import streamcnn
from streamcnn import compiler, golden, models, partition, zoo
from streamcnn.errors import LimitError, NetworkError
from streamcnn.network import Flatten, Linear, ReLU

from conftest import images


def chained(stages, x):
    for stage in stages:
        x = golden.run(stage, partition.stage_input(stage, x) if stage is not stages[0] else x)
    return x


@pytest.mark.parametrize("seed", range(12))
def test_every_cut_of_random_networks_is_exact(seed, caps):
    rng = np.random.default_rng([77, seed])
    net = zoo.random_network(rng, caps)
    x = images(rng, net, 3)
    expected = golden.run(net, x)
    for cut in partition.cut_points(net):
        stages = partition.split(net, [cut])
        np.testing.assert_array_equal(chained(stages, x), expected, err_msg=f"cut at {cut}")
        assert stages[1].input_zero_point == net.zero_points()[cut - 1]


def test_lenet5_every_two_cuts_on_the_device(device):
    net = models.load("lenet5-mnist")
    x, _ = streamcnn.datasets.test_set("mnist")
    x = x[:40]
    expected = golden.run(net, x)
    for cuts in itertools.combinations(partition.cut_points(net), 2):
        stages = partition.split(net, cuts)
        y = x
        for k, stage in enumerate(stages):
            y = device.load(stage).run(partition.stage_input(stage, y) if k else y)
        np.testing.assert_array_equal(y, expected, err_msg=f"cuts {cuts}")


def test_cut_points_keep_relu_fused_and_skip_after_flatten():
    net = models.load("lenet5-mnist")
    points = partition.cut_points(net)
    assert points == [2, 3, 5, 6, 9, 11]
    for i in points:
        assert not isinstance(net.layers[i], ReLU) and not isinstance(net.layers[i - 1], Flatten)
    with pytest.raises(NetworkError, match="cannot start a stage at layer 1"):
        partition.split(net, [1])
    with pytest.raises(NetworkError, match="distinct and ascending"):
        partition.split(net, [5, 3])


def test_a_stage_from_a_flat_tensor_flattens_an_f11_input():
    net = models.load("lenet5-mnist")
    first, second = partition.split(net, [9])
    assert second.input_shape == (120, 1, 1) and isinstance(second.layers[0], Flatten)
    assert isinstance(second.layers[1], Linear) and second.layers[1].name == net.layers[9].name


def test_each_stage_streams_only_its_own_weights(caps):
    net = models.load("lenet5-mnist")
    whole = compiler.compile_network(net, caps, 1).layer_bytes()
    for cuts in ([3], [6, 9]):
        parts = [compiler.compile_network(s, caps, 1).layer_bytes() for s in partition.split(net, cuts)]
        for layer in net.layers:
            if layer.name in whole and hasattr(layer, "weight"):
                owners = [p for p in parts if layer.name in p]
                assert len(owners) == 1 and owners[0][layer.name] == whole[layer.name]


def test_balanced_cuts_minimize_the_slowest_stage(caps):
    net = models.load("lenet5-mnist")
    plan = partition.balanced_cuts(net, caps, 2)
    assert plan.stage_seconds == [partition.seconds_per_image(s, caps) for s in partition.split(net, plan.cuts)]
    for cut in partition.cut_points(net):
        others = [partition.seconds_per_image(s, caps) for s in partition.split(net, [cut])]
        assert max(plan.stage_seconds) <= max(others)
    whole = partition.seconds_per_image(net, caps)
    assert plan.images_per_second > 1.5 / whole  # two balanced stages beat one board by far
    assert partition.balanced_cuts(net, caps, 1).cuts == []


def test_balanced_cuts_errors(caps):
    net = models.load("lenet5-mnist")
    with pytest.raises(NetworkError, match="at most 7 stages"):
        partition.balanced_cuts(net, caps, 8)
    with pytest.raises(NetworkError, match="positive integer"):
        partition.balanced_cuts(net, caps, 0)
    import dataclasses

    tiny = dataclasses.replace(caps, max_dim=16)
    with pytest.raises(LimitError):
        partition.balanced_cuts(net, tiny, 2)  # the first stage's 32 x 32 input fits no split
