"""Quantization-aware training helpers: fake quantization in the places streamcnn quantizes."""
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="QAT needs PyTorch")
nn = torch.nn

from streamcnn import golden  # noqa: E402
from streamcnn.importers import from_torch  # noqa: E402
from streamcnn.qat import fake_quant, fake_quantize_model  # noqa: E402


def test_fake_quant_rounds_and_passes_gradients():
    x = torch.tensor([0.26, -0.74, 9.0, -9.0], requires_grad=True)
    y = fake_quant(x, torch.tensor(0.5), -4, 4)
    assert y.tolist() == [0.5, -0.5, 2.0, -2.0]
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 0.0, 0.0]  # straight through the rounding, not the saturation


def test_fake_quantized_model_trains_and_exports():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))
    calib = np.random.default_rng(0).uniform(0, 1, (16, 1, 8, 8)).astype(np.float32)
    q = fake_quantize_model(model, calib)
    kinds = [type(m).__name__ for m in q]
    assert kinds == ["_QuantActivations", "_QuantWeights", "ReLU", "_QuantActivations", "Flatten", "_QuantWeights",
                     "_QuantActivations"]
    before = model[0].weight.detach().clone()
    opt = torch.optim.SGD(q.parameters(), lr=0.1)
    loss = q(torch.tensor(calib)).pow(2).mean()
    loss.backward()
    opt.step()
    assert not torch.equal(before, model[0].weight)  # the original model's weights are the ones trained
    assert q.float_model() is model
    net = from_torch(q.float_model(), calib)
    with torch.no_grad():
        ref = q(torch.tensor(calib)).numpy()
    assert np.abs(net.dequantize_output(golden.run(net, calib)) - ref).max() < 8 * net.output_scale
