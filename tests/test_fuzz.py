"""The fuzz harness (hls_src/tb/fuzz/) under g++'s AddressSanitizer and
UndefinedBehaviorSanitizer: its checks catch each broken rule, the committed corpus
replays clean, and its seeds are the programs this driver compiles today.

The coverage-guided run itself is `python scripts/fuzz.py` (libFuzzer, clang), which CI
runs for a bounded time; see docs/reliability.md."""
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamcnn import protocol as P

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fuzz_corpus"


def _fuzz_script():
    spec = importlib.util.spec_from_file_location("fuzz_script", ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    fuzz = _fuzz_script()
    fuzz.BUILD = tmp_path_factory.mktemp("fuzz")
    return fuzz.build_plain()


def _run(args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)


def test_the_checks_catch_every_broken_rule(harness):
    r = _run([harness, "--self-test"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"self-test: \d+ mutations of 0- to 72-byte inputs stayed in bounds", r.stdout)
    caught = re.search(r"(\d+) of (\d+) broken rules caught", r.stdout)
    assert caught and caught[1] == caught[2] and int(caught[2]) >= 17


def test_the_committed_corpus_replays_clean(harness):
    files = sorted(CORPUS.iterdir())
    assert len(files) >= 100
    r = _run([harness, CORPUS])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert f"replayed {len(files)} inputs" in r.stdout
    assert "runtime error" not in r.stderr and "Sanitizer" not in r.stderr


def test_random_mutation_finds_nothing(harness, tmp_path):
    seeds = [p for p in CORPUS.iterdir() if p.name.startswith("seed-random")]
    r = _run([harness, "--fuzz", "600", "--runs", "3000", "--seed", "7", *seeds], cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "stat::number_of_executed_units: 3000" in r.stdout
    assert not list(tmp_path.glob("crash-*"))


def test_the_checks_fail_a_broken_accelerator(tmp_path):
    """The harness is only worth its checks: an accelerator that forgets to drop a failed
    tile's weights (words left in a FIFO) must be caught on the committed corpus."""
    fuzz = _fuzz_script()
    src = tmp_path / "hls_src"
    shutil.copytree(ROOT / "hls_src", src, ignore=shutil.ignore_patterns("build", "vectors"))
    kernel = src / "streamcnn.cpp"
    text = kernel.read_text()
    assert "discard(entries, pending);" in text
    kernel.write_text(text.replace("discard(entries, pending);", "(void)pending;"))
    fuzz.HLS, fuzz.FUZZ_SRC, fuzz.BUILD = src, src / "tb" / "fuzz", tmp_path / "build"
    fuzz.COMMON = [a.replace(str(ROOT / "hls_src"), str(src)) for a in fuzz.COMMON]
    fuzz.HARNESS = [src / "tb" / "fuzz" / "streamcnn_fuzz.cpp", kernel, src / "host_shim" / "sim_bridge.cpp"]
    broken = fuzz.build_plain()
    r = _run([broken, CORPUS])
    assert r.returncode != 0
    assert "an internal FIFO was read empty or left holding words" in r.stderr


def test_seeds_are_todays_programs_and_answered_ok(device):
    """A format change must come with fresh seeds (python scripts/fuzz.py --write-seeds)."""
    fresh = _fuzz_script().seed_programs()
    assert {"caps", "lenet5-mnist-batch1", "fashion-cnn-batch1"} <= set(fresh)
    assert sum(name.startswith("random") for name in fresh) >= 10
    assert {p.name for p in CORPUS.glob("seed-*.bin")} == {f"seed-{name}.bin" for name in fresh}, "stale seeds"
    for name, data in fresh.items():
        committed = CORPUS / f"seed-{name}.bin"
        assert committed.exists() and committed.read_bytes() == data, f"{committed.name} is stale"
        words = np.frombuffer(data, dtype="<u8").astype(np.uint64)
        resp = device.execute(words, int(words[1]) >> 32)
        assert resp.status == P.Status.OK, name


def test_seeds_do_not_depend_on_float_results(monkeypatch):
    """Seeds are committed bytes, so they must come out the same whatever BLAS kernel or NumPy
    release computes a float sum: perturb every float convolution and product by one part in a
    million (far more than kernels differ by) and the seeds must not change."""
    from streamcnn import golden

    fuzz = _fuzz_script()
    exact = fuzz.seed_programs()
    conv2d, linear = golden.conv2d, golden.linear

    def perturbed(fn):
        def wrapper(x, *args, **kw):
            out = fn(x, *args, **kw)
            return out if np.issubdtype(x.dtype, np.integer) else out * np.float32(1 + 1e-6)
        return wrapper

    monkeypatch.setattr(golden, "conv2d", perturbed(conv2d))
    monkeypatch.setattr(golden, "linear", perturbed(linear))
    assert fuzz.seed_programs() == exact
