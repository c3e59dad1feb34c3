"""The ``streamcnn`` command line."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, Sequence

from . import __version__
from .devices import DEVICES, open_device
from .errors import StreamCNNError


def _device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where to run: the board (pynq), the simulator (sim), or auto: the board when "
                        "present, else the simulator (default: auto)")
    p.add_argument("--bitfile", metavar="PATH",
                   help="the overlay's .bit, its .hwh beside it (pynq device; default: $STREAMCNN_BITFILE or "
                        "bitstreams/streamcnn.bit)")


def _open(args: argparse.Namespace):
    """The device the arguments ask for."""
    if not args.bitfile:
        return open_device(args.device)
    if args.device == "sim":
        raise StreamCNNError("--bitfile is for the pynq device; the simulator has no bitstream")
    return open_device("pynq", bitfile=args.bitfile)


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="lenet5-mnist",
                   help="shipped model name or .scnn path (default lenet5-mnist)")


def _json_arg(p: argparse.ArgumentParser, what: str = "print JSON") -> None:
    p.add_argument("--json", action="store_true", help=what)


def _print(report: dict, as_json: bool, text: str) -> None:
    print(json.dumps(report, indent=2) if as_json else text)


def cmd_info(args: argparse.Namespace) -> int:
    with _open(args) as dev:
        caps = dev.caps.as_dict()
    report = {"device": dev.name, "streamcnn": __version__, **caps}
    width = max(len(k) for k in report)
    _print(report, args.json, "\n".join(f"{k:<{width}}  {v}" for k, v in report.items()))
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from . import smoke

    def progress(items):
        if args.json or not sys.stderr.isatty():
            return items
        from tqdm import tqdm

        return tqdm(items, desc="topologies", unit="net", file=sys.stderr)

    with _open(args) as dev:
        only = [int(i) for i in args.only.split(",")] if args.only else None
        report = {"capabilities": dev.caps.as_dict()}
        report.update(smoke.run(dev, args.random, args.seed, only=only, progress=progress))
        if args.lenet:
            report["lenet5"] = smoke.lenet5(dev, args.lenet)
            report["ok"] = report["ok"] and report["lenet5"]["mismatches"] == 0
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        caps = report["capabilities"]
        print(f"{report['device']}: accelerator {caps['hw_version']}, program format {caps['format_version']}, "
              f"{caps['macs_per_cycle']} MACs/cycle")
        for f in report["failures"]:
            print(f"topology {f['index']} (seed {report['seed']}): {f['error']}\n{f['network']}\n")
        print(f"{report['topologies']} random topologies: {report['mismatches']} mismatches with the golden model "
              f"({report['seconds']} s)")
        if "lenet5" in report:
            le = report["lenet5"]
            print(f"LeNet-5 on {le['images']} MNIST digits: {le['mismatches']} mismatches, accuracy "
                  f"{le['accuracy']:.1%}, {le['latency_ms']} ms per inference (batch 1), {le['images_per_s']:.0f} "
                  f"images/s (batch {le['batch']})")
        print("OK" if report["ok"] else "FAILED")
    return 0 if report["ok"] else 1


def _progress(args: argparse.Namespace):
    """A tqdm progress bar on a terminal, nothing otherwise (or with --json)."""
    if args.json or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return lambda desc, total: tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)


def cmd_eval(args: argparse.Namespace) -> int:
    from . import datasets, evaluate, models

    net = models.load(args.model)
    dataset = args.dataset or net.metadata.get("dataset")
    if not dataset:
        raise StreamCNNError(f"model {net.name!r} names no data set in its metadata; pass --dataset")
    images, labels = datasets.test_set(dataset)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    with _open(args) as dev:
        report = evaluate.evaluate(net, dev, images, labels, batch=args.batch, progress=_progress(args))
    report["dataset"] = dataset
    text = (f"{report['model']} on {report['images']} {dataset} test images, device {report['device']} "
            f"(batch {report['batch']}):\n"
            f"  accuracy  float {report['accuracy_float']:.2%}  golden {report['accuracy_golden']:.2%}  "
            f"device {report['accuracy_device']:.2%}\n"
            f"  device vs golden: {report['device_vs_golden_mismatches']} images differ; "
            f"{report['images_per_s']:.0f} images/s")
    _print(report, args.json, text)
    return 0 if report["device_vs_golden_mismatches"] == 0 else 1


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from . import datasets, models

    net = models.load(args.model)
    labels = net.metadata.get("labels") or [str(i) for i in range(net.output_shape[0])]
    images = np.stack([datasets.load_digit(p) for p in args.images])
    with _open(args) as dev:
        logits = net.dequantize_output(dev.load(net, batch=min(len(images), net.max_batch(dev.caps))).run(images))
    z = np.exp(logits - logits.max(1, keepdims=True))
    prob = z / z.sum(1, keepdims=True)
    results = [{"image": str(p), "prediction": labels[int(k)], "confidence": round(float(pr[k]), 4)}
               for p, pr, k in zip(args.images, prob, prob.argmax(1))]
    text = "\n".join(f"{r['image']}: {r['prediction']} ({r['confidence']:.1%})" for r in results)
    _print({"model": net.name, "device": dev.name, "results": results}, args.json, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from . import cycles, models

    net = models.load(args.model)
    with _open(args) as dev:
        caps = dev.caps
        report = {"model": net.name, "device": dev.name, "modeled": [], "measured": []}
        for batch in args.batch or [1, net.max_batch(caps)]:
            program = dev.load(net, batch=batch)
            report["modeled"].append(cycles.model(program.compiled, caps))
            if args.images:
                import numpy as np

                x = np.random.default_rng(0).uniform(0, 1, (args.images,) + net.input_shape).astype(np.float32)
                program.run(x[:batch])  # warm up
                program.run(x)
                report["measured"].append({"batch": batch, "images_per_s": round(program.last.images_per_second, 1),
                                           "device": dev.name})
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for m in report["modeled"]:
        print(f"{net.name}, batch {m['batch']}, modeled at {m['clock_mhz']:.0f} MHz "
              f"(pipeline depths {m['depths']}, FIFOs {m['fifos']}):")
        print(f"  {'layer':14} {'op':5} {'stream words':>12} {'copy':>6} {'compute':>8} {'waited':>7} "
              f"{'cycles':>8} {'us':>8} {'done at us':>10} {'DMA bound us':>12} {'MAC bound us':>12}")
        for row in m["layers"]:
            print(f"  {row['layer']:14} {row['op']:5} {row['stream_words']:>12} {row['copy_cycles']:>6} "
                  f"{row['compute_cycles']:>8} {row['wait_cycles']:>7} {row['cycles']:>8} {row['latency_us']:>8.2f} "
                  f"{row['done_us']:>10.2f} {row['dma_bound_us']:>12.2f} {row['compute_bound_us']:>12.2f}")
        print("  (weights stream into the prefetch FIFO while earlier layers compute: a layer's cycles are its "
              "share of the run, from the previous layer's end to its own)")
        print(f"  total: {m['cycles']} cycles, {m['latency_us']} us, {m['images_per_s']:.0f} images/s; bounds: "
              f"DMA {m['dma_bound_us']} us ({m['bytes_streamed']} bytes), MACs {m['compute_bound_us']} us "
              f"({m['macs']} MACs); {m['ratio_to_bound']}x the larger bound")
    for r in report["measured"]:
        print(f"measured on {r['device']}, batch {r['batch']}: {r['images_per_s']:.0f} images/s")
    return 0


def cmd_build_sim(args: argparse.Namespace) -> int:
    from .devices import simbuild

    path = simbuild.build(force=args.force)
    print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="streamcnn",
        description="int8 CNN inference on the PYNQ-Z2 with layers and weights streamed at run time; "
                    "the same accelerator C++ runs as a simulator where there is no board.")
    p.add_argument("--version", action="version", version=f"streamcnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="the accelerator's version and compile-time maxima",
                          description="Ask the accelerator for its hardware version and every "
                                      "compile-time maximum (the capabilities record).")
    _device_arg(info)
    _json_arg(info)
    info.set_defaults(func=cmd_info)

    smoke = sub.add_parser("smoke-test", help="random topologies, bit-exact against the golden model",
                           description="Read the accelerator's capabilities, run random LeNet-like "
                                       "topologies and the shipped LeNet-5 on MNIST digits on the device and on "
                                       "the NumPy golden model, compare every output bit for bit, and report "
                                       "latency and images/s. Exit status 1 on any mismatch or error.")
    _device_arg(smoke)
    smoke.add_argument("--random", type=int, default=50, metavar="N", help="number of topologies (default 50)")
    smoke.add_argument("--seed", type=int, default=1, metavar="S", help="seed; topology i uses [S, i] (default 1)")
    smoke.add_argument("--only", metavar="I,J", help="replay only these topology indices")
    smoke.add_argument("--lenet", type=int, default=100, metavar="N",
                       help="also run the shipped LeNet-5 on N MNIST test digits (default 100; 0: skip)")
    _json_arg(smoke, "print a JSON report")
    smoke.set_defaults(func=cmd_smoke)

    ev = sub.add_parser("eval", help="accuracy of a model on its test set: float, golden model, device",
                        description="Run a model's test set through the float path, the golden model and the "
                                    "device; report accuracies, device/golden mismatches and images/s. Exit "
                                    "status 1 if the device differs from the golden model on any image.")
    _model_arg(ev)
    _device_arg(ev)
    ev.add_argument("--limit", type=int, metavar="N", help="only the first N test images")
    ev.add_argument("--batch", type=int, metavar="B", help="images per DMA transfer (default: as many as fit)")
    ev.add_argument("--dataset", help="test set to use (default: the one the model's metadata names)")
    _json_arg(ev)
    ev.set_defaults(func=cmd_eval)

    run = sub.add_parser("run", help="classify image files (PNG, JPEG, ...)",
                         description="Classify images of handwritten digits: any size or colour mode, "
                                     "preprocessed like MNIST (inverted if dark on light, cropped, scaled, "
                                     "centred). Sample digits: datasets/mnist/samples/.")
    run.add_argument("images", nargs="+", metavar="IMAGE")
    _model_arg(run)
    _device_arg(run)
    _json_arg(run)
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="modeled cycles per layer beside the DMA and MAC bounds",
                           description="The accelerator's cycle model (docs/performance.md) for a model: per "
                                       "layer and in total, modeled cycles and latency at 100 MHz beside the "
                                       "physical bounds (bytes streamed / 800 MB/s, MACs / (64 x 100 MHz)); "
                                       "optionally the images/s measured on the device.")
    _model_arg(bench)
    _device_arg(bench)
    bench.add_argument("--batch", type=int, action="append", metavar="B",
                       help="batch size (repeat for several; default: 1 and the largest that fits)")
    bench.add_argument("--images", type=int, default=0, metavar="N", help="also measure N images on the device")
    _json_arg(bench)
    bench.set_defaults(func=cmd_bench)

    build = sub.add_parser("build-sim", help="compile the simulator now (it is otherwise built on first use)",
                           description="Compile hls_src/ with g++ into the simulator library and print its path.")
    build.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    build.set_defaults(func=cmd_build_sim)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except StreamCNNError as e:
        print(f"streamcnn: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
