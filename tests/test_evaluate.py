"""Evaluation helpers: confusion matrices, per-layer comparisons, bytes per layer; Fashion-MNIST."""
import numpy as np
import pytest

from streamcnn import compiler, datasets, evaluate, models, protocol as P, smoke, zoo


def test_confusion_matrix_counts_pairs():
    counts = evaluate.confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 1, 2, 2, 2, 0]))
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 2]]
    assert evaluate.confusion_matrix(np.array([0]), np.array([0]), classes=4).shape == (4, 4)


def test_compare_layers_reports_every_accelerator_layer(device):
    net = zoo.lenet5(4)
    x = np.random.default_rng(0).uniform(-1, 1, (16,) + net.input_shape).astype(np.float32)
    rows = evaluate.compare_layers(net, device, x)
    assert len(rows) == len(compiler.lower(net))
    assert all(r["device_vs_golden_mismatches"] == 0 for r in rows)
    # the first layer's error is rounding alone (RMS of a uniform half-step error: 1/sqrt(12)),
    # its own and its input's (which the asymmetric input range also clips by up to half a step
    # at its ends, where the zero point's rounding moved it); later layers carry their inputs' errors
    assert 0.2 < rows[0]["rms_error_steps"] < 0.4 and rows[0]["max_error_steps"] <= 1.5
    assert all(r["rms_error_steps"] < 3 for r in rows)


def test_layer_bytes_add_up_to_the_program(caps):
    net = zoo.svhn_cnn()
    prog = compiler.compile_network(net, caps, batch=2)
    sizes = prog.layer_bytes()
    assert list(sizes) == [hw.names[0] for hw in compiler.lower(net)]
    others = [p for p in prog.packets if p.layer is None]
    assert {p.opcode for p in others} <= {P.Op.SEGMENT, P.Op.INPUT, P.Op.OUTPUT, P.Op.END}
    rest = sum(8 * (1 + p.length) for p in others)
    assert sum(sizes.values()) + rest + 8 * P.C["SCNN_HDR_WORDS"] == prog.nbytes
    dense = [name for name in sizes if name.startswith("linear")]
    assert sizes[dense[0]] >= 42 * 96  # at least its int8 weights (42 x 96, padded to whole 8x8 blocks)


def test_fashion_mnist_test_set():
    x, y = datasets.test_set("fashion-mnist")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.bincount(y).tolist() == [1000] * 10
    assert len(datasets.FASHION_MNIST_LABELS) == 10


def test_fashion_mnist_training_split_comes_from_debian(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist("train", root=tmp_path)


def test_shipped_fashion_model(device):
    net = models.load("fashion-cnn")
    assert net.metadata["dataset"] == "fashion-mnist" and net.metadata["labels"] == datasets.FASHION_MNIST_LABELS
    x, y = datasets.test_set("fashion-mnist")
    report = evaluate.evaluate(net, device, x[:1000], y[:1000])
    assert report["device_vs_golden_mismatches"] == 0 and report["accuracy_device"] > 0.85


@pytest.mark.parametrize("call,match", [
    (lambda dev, net, x, y: evaluate.evaluate(net, dev, x, y, batch=0), "batch must be a positive integer, got 0"),
    (lambda dev, net, x, y: evaluate.evaluate(net, dev, x, y, batch=-1), "batch must be a positive integer"),
    (lambda dev, net, x, y: evaluate.evaluate(net, dev, x, y, batch=2.5), "batch must be an integer"),
    (lambda dev, net, x, y: evaluate.evaluate(net, dev, x, y[:3]), "4 images but 3 labels"),
    (lambda dev, net, x, y: evaluate.evaluate(net, dev, x[:0], y[:0]), "non-empty"),
    (lambda dev, net, x, y: smoke.run(dev, -1), "count must be an integer of at least 0, got -1"),
    (lambda dev, net, x, y: smoke.run(dev, 1, seed=-1), "seed must be an integer of at least 0"),
    (lambda dev, net, x, y: smoke.run(dev, 1, only=[2, -3]), "topology index must be an integer of at least 0"),
    (lambda dev, net, x, y: smoke.lenet5(dev, 0), "count must be a positive integer, got 0"),
    (lambda dev, net, x, y: smoke.lenet5(dev, -5), "count must be a positive integer, got -5"),
    (lambda dev, net, x, y: smoke.lenet5(dev, 5, latency_runs=0), "latency_runs must be a positive integer"),
])
def test_the_api_under_the_cli_refuses_bad_counts(device, call, match):
    from streamcnn.errors import InputError

    net = models.load("lenet5-mnist")
    x, y = datasets.test_set("mnist")
    with pytest.raises(InputError, match=match):
        call(device, net, x[:4], y[:4])


def test_lenet5_smoke_reports_the_digits_it_ran(device, monkeypatch):
    real = datasets.test_set
    monkeypatch.setattr(datasets, "test_set", lambda name, shape=None: tuple(a[:6] for a in real(name, shape)))
    report = smoke.lenet5(device, 50, latency_runs=2)  # more than there are: all of them, and says so
    assert report["images"] == 6 and report["mismatches"] == 0
