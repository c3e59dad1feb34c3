#!/usr/bin/env python3
"""Refuse a Vitis HLS result that is not the accelerator the driver models.

    python check_hls.py csynth REPORT_DIR     after csynth_design (solution1/syn/report)
    python check_hls.py cosim COSIM_REPORT    after cosim_design (solution1/sim/report/streamcnn_top_cosim.rpt)

csynth: every pipelined loop of streamcnn.cycles.PIPELINES must appear in the synthesis
report once (a second instance would be a second engine: twice its DSPs), be pipelined,
reach its initiation interval and be no deeper than the cycle model assumes (the table in
docs/performance.md).  cosim: the RTL simulation of the testbench must have passed.

Exit status 0 when everything holds, 1 with one line per finding otherwise.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from streamcnn.cycles import PIPELINES


def loops_in_reports(report_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Every loop of every module's SummaryOfLoopLatency, by loop name: csynth.xml (which
    Vitis HLS 2022.1+ fills with ModuleInformation for each module) and the per-module
    <module>_csynth.xml files beside it, each loop counted once per module."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    files = sorted(report_dir.glob("*csynth.xml"))
    if not files:
        raise SystemExit(f"check_hls: no csynth.xml in {report_dir} (did csynth_design run?)")
    for path in files:
        root = ET.parse(path).getroot()
        modules = root.findall("./ModuleInformation/Module") or [root]
        for module in modules:
            name = module.findtext("Name") or module.findtext("./UserAssignments/TopModelName") or path.stem
            for summary in module.iter("SummaryOfLoopLatency"):
                for loop in _loops(summary):
                    seen.setdefault((name, loop.tag), {c.tag: (c.text or "").strip() for c in loop if len(c) == 0})
    loops: dict[str, list[dict[str, str]]] = {}
    for (module, tag), fields in seen.items():
        loops.setdefault(tag, []).append({"module": module, **fields})
    return loops


def _loops(element: ET.Element):
    """Loop elements under a SummaryOfLoopLatency, nested loops included (a loop is an element
    with a TripCount or PipelineII child)."""
    for child in element:
        if child.find("TripCount") is not None or child.find("PipelineII") is not None:
            yield child
            yield from _loops(child)


def check_csynth(report_dir: Path) -> list[str]:
    loops = loops_in_reports(report_dir)
    findings = []
    print(f"{'loop':<16} {'II':>6} {'depth':>9}  module")
    for p in PIPELINES:
        found = loops.get(p.label, [])
        if not found:
            findings.append(f"{p.label}: not in the synthesis report (renamed, unrolled or flattened away?)")
            continue
        if len(found) > 1:
            findings.append(f"{p.label}: {len(found)} instances ({', '.join(f['module'] for f in found)}); "
                            "the design has one")
        for f in found:
            ii, depth = f.get("PipelineII", ""), f.get("PipelineDepth", "")
            print(f"{p.label:<16} {ii or '-':>3}/{p.ii:<2} {depth or '-':>4}/{p.max_depth:<4}  {f['module']}")
            if f.get("PipelineType", "yes") == "no" or not ii.isdigit():
                findings.append(f"{p.label}: not pipelined (II {ii or 'none'}), the model assumes II {p.ii}")
                continue
            if int(ii) > p.ii:
                findings.append(f"{p.label}: II {ii}, the model assumes {p.ii}")
            if not depth.isdigit() or int(depth) > p.max_depth:
                findings.append(f"{p.label}: depth {depth or 'unknown'}, the model assumes at most {p.max_depth} "
                                f"(cycles.DEPTH[{p.depth!r}])")
    return findings


def check_cosim(report: Path) -> list[str]:
    if not report.exists():
        return [f"{report}: no co-simulation report (did cosim_design run?)"]
    rows = re.findall(r"^\|\s*(VHDL|Verilog)\|\s*(\w+)\|", report.read_text(), re.M)
    status = {rtl: s for rtl, s in rows}
    print(f"co-simulation: {', '.join(f'{k} {v}' for k, v in status.items()) or 'no result rows'}")
    if status.get("Verilog") != "Pass":
        return [f"co-simulation did not pass (Verilog: {status.get('Verilog', 'no result')})"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("csynth", "cosim"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    findings = check_csynth(Path(argv[1])) if argv[0] == "csynth" else check_cosim(Path(argv[1]))
    for f in findings:
        print(f"check_hls: {f}", file=sys.stderr)
    if findings:
        print(f"check_hls: {argv[0]}: {len(findings)} finding(s); the overlay is not built", file=sys.stderr)
        return 1
    print(f"check_hls: {argv[0]}: as modeled")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
