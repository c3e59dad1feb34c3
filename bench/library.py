#!/usr/bin/env python3
"""Which variant of the accelerator library each network runs on, and why: for every shipped
model and a network with 16 x 80 x 80 activations, what each variant takes (its largest batch),
the cycle model's board time per image there and at batch 1, and the variant
``PynqLibraryDevice.load`` chooses (``streamcnn.library.choose``).

    python bench/library.py --json > bench/results/library.json

Deterministic: the cycle model of the compiled programs (docs/performance.md), no timing.  A
swap's own cost (a partial bitstream of about 5/6 of the device) is not in it: it has not been
measured on a board.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "driver"))

from streamcnn import compiler, cycles, library, models, protocol, zoo  # noqa: E402
from streamcnn.errors import LimitError  # noqa: E402


def on_variant(network, variant: library.Variant) -> dict:
    """What one variant makes of one network (the cycle model at batch 1 and at its largest)."""
    caps = variant.caps
    try:
        network.check(caps, 1)
    except LimitError as e:
        return {"fits": False, "why": str(e)}
    batch = network.max_batch(caps)
    single = cycles.model(compiler.compile_network(network, caps, 1), caps)["latency_us"]
    full = cycles.model(compiler.compile_network(network, caps, batch), caps)["latency_us"]
    return {"fits": True, "max_batch": batch, "latency_us_batch1": round(single, 2),
            "images_per_s": round(batch / (full * 1e-6), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the JSON report (bench/results/library.json)")
    args = ap.parse_args()
    variants = [library.Variant(c, Path(f"streamcnn-{c}.bit"), library.expected_caps(c)) for c in protocol.CONFIGS]
    networks = [models.load(name) for name in models.available()] + [zoo.wide_cnn()]
    rows = []
    for net in networks:
        row = {"network": net.name, "variants": {v.name: on_variant(net, v) for v in variants}}
        row["chosen"] = library.choose(net, variants).name
        rows.append(row)
    report = {"variants": {v.name: {"macs_per_cycle": v.caps.macs_per_cycle, "act_words": v.caps.act_words}
                           for v in variants}, "networks": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    names = [v.name for v in variants]
    print(f"{'network':<26}" + "".join(f"{n + ' img/s':>16}{n + ' batch-1 us':>18}" for n in names) + "  chosen")
    for row in rows:
        cells = ""
        for n in names:
            r = row["variants"][n]
            cells += (f"{r['images_per_s']:>16,.0f}{r['latency_us_batch1']:>18.1f}" if r["fits"]
                      else f"{'does not fit':>16}{'':>18}")
        print(f"{row['network']:<26}{cells}  {row['chosen']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
