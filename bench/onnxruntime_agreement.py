#!/usr/bin/env python3
"""How closely streamcnn runs onnxruntime QDQ models: output agreement in int8 steps (LSBs).

For the trained LeNet-5 (the shipped lenet5-mnist rebuilt in float, on MNIST test images) and
five random-weight LeNet-like networks (tests/ort_models.py), each quantized by onnxruntime's
quantize_static (QDQ, int8 weights; per-channel and per-tensor, QInt8 and QUInt8 activations),
it imports the model with streamcnn.from_onnx, runs it on the simulator and compares with
onnxruntime's fused CPU graph, in streamcnn's int8 domain (onnxruntime's uint8 minus 128).

Per model it prints: the fraction of output values identical, the largest and the mean
|difference| in LSBs, top-1 agreement; whether the device equals streamcnn's golden model and a
NumPy emulation of exact fixed-point numerics (its "fixed" column), and whether a NumPy
emulation of onnxruntime's kernels equals onnxruntime (the harness's own check).  For networks
with average pooling it attributes differences: "ties" counts the AveragePool outputs whose
window sum is an odd multiple of n/2 and how many of them onnxruntime's float32 kernel rounds
away from the integer mean (half to even); "from ties" the output values that differ from
onnxruntime but equal it once its AveragePool is replaced by the integer mean.

reduce_range=False models (8-bit weights) run only on VNNI x86 or ARM machines, where
onnxruntime's u8s8 sums are exact (docs/onnxruntime-qdq.md section 4).

    python bench/onnxruntime_agreement.py [--images 1000] [--networks ...] [--device sim|golden] [--json]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import ort_models as om  # noqa: E402

import streamcnn  # noqa: E402
from streamcnn import golden  # noqa: E402

TRAINED = "lenet5-mnist"


def measure(case_name, path, calibration, x, labels, device) -> dict:
    ort_model = om.OrtModel(path)
    q = ort_model.run(x)
    reference = om.to_streamcnn(q)
    net = om.import_qdq(path, calibration)
    expected = golden.run(net, x)
    out = device.load(net).run(x) if device is not None else expected
    c = om.compare(out, reference)
    emulated_ort = om.emulate(path, x).astype(q.dtype)
    fixed = om.emulate_streamcnn(path, x)
    row = {
        "model": path.stem, "network": case_name, "images": int(len(x)), **c,
        "device_equals_golden": bool(np.array_equal(out, expected)),
        "device_equals_fixed_point_emulation": bool(np.array_equal(out, fixed)),
        "fixed_point_emulation": om.compare(fixed, reference),
        "emulation_equals_onnxruntime": bool(np.array_equal(emulated_ort, q)),
        "quantization_kept": om.quantization_matches(net, ort_model, om.qdq_chain(path)[0]),
        "onnxruntime_output": f"{q.dtype} scale {float(ort_model.scale):.6g} zero point {ort_model.zero_point}",
    }
    if labels is not None:
        row["accuracy_streamcnn"] = float((out.argmax(1) == labels).mean())
        row["accuracy_onnxruntime"] = float((reference.argmax(1) == labels).mean())
    if om.has_avgpool(path):
        stats = {}
        om.emulate(path, x, stats=stats)
        integer_pool = om.to_streamcnn(om.emulate(path, x, avgpool="fixed").astype(q.dtype))
        differ = out != reference
        row["avgpool"] = {
            **stats,
            "outputs_differing_from_ties": int((differ & (out == integer_pool)).sum()),
            "outputs_differing_otherwise": int((differ & (out != integer_pool)).sum()),
            "against_onnxruntime_with_integer_avgpool": om.compare(out, integer_pool),
        }
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000, help="test images per model (default 1000)")
    p.add_argument("--calibration", type=int, default=64, help="calibration images (default 64)")
    p.add_argument("--networks", nargs="+", default=[TRAINED, *om.NETWORKS],
                   help=f"default: {TRAINED} {' '.join(om.NETWORKS)}")
    p.add_argument("--reduce-range", choices=["on", "off", "both"], default="both",
                   help="7-bit weights (on), 8-bit (off, VNNI/ARM only), or both (default; off skipped elsewhere)")
    p.add_argument("--device", choices=["sim", "golden"], default="sim",
                   help="run on the simulator (default) or only the golden model")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()

    exact, reason = om.exact_u8s8()
    ranges = {"on": [True], "off": [False], "both": [True, False]}[args.reduce_range]
    skipped = []
    if not exact and False in ranges:
        skipped.append(f"reduce_range=False: {reason}")
        ranges = [r for r in ranges if r]
    device = streamcnn.open_device("sim") if args.device == "sim" else None
    rows = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for name in args.networks:
            if name == TRAINED:
                module = om.trained_lenet5()[0]
                calibration, _ = om.mnist(args.calibration * 2, offset=5000)
                x, labels = om.mnist(args.images)
            else:
                module = om.torch_model(name)
                calibration = om.images(name, args.calibration, seed=1)
                x, labels = om.images(name, args.images, seed=2), None
            for rr in ranges:
                for per_channel, activation in om.CONFIGS:
                    path = om.build(module, folder, calibration, name, per_channel=per_channel, activation=activation,
                                    reduce_range=rr)
                    rows.append(measure(name, path, calibration, x, labels, device))
    if device is not None:
        device.close()
    report = {"rows": rows, "skipped": skipped, "seconds": round(time.perf_counter() - start, 1),
              "machine": f"{platform.machine()}, {reason}", "onnxruntime": __import__("onnxruntime").__version__,
              "device": args.device}
    if args.json:
        print(json.dumps(report))
        return
    print(f"streamcnn ({args.device}) against onnxruntime {report['onnxruntime']} ({report['machine']}), "
          f"output values in int8 steps")
    print(f"{'model':<40} {'images':>6} {'identical':>9} {'max':>4} {'mean':>7} {'top-1':>7} {'golden':>6} "
          f"{'fixed':>5} {'emu':>4}  average pooling")
    for r in rows:
        pool = ""
        if "avgpool" in r:
            a = r["avgpool"]
            pool = (f"ties {a['avgpool_ties']}/{a['avgpool_outputs']}, float rounds {a['avgpool_float_differs']} "
                    f"away; differing outputs: {a['outputs_differing_from_ties']} from ties, "
                    f"{a['outputs_differing_otherwise']} otherwise")
        yes = lambda b: "yes" if b else "NO"  # noqa: E731
        print(f"{r['model']:<40} {r['images']:>6} {r['identical']:>9.4f} {r['max_diff']:>4} {r['mean_diff']:>7.4f} "
              f"{r['top1']:>7.4f} {yes(r['device_equals_golden']):>6} "
              f"{yes(r['device_equals_fixed_point_emulation']):>5} {yes(r['emulation_equals_onnxruntime']):>4}  {pool}")
        if "accuracy_streamcnn" in r:
            print(f"{'':<40} accuracy on MNIST: streamcnn {r['accuracy_streamcnn']:.4f}, "
                  f"onnxruntime {r['accuracy_onnxruntime']:.4f}")
        if not all(r["quantization_kept"].values()):
            print(f"{'':<40} the import did not keep onnxruntime's scales/zero points: {r['quantization_kept']}")
    for s in skipped:
        print(f"skipped {s}")
    print(f"{report['seconds']} s")


if __name__ == "__main__":
    main()
