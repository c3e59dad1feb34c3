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


def _print(report: dict, as_json: bool, text: str) -> None:
    print(json.dumps(report, indent=2) if as_json else text)


def cmd_info(args: argparse.Namespace) -> int:
    with open_device(args.device) as dev:
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

    with open_device(args.device) as dev:
        only = [int(i) for i in args.only.split(",")] if args.only else None
        report = smoke.run(dev, args.random, args.seed, only=only, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for f in report["failures"]:
            print(f"topology {f['index']} (seed {report['seed']}): {f['error']}\n{f['network']}\n")
        verdict = "OK" if report["ok"] else "FAILED"
        print(f"{verdict}: {report['topologies']} random topologies on {report['device']}, "
              f"{report['mismatches']} mismatches with the golden model ({report['seconds']} s)")
    return 0 if report["ok"] else 1


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
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=cmd_info)

    smoke = sub.add_parser("smoke-test", help="random topologies, bit-exact against the golden model",
                           description="Run random LeNet-like topologies on the device and on the NumPy "
                                       "golden model and compare every output bit for bit. Exit status 1 "
                                       "on any mismatch or error.")
    _device_arg(smoke)
    smoke.add_argument("--random", type=int, default=50, metavar="N", help="number of topologies (default 50)")
    smoke.add_argument("--seed", type=int, default=1, metavar="S", help="seed; topology i uses [S, i] (default 1)")
    smoke.add_argument("--only", metavar="I,J", help="replay only these topology indices")
    smoke.add_argument("--json", action="store_true", help="print a JSON report")
    smoke.set_defaults(func=cmd_smoke)

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
