#!/usr/bin/env python3
"""Fuzz the accelerator: its exact hls_src/ C++ under AddressSanitizer and
UndefinedBehaviorSanitizer, fed mutated programs by libFuzzer.

    python scripts/fuzz.py --seconds 60        # what CI runs
    python scripts/fuzz.py --seconds 600 --merge   # and keep what found new code

1. Seeds: real programs compiled by the driver (the capabilities request, the
   shipped LeNet-5 and Fashion-MNIST models on real test images, random
   LeNet-like topologies at batch 1 to 4), written beside the committed corpus
   (tests/fuzz_corpus/) in a scratch directory.
2. Build hls_src/tb/fuzz/ with clang's libFuzzer, ASan and UBSan
   (-fno-sanitize-recover: the first report stops the run).
3. Fuzz for --seconds; the harness checks every answer (streamcnn_fuzz.cpp:
   input drained to TLAST and never past it, a status trailer with TLAST on the
   last beat only, a bounded response, registers that agree).  An input that
   takes longer than --timeout seconds is a hang.
4. Replay the committed corpus once more, input by input.
5. Print executions, corpus size, crashes, hangs and sanitizer reports
   (--json for a machine-readable line); exit 1 unless all three are zero.

Without clang (Debian/Ubuntu: apt-get install clang libclang-rt-14-dev) it
falls back to g++ with the same sanitizers and fuzz_main.cpp's plain random
mutation, and says so: no coverage guidance, so far weaker.  Crashing inputs
are kept in build/fuzz/artifacts/; replay one with
``build/fuzz/streamcnn_fuzz FILE``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HLS = ROOT / "hls_src"
FUZZ_SRC = HLS / "tb" / "fuzz"
CORPUS = ROOT / "tests" / "fuzz_corpus"
BUILD = ROOT / "build" / "fuzz"
SANITIZERS = "address,undefined"
NO_RECOVER = "-fno-sanitize-recover=all"  # the first report stops the run
COMMON = ["-std=c++14", "-g", "-O2", "-fno-omit-frame-pointer", "-Wno-unknown-pragmas", f"-I{HLS}",
          f"-I{HLS / 'host_shim'}"]
HARNESS = [FUZZ_SRC / "streamcnn_fuzz.cpp", HLS / "streamcnn.cpp", HLS / "host_shim" / "sim_bridge.cpp"]
RANDOM_SEEDS = 12
QUICK_PROGRAM_CYCLES = 4000
MERGE_MAX_BYTES = 16384
# One match per report: ASan and LSan print an ERROR line, UBSan a "runtime error" line.
SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:")


# -- seeds ------------------------------------------------------------------------------

def seed_programs() -> dict:
    """{name: program words} of real programs, as the driver compiles them."""
    import numpy as np

    import streamcnn
    from streamcnn import compiler, cycles, datasets, models, smoke

    device = streamcnn.open_device("sim")
    caps = device.caps
    seeds = {"caps": compiler.compile_caps_request().words}

    def program(net, images, batch, **kw):
        prog = compiler.compile_network(net, caps, batch, **kw)
        prog.set_images(net.quantize_input(images[:batch]))
        return prog.words

    digits, _ = datasets.test_set("mnist")
    lenet = models.load("lenet5-mnist")
    seeds["lenet5-mnist-batch1"] = program(lenet, digits, 1)
    seeds["lenet5-mnist-batch1-all-layers"] = program(lenet, digits, 1, all_layers=True)
    # 4-bit weights and occupancy maps; its images as bytes (UNPACK); at batch 2 from the tile buffer
    compressed = models.load("lenet5-mnist-compressed")
    seeds["lenet5-mnist-compressed-batch1"] = program(compressed, digits, 1)
    seeds["lenet5-mnist-compressed-batch2"] = program(compressed, digits, 2, segments=False)
    fashion, _ = datasets.test_set("fashion-mnist")
    seeds["fashion-cnn-batch1"] = program(models.load("fashion-cnn"), fashion, 1)
    # Small random topologies: the fuzzer's speed is inversely proportional to the work a
    # program asks for, so the seeds are the ones the cycle model calls quick.
    i = 0
    while sum(name.startswith("random") for name in seeds) < RANDOM_SEEDS:
        net, batch, images = smoke.topology(7, i, device)
        prog = compiler.compile_network(net, caps, batch, all_layers=i % 3 == 0, column_packing=i % 2 == 0)
        if cycles.model(prog, caps)["cycles"] <= QUICK_PROGRAM_CYCLES:
            prog.set_images(net.quantize_input(images[:batch]))
            seeds[f"random-7-{i}-batch{batch}"] = prog.words
        i += 1
    return {name: np.ascontiguousarray(words, dtype="<u8").tobytes() for name, words in seeds.items()}


def write_seeds(directory: Path) -> list[Path]:
    """Write today's seed programs into ``directory``, removing seeds that are no longer made."""
    directory.mkdir(parents=True, exist_ok=True)
    fresh = seed_programs()
    for stale in set(directory.glob("seed-*.bin")) - {directory / f"seed-{name}.bin" for name in fresh}:
        stale.unlink()
    paths = []
    for name, data in fresh.items():
        path = directory / f"seed-{name}.bin"
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- build --------------------------------------------------------------------------------

def find_clang() -> str | None:
    for name in [os.environ.get("FUZZ_CXX", ""), "clang++", *(f"clang++-{v}" for v in range(20, 13, -1))]:
        if name and shutil.which(name):
            return name
    return None


def _compile(cmd: list) -> None:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"building the fuzz harness failed:\n{' '.join(map(str, cmd))}\n{result.stderr[-4000:]}")


def build_libfuzzer(clang: str) -> Path:
    out = BUILD / "streamcnn_fuzz"
    BUILD.mkdir(parents=True, exist_ok=True)
    _compile([clang, *COMMON, f"-fsanitize=fuzzer,{SANITIZERS}", NO_RECOVER, *HARNESS, "-o", out])
    return out


def build_plain(cxx: str = "g++") -> Path:
    """fuzz_main.cpp's replay and plain-mutation driver, same sanitizers."""
    out = BUILD / "fuzz_main"
    BUILD.mkdir(parents=True, exist_ok=True)
    _compile([cxx, *COMMON, f"-fsanitize={SANITIZERS}", NO_RECOVER, *HARNESS, FUZZ_SRC / "fuzz_main.cpp", "-o", out])
    return out


# -- run ----------------------------------------------------------------------------------

def _stat(text: str, name: str) -> int:
    found = re.findall(rf"stat::{name}:\s+(\d+)", text)
    if not found and name == "number_of_executed_units":
        # a run that died prints no final stats: its last progress line says how far it got
        found = re.findall(r"^#(\d+)", text, re.M)
    return int(found[-1]) if found else 0


def run(seconds: float, timeout: int, merge: bool, seed: int) -> dict:
    clang = find_clang()
    artifacts = BUILD / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    committed = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    with tempfile.TemporaryDirectory(prefix="streamcnn-fuzz-") as tmp:
        work = Path(tmp) / "corpus"
        work.mkdir()
        for p in committed:
            shutil.copy(p, work / p.name)
        seeds = write_seeds(work)
        start_size = len(list(work.iterdir()))
        print(f"fuzz: {start_size} inputs: the committed corpus ({len(committed)}) with the {len(seeds)} seeds "
              f"compiled afresh; building with "
              f"{clang or 'g++ (no clang: plain random mutation, no coverage guidance)'}", flush=True)
        if clang:
            binary = build_libfuzzer(clang)
            cmd = [binary, work, f"-max_total_time={int(seconds)}", f"-timeout={timeout}", "-print_final_stats=1",
                   f"-dict={FUZZ_SRC / 'streamcnn.dict'}", f"-artifact_prefix={artifacts}/", f"-seed={seed}",
                   "-rss_limit_mb=4096", "-report_slow_units=1000000"]
        else:
            binary = build_plain()
            cmd = [binary, "--fuzz", str(seconds), "--seed", str(seed), work]
        began = time.monotonic()
        fuzzed = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                                cwd=artifacts, timeout=seconds + 20 * timeout + 600)
        elapsed = time.monotonic() - began
        log = fuzzed.stdout + fuzzed.stderr
        end_size = len(list(work.iterdir()))
        if merge and clang:
            # Only small inputs join the committed corpus (seeds aside): they keep almost all the
            # coverage at a fraction of the bytes, and replay quickly.
            small = Path(tmp) / "small"
            small.mkdir()
            for p in work.iterdir():
                if p.stat().st_size <= MERGE_MAX_BYTES and not p.name.startswith("seed-"):
                    shutil.copy(p, small / p.name)
            write_seeds(CORPUS)
            subprocess.run([str(binary), "-merge=1", str(CORPUS), str(small)], capture_output=True, text=True,
                           env=env, cwd=artifacts)

    # The committed corpus, replayed input by input (libFuzzer runs the files named and exits).
    replay_log, replayed = "", 0
    if committed:
        replayed_run = subprocess.run([str(c) for c in [binary, *committed]], capture_output=True, text=True, env=env,
                                      cwd=artifacts, timeout=20 * timeout + 600)
        replay_log = replayed_run.stdout + replayed_run.stderr
        replayed = len(committed) if replayed_run.returncode == 0 else 0

    found = sorted(p.name for p in artifacts.iterdir())
    hangs = [n for n in found if n.startswith("timeout-")]
    crashes = [n for n in found if n.startswith(("crash-", "leak-", "oom-"))]
    if fuzzed.returncode != 0 and not crashes and not hangs:
        crashes.append(f"exit status {fuzzed.returncode} without an artifact")
    if committed and not replayed:
        crashes.append("the committed corpus failed its replay")
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    report = {
        "engine": "libFuzzer" if clang else "plain random mutation (g++)",
        "sanitizers": SANITIZERS,
        "seconds": round(elapsed, 1),
        "executions": _stat(log, "number_of_executed_units"),
        "executions_per_second": round(_stat(log, "number_of_executed_units") / max(elapsed, 1e-9)),
        "corpus_start": start_size,
        "corpus_end": end_size,
        "coverage_edges": int(cov[-1][0]) if cov else None,
        "features": int(cov[-1][1]) if cov else None,
        "replayed": replayed,
        "crashes": len(crashes),
        "hangs": len(hangs),
        "sanitizer_reports": len(SANITIZER_REPORT.findall(log + replay_log)),
        "artifacts": [str(artifacts / n) for n in crashes + hangs if (artifacts / n).exists()],
    }
    if report["crashes"] or report["hangs"] or report["sanitizer_reports"]:
        tail = "\n".join(log.splitlines()[-60:])
        print(f"fuzz: FAILED; the end of the fuzzer's log:\n{tail}\n{replay_log[-3000:]}", file=sys.stderr)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Figures: executions, corpus size, crashes, hangs, sanitizer reports.")
    parser.add_argument("--seconds", type=float, default=60, help="how long to fuzz (default 60)")
    parser.add_argument("--timeout", type=int, default=10,
                        help="seconds one input may take before it counts as a hang (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="the fuzzer's random seed (default 1)")
    parser.add_argument("--merge", action="store_true",
                        help="add the inputs that reached new code to tests/fuzz_corpus/ (needs clang)")
    parser.add_argument("--write-seeds", action="store_true",
                        help="only rewrite the seed programs in tests/fuzz_corpus/ (after a format change)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    parser.add_argument("--config", default="mac256", choices=("mac256", "mac64"),
                        help="the accelerator configuration to fuzz (hls_src/config/; default mac256)")
    args = parser.parse_args(argv)
    if args.config != "mac256":  # the other configuration's harness, in its own build directory
        global BUILD
        COMMON.append(f"-DSCNN_CONFIG_{args.config.upper()}")
        BUILD = BUILD.parent / f"fuzz-{args.config}"
    if args.write_seeds:
        for path in write_seeds(CORPUS):
            print(path.relative_to(ROOT))
        return 0
    report = run(args.seconds, args.timeout, args.merge, args.seed)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"fuzz: {report['engine']}, sanitizers {report['sanitizers']}, {report['seconds']} s")
        print(f"  executions         {report['executions']:,} ({report['executions_per_second']:,}/s)")
        print(f"  corpus size        {report['corpus_start']} -> {report['corpus_end']} inputs")
        if report["coverage_edges"] is not None:
            print(f"  coverage           {report['coverage_edges']} edges, {report['features']} features")
        print(f"  corpus replayed    {report['replayed']} committed inputs")
        print(f"  crashes            {report['crashes']}")
        print(f"  hangs              {report['hangs']}")
        print(f"  sanitizer reports  {report['sanitizer_reports']}")
        for a in report["artifacts"]:
            print(f"  kept: {a}")
    return 1 if report["crashes"] or report["hangs"] or report["sanitizer_reports"] else 0


if __name__ == "__main__":
    sys.exit(main())
