#!/usr/bin/env python3
"""The PYNQ-Z2 smoke test, in one file: run it on the board after installing streamcnn.

    sudo -E python3 scripts/board_smoke_test.py [--bitfile /path/to/streamcnn.bit | --library DIR] [--json]

It loads the overlay, reads the accelerator's version and maxima, runs random
network topologies and the shipped LeNet-5 on 100 MNIST digits on the FPGA and
on the NumPy golden model, compares every output bit for bit, and prints the
latency per inference and images per second.  Exit status 0 only if everything
matched.  With an accelerator library (--library, or bitstreams/library/ when no --bitfile
is given) the topologies run on every variant, each swapped in by partial reconfiguration.
(It is `streamcnn smoke-test --device pynq`; see docs/board.md.)
"""
import argparse
import sys

from streamcnn import cli


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--bitfile", help="the overlay's .bit (default: $STREAMCNN_BITFILE, else the library in "
                                         "bitstreams/library/ if there is one, else bitstreams/streamcnn.bit)")
    where.add_argument("--library", help="the accelerator library's folder (make -C overlay library)")
    ap.add_argument("--random", type=int, default=50, help="random topologies (default 50)")
    ap.add_argument("--lenet", type=int, default=100, help="MNIST digits for LeNet-5 (default 100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print a JSON report")
    args = ap.parse_args()
    argv = ["smoke-test", "--device", "pynq", "--random", str(args.random), "--lenet", str(args.lenet),
            "--seed", str(args.seed)]
    if args.bitfile:
        argv += ["--bitfile", args.bitfile]
    if args.library:
        argv += ["--library", args.library]
    if args.json:
        argv.append("--json")
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
