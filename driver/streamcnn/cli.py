"""The ``streamcnn`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from . import __version__
from .cli_options import (cluster_arg, device_arg, json_arg, model_arg, index_list, non_negative_int, plural,
                          positive_int)
from .devices import open_device
from .errors import StreamCNNError
from .protocol import CONFIGS


def _open(args: argparse.Namespace):
    """The device (or the cluster) the arguments ask for."""
    spec = getattr(args, "cluster", None) or getattr(args, "scheduler", None)
    if spec:
        if args.config or args.bitfile or args.library or args.device != "auto":
            raise StreamCNNError("--cluster and --scheduler run on the cluster's own devices; drop --device, "
                                 "--config, --bitfile and --library")
        from .cluster import open_cluster

        if args.cluster and not args.cluster.startswith("local:"):
            raise StreamCNNError(f"--cluster takes local:N; for a scheduler's workers use --scheduler (got "
                                 f"{args.cluster!r})")
        if args.scheduler and "://" not in args.scheduler:
            raise StreamCNNError(f"--scheduler takes an address such as tcp://192.168.2.10:8786, got {args.scheduler!r}")
        return open_cluster(spec)
    name, options = _device_spec(args)
    return open_device(name, **options)


def _device_spec(args: argparse.Namespace) -> tuple:
    """(device name, open_device options) of --device, --bitfile, --library and --config, or a
    named error for a combination that contradicts itself."""
    board = {k: v for k, v in (("bitfile", args.bitfile), ("library", args.library)) if v}
    if len(board) == 2:
        raise StreamCNNError("--bitfile names one overlay and --library a library of them; give one")
    if args.config and board:
        raise StreamCNNError(f"--config is for the simulator and --{next(iter(board))} for the pynq device; give one")
    if args.config:
        if args.device == "pynq":
            raise StreamCNNError("--config is for the simulator; on the board, the bitstream (--bitfile or "
                                 "--library) decides")
        return "sim", {"config": args.config}
    if not board:
        return args.device, {}
    if args.device == "sim":
        raise StreamCNNError(f"--{next(iter(board))} is for the pynq device; the simulator has no bitstream")
    return "pynq", board


def _print(report: dict, as_json: bool, text: str) -> None:
    print(json.dumps(report, indent=2) if as_json else text)


def cmd_info(args: argparse.Namespace) -> int:
    with _open(args) as dev:
        caps = dev.caps.as_dict()
        variants = dev.describe_library() if getattr(dev, "library", None) is not None else None
    report = {"device": dev.name, "streamcnn": __version__, **caps}
    width = max(len(k) for k in report)
    text = "\n".join(f"{k:<{width}}  {v}" for k, v in report.items())
    if variants is not None:  # an accelerator library: the capabilities above are the loaded variant's
        report["library"] = variants
        text += f"\n\naccelerator library {dev.library.folder}, partition {dev.library.partition}:\n" + "\n".join(
            f"  {'*' if v['loaded'] else ' '} {v['variant']:<8} {v['macs_per_cycle']:>4} MACs/cycle, "
            f"{v['act_words']:>6}-word activation buffers  {Path(v['bitfile']).name}" for v in variants)
        text += "\n  (* loaded; load(network) swaps in the fastest variant the network fits)"
    _print(report, args.json, text)
    return 0


def cmd_smoke(args: argparse.Namespace) -> int:
    from . import smoke

    def progress(items):
        if args.json or not sys.stderr.isatty():
            return items
        from tqdm import tqdm

        return tqdm(items, desc="topologies", unit="net", file=sys.stderr)

    with _open(args) as dev:
        report = {"capabilities": dev.caps.as_dict()}
        # on an accelerator library, every variant, each swapped in and given the same seeds
        run = smoke.run if getattr(dev, "library", None) is None else smoke.run_every_variant
        report.update(run(dev, args.random, args.seed, only=args.only, progress=progress))
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
            on = f" on {f['variant']}" if "variant" in f else ""
            if f["index"] is None:  # the variant itself failed
                print(f"variant {f['variant']}: {f['error']}\n")
            else:
                print(f"topology {f['index']} (seed {report['seed']}){on}: {f['error']}\n{f['network']}\n")
        for name, part in report.get("variants", {}).items():
            print(f"  {name}: {plural(part['topologies'], 'random topology', 'random topologies')}, "
                  f"{plural(part['mismatches'], 'mismatch', 'mismatches')} ({part['seconds']} s)")
        print(f"{plural(report['topologies'], 'random topology', 'random topologies')}: "
              f"{plural(report['mismatches'], 'mismatch', 'mismatches')} with the golden model ({report['seconds']} s)")
        if "lenet5" in report:
            le = report["lenet5"]
            print(f"LeNet-5 on {plural(le['images'], 'MNIST digit')}: "
                  f"{plural(le['mismatches'], 'mismatch', 'mismatches')}, accuracy "
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


def _dataset_of(net, given: Optional[str]) -> tuple:
    """(data set name, how it was chosen) for evaluating ``net``."""
    from . import datasets

    named = net.metadata.get("dataset")
    if given and named in datasets.TEST_SETS and given != named:
        raise StreamCNNError(f"{net.name} was trained on {named} (its metadata says so): its outputs are {named}'s "
                             f"classes, so scoring them against {given}'s labels means nothing; drop --dataset")
    if given:
        return given, "given"
    if named in datasets.TEST_SETS:
        return named, "metadata"
    fits = datasets.test_sets_for(net.input_shape)
    shape = " x ".join(map(str, net.input_shape))
    names = f"data set {named!r}, not a shipped test set," if named else "no data set"
    why = f"model {net.name!r} names {names} in its metadata"
    if len(fits) == 1:
        return fits[0], f"inferred from the input shape {shape}"
    if fits:
        raise StreamCNNError(f"{why}, and its input shape {shape} fits more than one test set ({', '.join(fits)}); "
                             f"pass --dataset {' or --dataset '.join(fits)}")
    raise StreamCNNError(f"{why}, and no shipped test set fits its input shape {shape}; "
                         f"shipped: {datasets.choices_text()}")


def cmd_eval(args: argparse.Namespace) -> int:
    from . import datasets, evaluate, models

    net = models.load(args.model)
    dataset, chosen = _dataset_of(net, args.dataset)
    images, labels = datasets.test_set(dataset, net.input_shape)
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    with _open(args) as dev:
        report = evaluate.evaluate(net, dev, images, labels, batch=args.batch, progress=_progress(args))
    report["dataset"] = dataset
    report["dataset_chosen"] = chosen
    note = f" (data set {chosen})" if chosen.startswith("inferred") else ""
    text = (f"{report['model']} on {plural(report['images'], dataset + ' test image')}{note}, device "
            f"{report['device']} (batch {report['batch']}):\n"
            f"  accuracy  float {report['accuracy_float']:.2%}  golden {report['accuracy_golden']:.2%}  "
            f"device {report['accuracy_device']:.2%}\n"
            f"  device vs golden: {plural(report['device_vs_golden_mismatches'], 'image differs', 'images differ')}; "
            f"{report['images_per_s']:.0f} images/s")
    _print(report, args.json, text)
    return 0 if report["device_vs_golden_mismatches"] == 0 else 1


def _message_about(path: str, e: Exception) -> str:
    """``e``'s message without a leading ``path: `` (the line already starts with it)."""
    text = " ".join(str(e).split())
    return text[len(path) + 2:] if text.startswith(f"{path}: ") else text


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from . import datasets, models

    net = models.load(args.model)
    labels = net.metadata.get("labels") or [str(i) for i in range(int(np.prod(net.output_shape)))]
    stats = net.metadata.get("input_statistics")
    kind = datasets.preprocessing_of(net)
    results, inputs = [], []
    for path in args.images:
        try:
            x, features = datasets.load_image(path, net, preprocessing=kind, features=True)
        except StreamCNNError as e:
            results.append({"image": str(path), "error": _message_about(str(path), e)})
            continue
        inputs.append(x)
        unusual = datasets.unusual_input(features, stats)
        results.append({"image": str(path), "unusual_input": "; ".join(unusual) or None})
    device_name = None
    if inputs:
        images = np.stack(inputs)
        with _open(args) as dev:
            device_name = dev.name
            logits = net.dequantize_output(
                dev.load(net, batch=min(len(images), net.max_batch(dev.caps))).run(images)).reshape(len(images), -1)
        z = np.exp(logits - logits.max(1, keepdims=True))
        prob = z / z.sum(1, keepdims=True)
        ok = iter(zip(prob, prob.argmax(1)))
        for r in results:
            if "error" not in r:
                pr, k = next(ok)
                r.update(prediction=labels[int(k)] if int(k) < len(labels) else str(int(k)),
                         confidence=round(float(pr[k]), 4))
                r["unusual_input"] = r.pop("unusual_input")  # last, after the prediction
    if args.json:
        print(json.dumps({"model": net.name, "device": device_name, "preprocessing": kind, "results": results},
                         indent=2))
    for r in results:  # in order: results on stdout, errors on stderr (as well as in the JSON)
        if "error" in r:
            sys.stdout.flush()
            _error(f"{r['image']}: {r['error']}")
        elif not args.json:
            flag = f"  unusual input: {r['unusual_input']}" if r["unusual_input"] else ""
            print(f"{r['image']}: {r['prediction']} ({r['confidence']:.1%}){flag}")
    return 1 if any("error" in r for r in results) else 0


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
        print(f"{net.name}, batch {m['batch']}, modeled at {m['clock_mhz']:.0f} MHz on {caps.config} "
              f"({caps.macs_per_cycle} MACs per cycle):")
        print(f"  pipeline depths (cycles): {_pairs(m['depths'])}")
        print(f"  FIFO depths (entries): {_pairs(m['fifos'])}")
        print(f"  {'layer':14} {'op':5} {'stream words':>12} {'copy':>6} {'compute':>8} {'waited':>7} "
              f"{'cycles':>8} {'us':>8} {'done at us':>10} {'DMA bound us':>12} {'MAC bound us':>12} {'MAC use':>7}")
        for row in m["layers"]:
            print(f"  {row['layer']:14} {row['op']:5} {row['stream_words']:>12} {row['copy_cycles']:>6} "
                  f"{row['compute_cycles']:>8} {row['wait_cycles']:>7} {row['cycles']:>8} {row['latency_us']:>8.2f} "
                  f"{row['done_us']:>10.2f} {row['dma_bound_us']:>12.2f} {row['compute_bound_us']:>12.2f} "
                  f"{_percent(row['mac_utilization']):>7}")
        print("  (weights stream into the prefetch FIFO while earlier layers compute: a layer's cycles are its "
              "share of the run, from the previous layer's end to its own; MAC use: its real MACs over what the "
              "array could do in its compute steps)")
        print(f"  total: {m['cycles']} cycles, {m['latency_us']} us, {m['images_per_s']:.0f} images/s; bounds: "
              f"DMA {m['dma_bound_us']} us ({m['bytes_streamed']} bytes), MACs {m['compute_bound_us']} us "
              f"({m['macs']} MACs); {m['ratio_to_bound']}x the larger bound")
    if report["measured"]:
        print(f"measured on {dev.name}, {plural(args.images, 'image')}:")
        print(f"  {'batch':>6} {'images/s':>10}")
        for r in report["measured"]:
            print(f"  {r['batch']:>6} {r['images_per_s']:>10.0f}")
    return 0


def _percent(share: Optional[float]) -> str:
    return "" if share is None else f"{100 * share:.0f}%"


def _pairs(d: dict) -> str:
    """``{'stream': 3, 'prefetch_entries': 1024}`` -> ``stream 3, prefetch entries 1024``."""
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in d.items())


def cmd_worker(args: argparse.Namespace) -> int:
    from .cluster import worker

    if "://" not in args.scheduler:
        raise StreamCNNError(f"--scheduler takes an address such as tcp://192.168.2.10:8786, got {args.scheduler!r}")
    device, options = _device_spec(args)
    worker.serve(args.scheduler, device=device, name=args.name, **options)
    return 0


def cmd_build_sim(args: argparse.Namespace) -> int:
    from .devices import simbuild

    path = simbuild.build(force=args.force, config=args.config)
    print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    from . import datasets

    p = argparse.ArgumentParser(
        prog="streamcnn",
        description="int8 CNN inference on the PYNQ-Z2 with layers and weights streamed at run time; "
                    "the same accelerator C++ runs as a simulator where there is no board.",
        epilog="Exit status: 0 success; 1 an error (one line 'streamcnn: error: ...') or a failed check; "
               "2 bad arguments; 130 interrupted.")
    p.add_argument("--version", action="version", version=f"streamcnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    info = sub.add_parser("info", help="the accelerator's version and compile-time maxima",
                          description="Ask the accelerator for its hardware version and every "
                                      "compile-time maximum (the capabilities record).")
    device_arg(info)
    json_arg(info)
    info.set_defaults(func=cmd_info)

    smoke = sub.add_parser("smoke-test", help="random topologies, bit-exact against the golden model",
                           description="Read the accelerator's capabilities, run random LeNet-like "
                                       "topologies and the shipped LeNet-5 on MNIST digits on the device and on "
                                       "the NumPy golden model, compare every output bit for bit, and report "
                                       "latency and images/s. Exit status 1 on any mismatch or error.")
    device_arg(smoke)
    smoke.add_argument("--random", type=non_negative_int, default=50, metavar="N",
                       help="number of topologies (default 50)")
    smoke.add_argument("--seed", type=non_negative_int, default=1, metavar="S",
                       help="seed; topology i uses [S, i] (default 1)")
    smoke.add_argument("--only", type=index_list, metavar="I,J", help="replay only these topology indices")
    smoke.add_argument("--lenet", type=non_negative_int, default=100, metavar="N",
                       help="also run the shipped LeNet-5 on N MNIST test digits (default 100; 0: skip)")
    json_arg(smoke, "print a JSON report")
    smoke.set_defaults(func=cmd_smoke)

    ev = sub.add_parser("eval", help="accuracy of a model on its test set: float, golden model, device",
                        description="Run a model's test set through the float path, the golden model and the "
                                    "device; report accuracies, device/golden mismatches and images/s. Exit "
                                    "status 1 if the device differs from the golden model on any image.")
    model_arg(ev)
    device_arg(ev)
    cluster_arg(ev)
    ev.add_argument("--limit", type=positive_int, metavar="N", help="only the first N test images")
    ev.add_argument("--batch", type=positive_int, metavar="B", help="images per DMA transfer (default: as many as fit)")
    ev.add_argument("--dataset", choices=list(datasets.TEST_SETS),
                    help="test set to use (default: the one the model's metadata names, else the one its input "
                         "shape fits)")
    json_arg(ev)
    ev.set_defaults(func=cmd_eval)

    run = sub.add_parser("run", help="classify image files (PNG, JPEG, ...)",
                         description="Classify image files of any size or colour mode, preprocessed the way the "
                                     "model's training data was made: for lenet5-mnist like MNIST digits (inverted "
                                     "if dark on light, cropped, scaled, centred), for fashion-cnn like "
                                     "Fashion-MNIST; a model without such metadata gets the image resized to its "
                                     "input. One line per file: its prediction and confidence, 'unusual input: ...' "
                                     "when the image is unlike the model's test set, or its error. Exit status 1 if "
                                     "any file could not be classified. Sample digits: datasets/mnist/samples/.")
    run.add_argument("images", nargs="+", metavar="IMAGE")
    model_arg(run)
    device_arg(run)
    json_arg(run)
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="modeled cycles and MAC utilization per layer beside the DMA and MAC bounds",
                           description="The accelerator's cycle model (docs/performance.md) for a model: per "
                                       "layer and in total, modeled cycles and latency at 100 MHz beside the "
                                       "physical bounds (bytes streamed / 800 MB/s, MACs / (the device's MACs per cycle x "
                                       "100 MHz)) and each layer's MAC utilization; optionally the images/s measured "
                                       "on the device.")
    model_arg(bench)
    device_arg(bench)
    bench.add_argument("--batch", type=positive_int, action="append", metavar="B",
                       help="batch size (repeat for several; default: 1 and the largest that fits)")
    bench.add_argument("--images", type=non_negative_int, default=0, metavar="N",
                       help="also measure N images on the device (default 0: don't)")
    json_arg(bench)
    bench.set_defaults(func=cmd_bench)

    worker = sub.add_parser("worker", help="serve this machine's device to a Dask cluster (one board, one worker)",
                            description="Join a Dask scheduler as a worker with this machine's device (on a "
                                        "PYNQ-Z2: its FPGA), opened once; it advertises the resource FPGA=1 and "
                                        "its capabilities, and runs the networks clients load "
                                        "(streamcnn.cluster). Runs until the scheduler closes or Ctrl-C. Start the "
                                        "scheduler on any machine with `dask scheduler`.")
    worker.add_argument("--scheduler", required=True, metavar="tcp://HOST:PORT", help="the Dask scheduler's address")
    worker.add_argument("--name", metavar="NAME", help="the worker's name in the cluster (default: Dask's)")
    device_arg(worker)
    worker.set_defaults(func=cmd_worker)

    build = sub.add_parser("build-sim", help="compile the simulator now (it is otherwise built on first use)",
                           description="Compile hls_src/ with g++ into the simulator library and print its path.")
    build.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    build.add_argument("--config", choices=CONFIGS, default=CONFIGS[0], metavar="NAME",
                       help="the accelerator configuration to build: " + ", ".join(CONFIGS)
                            + f" (default {CONFIGS[0]})")
    build.set_defaults(func=cmd_build_sim)
    return p


def _error(message: str) -> int:
    """One line on stderr, exit status 1."""
    print(f"streamcnn: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Exit status: 0 success, 1 an error or a failed check (one line ``streamcnn: error: ...`` on
    stderr), 2 bad arguments (with the usage), 130 interrupted (Ctrl-C)."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. streamcnn ... | head: the reader is gone, so say nothing
        try:  # what is still buffered for stdout goes nowhere, rather than into a second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover
            pass
        return 1
    except StreamCNNError as e:
        return _error(str(e))
    except OSError as e:
        return _error(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
