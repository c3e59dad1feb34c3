"""overlay/check_hls.py, the overlay build's check of Vitis HLS's schedule against the cycle
model, on reports in the format Vitis HLS 2022.1+ writes (csynth.xml's ModuleInformation,
the co-simulation report's result table)."""
import subprocess
import sys
from pathlib import Path

import pytest

from streamcnn import cycles

CHECK = Path(__file__).resolve().parent.parent / "overlay" / "check_hls.py"


def loop_xml(label, ii, depth, pipelined="yes"):
    return (f"<{label}><Name>{label}</Name><Slack>2.70</Slack><TripCount>1 ~ 1048576</TripCount>"
            f"<Latency>?</Latency><PipelineII>{ii}</PipelineII><PipelineDepth>{depth}</PipelineDepth>"
            f"<PipelineType>{pipelined}</PipelineType><InstanceList/></{label}>")


def write_report(tmp_path, overrides=None, drop=(), extra_module=None):
    """A csynth.xml with one module per pipelined loop, each as the model assumes unless overridden."""
    modules = []
    for p in cycles.PIPELINES:
        if p.label in drop:
            continue
        ii, depth, kind = (overrides or {}).get(p.label, (p.ii, p.max_depth, "yes"))
        modules.append(f"<Module><Name>engine_Pipeline_{p.label}</Name><Loops><{p.label}/></Loops><PerformanceEstimates>"
                       f"<SummaryOfLoopLatency>{loop_xml(p.label, ii, depth, kind)}</SummaryOfLoopLatency>"
                       f"</PerformanceEstimates></Module>")
    if extra_module:
        modules.append(extra_module)
    report = tmp_path / "report"
    report.mkdir(exist_ok=True)
    (report / "csynth.xml").write_text(
        "<profile><ReportVersion><Version>2022.1</Version></ReportVersion><UserAssignments>"
        "<TopModelName>streamcnn_top</TopModelName></UserAssignments><ModuleInformation>"
        + "".join(modules) + "</ModuleInformation></profile>")
    return report


def run(*args):
    return subprocess.run([sys.executable, str(CHECK), *map(str, args)], capture_output=True, text=True)


def test_a_schedule_as_modeled_passes(tmp_path):
    r = run("csynth", write_report(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "check_hls: csynth: as modeled" in r.stdout
    assert all(p.label in r.stdout for p in cycles.PIPELINES)


@pytest.mark.parametrize("label,schedule,message", [
    ("conv_step", (10, 12, "yes"), "conv_step: II 10, the model assumes 1"),
    ("pool_step", (1, 41, "yes"), f"pool_step: depth 41, the model assumes at most {cycles.DEPTH['pool']} (cycles.DEPTH['pool'])"),
    ("relu_word", ("-", "-", "no"), "relu_word: not pipelined (II -), the model assumes II 1"),
    ("trailer_layer", (3, 3, "yes"), "trailer_layer: II 3, the model assumes 2"),
])
def test_a_loop_worse_than_the_model_fails_the_build(tmp_path, label, schedule, message):
    r = run("csynth", write_report(tmp_path, {label: schedule}))
    assert r.returncode == 1
    assert f"check_hls: {message}" in r.stderr and "the overlay is not built" in r.stderr


def test_a_missing_or_duplicated_loop_fails(tmp_path):
    r = run("csynth", write_report(tmp_path, drop=("tile_word",)))
    assert r.returncode == 1 and "tile_word: not in the synthesis report" in r.stderr
    twin = (f"<Module><Name>conv_tile_1_Pipeline_conv_step</Name><PerformanceEstimates><SummaryOfLoopLatency>"
            f"{loop_xml('conv_step', 1, 12)}</SummaryOfLoopLatency></PerformanceEstimates></Module>")
    r = run("csynth", write_report(tmp_path, extra_module=twin))
    assert r.returncode == 1 and "conv_step: 2 instances" in r.stderr


def test_nested_loops_are_found(tmp_path):
    outer = (f"<Module><Name>execute</Name><PerformanceEstimates><SummaryOfLoopLatency><command_loop><Name>command_loop"
             f"</Name><TripCount>64</TripCount>{loop_xml('flatten_step', 1, 3)}</command_loop></SummaryOfLoopLatency>"
             f"</PerformanceEstimates></Module>")
    r = run("csynth", write_report(tmp_path, drop=("flatten_step",), extra_module=outer))
    assert r.returncode == 0, r.stderr


def test_no_report_is_an_error(tmp_path):
    r = run("csynth", tmp_path)
    assert r.returncode == 1 and "no csynth.xml" in r.stderr


COSIM = """Report time       : Wed Dec  2 10:00:00 UTC 2026.
Solution          : solution1.
Simulation tool   : xsim.

+----------+----------+-----------------------------------------------+
|          |          |                    Latency                    |
+   RTL    +  Status  +-----------------------------------------------+
|          |          |      min      |      avg      |      max      |
+----------+----------+-----------------------------------------------+
|      VHDL|        NA|             NA|             NA|             NA|
|   Verilog|      {}|           41|        6021|        12811|
+----------+----------+-----------------------------------------------+
"""


@pytest.mark.parametrize("status,rc", [("Pass", 0), ("Fail", 1)])
def test_cosim_report(tmp_path, status, rc):
    (tmp_path / "streamcnn_top_cosim.rpt").write_text(COSIM.format(status))
    r = run("cosim", tmp_path / "streamcnn_top_cosim.rpt")
    assert r.returncode == rc, r.stderr
    assert f"Verilog {status}" in r.stdout
    assert run("cosim", tmp_path / "absent.rpt").returncode == 1
