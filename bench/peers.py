#!/usr/bin/env python3
"""streamcnn against its peers on one LeNet-5 and the same MNIST images, in one process.

Images per second of: the streamcnn simulator, the streamcnn golden model, a NumPy
float implementation (the golden model's float path), PyTorch on the CPU (if
installed) and hls4ml's C simulation of the same LeNet-5 (if hls4ml is installed,
pip install -e ".[bench]": its compile() and predict()).  Prints JSON.  The host's own
work per batch is bench/host.py's.

    python bench/peers.py [--images 2048] [--repeats 3]
"""
import argparse
import contextlib
import json
import os
import platform
import sys
import time

import numpy as np

import streamcnn
from streamcnn import datasets, golden, models


def torch_model(net):
    """The float model behind ``net`` (dequantized weights and biases) as a PyTorch module."""
    import torch

    layers, scale = [], net.input_scale
    for layer in net.layers:
        kind = type(layer).__name__
        if kind in ("Conv2d", "Linear"):
            ws = layer.weight_scale
            w = torch.tensor(layer.weight * ws.reshape((-1,) + (1,) * (layer.weight.ndim - 1)), dtype=torch.float32)
            if kind == "Conv2d":
                m = torch.nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=layer.stride,
                                    padding=layer.padding)
            else:
                m = torch.nn.Linear(w.shape[1], w.shape[0])
            m.weight.data = w
            m.bias.data = torch.tensor(layer.bias * scale * ws, dtype=torch.float32)
            scale = layer.output_scale
        elif kind in ("MaxPool2d", "AvgPool2d"):
            m = getattr(torch.nn, kind)(layer.kernel_size, layer.stride)
        else:
            m = getattr(torch.nn, kind)()
        layers.append(m)
    return torch.nn.Sequential(*layers).eval()


@contextlib.contextmanager
def stdout_to_stderr():
    """hls4ml prints progress, and so does its compiler subprocess: keep stdout for the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def hls4ml_rate(net, x, repeats):
    """hls4ml's C simulation of the same (float) LeNet-5: io_stream, its PyTorch frontend;
    compile() in a temporary directory, then predict().  ap_fixed<24,10> holds this
    network's activations (ap_fixed<16,6> wraps around at +-32 and gets logits wrong)."""
    import tempfile

    import hls4ml

    model = torch_model(net)
    config = hls4ml.utils.config_from_pytorch_model(model, input_shape=net.input_shape, granularity="model",
                                                    default_precision="ap_fixed<24,10>")
    with tempfile.TemporaryDirectory() as tmp, stdout_to_stderr():
        start = time.perf_counter()
        hls_model = hls4ml.converters.convert_from_pytorch_model(model, hls_config=config, output_dir=tmp,
                                                                 io_type="io_stream", backend="Vivado")
        hls_model.compile()
        compile_s = time.perf_counter() - start
        channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        seconds = best(lambda: hls_model.predict(channels_last), repeats)
        error = np.abs(hls_model.predict(channels_last[:64]).reshape(64, -1) - golden.run_float(net, x[:64])).max()
    note = (f"hls4ml {hls4ml.__version__}, io_stream, ap_fixed<24,10>, compile {compile_s:.1f} s; "
            f"largest difference from the float model {error:.3f}")
    return len(x) / seconds, note


def best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    net = models.load("lenet5-mnist")
    x, labels = datasets.test_set("mnist")
    x, labels = x[:args.images], labels[:args.images]
    n = len(x)
    rates, notes = {}, {}

    sim = streamcnn.open_device("sim")
    program = sim.load(net)
    out = program.run(x)
    exact = bool(np.array_equal(out, golden.run(net, x)))
    rates["streamcnn_sim"] = n / best(lambda: program.run(x), args.repeats)
    rates["streamcnn_golden"] = n / best(lambda: golden.run(net, x), args.repeats)
    rates["numpy_float"] = n / best(lambda: golden.run_float(net, x), args.repeats)

    try:
        import torch

        tm = torch_model(net)
        xt = torch.tensor(x)
        with torch.no_grad():
            same = np.abs(tm(xt).numpy() - golden.run_float(net, x)).max() < 1e-3
            rates["pytorch_cpu"] = n / best(lambda: tm(xt), args.repeats)
        notes["pytorch_cpu"] = (f"torch {torch.__version__}, {torch.get_num_threads()} threads, one batch of {n}; "
                                f"same outputs as numpy_float: {bool(same)}")
    except ImportError:
        notes["pytorch_cpu"] = "not installed"

    try:
        rates["hls4ml_csim"], notes["hls4ml_csim"] = hls4ml_rate(net, x, args.repeats)
    except ImportError as e:
        notes["hls4ml_csim"] = f"not installed ({e.name}): pip install -e '.[bench]'"

    report = {
        "network": "lenet5-mnist", "images": n, "bit_exact": exact,
        "images_per_s": {k: round(v, 1) for k, v in rates.items()},
        "ratio_sim_to": {k: round(rates["streamcnn_sim"] / v, 2) for k, v in rates.items() if k != "streamcnn_sim"},
        "notes": notes,
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
