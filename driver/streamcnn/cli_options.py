"""The command line's options: argument types and the option groups several commands share."""
from __future__ import annotations

import argparse
from typing import Optional

from .devices import DEVICES
from .protocol import CONFIGS


# -- argument types: argparse turns their ArgumentTypeError into a usage error (exit status 2) --


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """An integer of at least 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer (0 or more), got {text!r}")
    return value


def index_list(text: str) -> list:
    """Comma-separated non-negative indices, such as ``3,17``."""
    parts = [t.strip() for t in text.split(",")]
    if not all(t.isdigit() for t in parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated topology indices (0 or more) such as 3,17, "
                                         f"got {text!r}")
    return [int(t) for t in parts]


def plural(n: int, word: str, many: Optional[str] = None) -> str:
    """``1 image``, ``2 images``; ``many`` for irregular plurals."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES,
                   help="where to run: the board (pynq), the simulator (sim), or auto: the board when "
                        "present, else the simulator (default: auto)")
    p.add_argument("--bitfile", metavar="PATH",
                   help="the overlay's .bit, its .hwh beside it (pynq device; default: $STREAMCNN_BITFILE, else "
                        "the library in bitstreams/library/ if there is one, else bitstreams/streamcnn.bit)")
    p.add_argument("--library", metavar="DIR",
                   help="an accelerator library (make -C overlay library): the shell and its variants, swapped by "
                        "partial reconfiguration as networks need them (pynq device; default: $STREAMCNN_LIBRARY "
                        "or bitstreams/library/)")
    p.add_argument("--config", choices=CONFIGS, metavar="NAME",
                   help="the accelerator configuration the simulator runs: " + ", ".join(CONFIGS)
                        + f" (sim device; default {CONFIGS[0]}, the shipped overlay's; a board runs the one "
                          "its bitstream was built with)")


def cluster_arg(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cluster", metavar="local:N",
                   help="run on a Dask cluster of N simulator worker processes on this machine instead of one device "
                        "(needs the cluster extra: pip install 'streamcnn[cluster]')")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on the streamcnn workers (boards started with `streamcnn worker`) of this Dask scheduler")


def model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="lenet5-mnist",
                   help="shipped model name, .scnn path, or .onnx path of a model quantized by onnxruntime "
                        "(QDQ; default lenet5-mnist)")


def json_arg(p: argparse.ArgumentParser, what: str = "print JSON") -> None:
    p.add_argument("--json", action="store_true", help=what)
