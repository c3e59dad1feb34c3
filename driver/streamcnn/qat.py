"""Quantization-aware training for streamcnn's int8 scheme (needs PyTorch).

:func:`fake_quantize_model` wraps an ``nn.Sequential`` so that, while it trains,
every Conv2d/Linear sees its weights rounded to int8 with one scale per output
channel, and the input and every Conv2d/Linear output (after the ReLU that
follows it) are rounded to int8 with a calibrated per-tensor scale and zero point
(:func:`streamcnn.quantization.activation_params`: unsigned after a ReLU): the
rounding streamcnn applies, with straight-through gradients.  After fine-tuning,
``float_model()`` is the plain model (sharing the trained weights) to hand to
:func:`streamcnn.from_torch`.
"""
from __future__ import annotations

import numpy as np

from .quantization import activation_params, weight_levels

try:
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover
    raise ImportError("quantization-aware training needs PyTorch: pip install 'streamcnn[torch]'") from None


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


def fake_quant(x: torch.Tensor, scale: torch.Tensor, low: int = -128, high: int = 127,
               zero_point: int = 0) -> torch.Tensor:
    """scale * (clamp(round(x / scale) + zero_point) - zero_point), gradient passed straight
    through the rounding (and stopped where the clamp saturates)."""
    return (torch.clamp(_RoundSTE.apply(x / scale) + zero_point, low, high) - zero_point) * scale


class _QuantWeights(nn.Module):
    """A Conv2d or Linear whose weights are fake-quantized per output channel to ``bits``."""

    def __init__(self, layer: nn.Module, bits: int = 8):
        super().__init__()
        self.layer = layer
        self.levels = weight_levels(bits)

    def forward(self, x):
        w = self.layer.weight
        peak = w.detach().abs().flatten(1).amax(1).clamp_min(1e-12)
        scale = (peak / self.levels).view(-1, *([1] * (w.dim() - 1)))
        wq = fake_quant(w, scale, -self.levels, self.levels)
        if isinstance(self.layer, nn.Conv2d):
            return self.layer._conv_forward(x, wq, self.layer.bias)
        return nn.functional.linear(x, wq, self.layer.bias)


class _QuantActivations(nn.Module):
    """Fake-quantizes a tensor with a fixed, calibrated scale and zero point."""

    def __init__(self, scale: float, zero_point: int = 0):
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))
        self.zero_point = int(zero_point)

    def forward(self, x):
        return fake_quant(x, self.scale, zero_point=self.zero_point)


class FakeQuantized(nn.Sequential):
    def __init__(self, layers, original: nn.Sequential):
        super().__init__(*layers)
        self._original = [original]  # not a submodule: parameters are shared, not duplicated

    def float_model(self) -> nn.Sequential:
        """The plain model, with the weights trained under fake quantization."""
        return self._original[0]


def fake_quantize_model(model: nn.Sequential, calibration_images: np.ndarray, input_scale: float = None,
                        input_zero_point: int = 0, weight_bits=8) -> FakeQuantized:
    """Wrap ``model`` for quantization-aware fine-tuning; scales and zero points come from the
    calibration images as :func:`streamcnn.quantize` takes them (the input's too, unless
    ``input_scale`` and ``input_zero_point`` are given, as to :func:`streamcnn.from_torch`).
    Weights are fake-quantized to ``weight_bits`` (8, 4 or 2, or a list with one width per
    Conv2d/Linear in order), as ``from_torch(..., weight_bits=)`` will quantize them."""
    if not isinstance(model, nn.Sequential):
        raise TypeError("fake_quantize_model takes an nn.Sequential")
    mods = list(model)
    images = np.asarray(calibration_images, np.float32)
    layers: list = [_QuantActivations(*(activation_params(images) if input_scale is None
                                        else (input_scale, input_zero_point)))]
    x = torch.tensor(images)
    n_weighted = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in mods)
    widths = list(weight_bits) if isinstance(weight_bits, (list, tuple)) else [weight_bits] * n_weighted
    if len(widths) != n_weighted:
        raise ValueError(f"weight_bits has {len(widths)} widths for {n_weighted} Conv2d/Linear layers")
    widths = iter(widths)
    model.eval()
    with torch.no_grad():
        for i, m in enumerate(mods):
            x = m(x)
            quantized = isinstance(m, (nn.Conv2d, nn.Linear))
            layers.append(_QuantWeights(m, next(widths)) if quantized else m)
            ends_block = quantized and not (i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU))
            if ends_block or (isinstance(m, nn.ReLU) and i > 0 and isinstance(mods[i - 1], (nn.Conv2d, nn.Linear))):
                layers.append(_QuantActivations(*activation_params(x.numpy())))
    return FakeQuantized(layers, model)
