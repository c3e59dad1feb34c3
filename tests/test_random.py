"""200 random LeNet-like topologies: the device equals the golden model bit for bit."""
from streamcnn import smoke


def test_200_random_topologies_bit_exact(any_config):
    report = smoke.run(any_config, 200, seed=1)
    assert report["failures"] == []
    assert report["topologies"] == 200 and report["mismatches"] == 0 and report["ok"]
    assert any_config.caps.config == any_config.config


def test_topologies_are_reproducible(device):
    a, _, xa = smoke.topology(1, 17, device)
    b, _, xb = smoke.topology(1, 17, device)
    assert a.summary() == b.summary() and (xa == xb).all()
