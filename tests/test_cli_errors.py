"""The command line under bad arguments and bad inputs (issue 12): no tracebacks, one-line errors,
exit status 2 for arguments (with the usage) and 1 for everything else; every file of `run` gets
its own line; preprocessing follows the model; the data set of an imported model; readable output;
the `unusual input` flag."""
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from streamcnn import cli, datasets, models, zoo

SAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "mnist" / "samples"
DIGIT = SAMPLES / "digit7-mnist0.png"


def streamcnn(*args):
    env = dict(os.environ, STREAMCNN_DEVICE="sim")
    return subprocess.run([sys.executable, "-m", "streamcnn", *map(str, args)], capture_output=True, text=True,
                          env=env)


def one_line_error(r, status: int, *words):
    """Exit ``status``, no traceback, and a ``streamcnn...: error: ...`` line on stderr naming ``words``."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    errors = [line for line in r.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith("streamcnn"), r.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    if status == 2:
        assert r.stderr.startswith("usage: streamcnn"), r.stderr
    else:
        assert r.stderr.strip() == errors[0], r.stderr
    return errors[0]


USAGE_ERRORS = [
    (["eval", "--batch", "0"], ["--batch", "positive integer", "'0'"]),
    (["eval", "--batch", "-1"], ["--batch", "positive integer", "'-1'"]),
    (["eval", "--limit", "0"], ["--limit", "positive integer"]),
    (["eval", "--limit", "-5"], ["--limit", "positive integer"]),
    (["eval", "--dataset", "bogus"], ["--dataset", "'bogus'", "mnist", "fashion-mnist"]),
    (["smoke-test", "--only", "abc"], ["--only", "comma-separated topology indices", "'abc'"]),
    (["smoke-test", "--only", "3,-1"], ["--only", "comma-separated"]),
    (["smoke-test", "--lenet", "-5"], ["--lenet", "non-negative integer"]),
    (["smoke-test", "--random", "x"], ["--random", "integer", "'x'"]),
    (["smoke-test", "--seed", "-1"], ["--seed", "non-negative integer"]),
    (["bench", "--images", "-5"], ["--images", "non-negative integer"]),
    (["bench", "--batch", "0"], ["--batch", "positive integer"]),
]


@pytest.mark.parametrize("args,words", USAGE_ERRORS, ids=[" ".join(args) for args, _ in USAGE_ERRORS])
def test_bad_numbers_are_usage_errors(args, words):
    one_line_error(streamcnn(*args, "--device", "sim"), 2, *words)


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` x ``height`` grey pixels and holds a few bytes (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return path


def test_a_huge_image_is_refused_naming_the_file_and_the_limit(tmp_path):
    huge = png_header(tmp_path / "huge.png", 20000, 20000)
    r = streamcnn("run", "--device", "sim", huge)
    line = one_line_error(r, 1)
    assert line == f"streamcnn: error: {huge}: 400,000,000 pixels is more than streamcnn reads (50,000,000 pixels); " \
                   f"scale the image down"
    assert r.stdout == ""


def write_images(tmp_path):
    """A sample digit, random noise, a smooth photo-like picture, a file that is no image, a blank page."""
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(tmp_path / "noise.png")
    yy, xx = np.mgrid[0:120, 0:160] / 100.0
    photo = np.stack([0.5 + 0.35 * np.sin(4 * xx + c) * np.cos(3 * yy) for c in range(3)], -1)
    photo[30:80, 60:110] *= 0.4
    Image.fromarray((np.clip(photo, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "photo.jpg")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.new("L", (40, 30), 255).save(tmp_path / "white.png")
    return [DIGIT, tmp_path / "corrupt.png", tmp_path / "noise.png", tmp_path / "photo.jpg", tmp_path / "white.png"]


def test_run_reports_every_file_and_flags_unusual_inputs(tmp_path):
    files = write_images(tmp_path)
    digit, corrupt, noise, photo, white = files
    r = streamcnn("run", "--device", "sim", *files)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stdout.splitlines()  # the images classified, in order
    assert len(lines) == 3 and [line.split(": ")[0] for line in lines] == [str(digit), str(noise), str(photo)]
    assert lines[0].startswith(f"{digit}: 7 (") and "unusual" not in lines[0]
    assert "unusual input: " in lines[1] and "background fraction" in lines[1]
    assert "unusual input: " in lines[2]
    errors = r.stderr.splitlines()  # one line per file that failed, in order
    assert len(errors) == 2
    assert errors[0].startswith(f"streamcnn: error: {corrupt}: not an image Pillow can read")
    assert errors[1] == f"streamcnn: error: {white}: no digit found (the image is blank)"

    r = streamcnn("run", "--device", "sim", "--json", *files)
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.splitlines()) == 2
    report = json.loads(r.stdout)
    assert report["preprocessing"] == "mnist-digit" and report["device"] == "sim"
    assert [res["image"] for res in report["results"]] == list(map(str, files))
    digit, corrupt, noise, photo, white = report["results"]
    assert digit["prediction"] == "7" and digit["unusual_input"] is None and "error" not in digit
    assert "not an image" in corrupt["error"] and "prediction" not in corrupt
    assert noise["unusual_input"] and photo["unusual_input"] and "prediction" in noise
    assert white["error"] == "no digit found (the image is blank)"


def test_no_sample_digit_is_flagged():
    lenet = models.load("lenet5-mnist")
    stats = lenet.metadata["input_statistics"]
    assert set(stats["ranges"]) == set(datasets.FEATURES) and lenet.metadata["image_preprocessing"] == "mnist-digit"
    for path in sorted(SAMPLES.iterdir()):
        _, features = datasets.load_image(path, lenet, features=True)
        assert datasets.unusual_input(features, stats) == [], path.name
    # nor are the first MNIST test digits, the data the ranges came from
    digits, _ = datasets.load_mnist()
    flagged = [i for i in range(300) if datasets.unusual_input(datasets.input_features(digits[i] / 255.0), stats)]
    assert len(flagged) <= 3, flagged


def test_fashion_model_reads_fashion_mnist_files(tmp_path):
    from PIL import Image

    images, labels = datasets.load_fashion_mnist()
    picks = [0, 1, 2, 3]  # an ankle boot, a pullover, two trousers; the model gets them right
    files = []
    for i in picks:
        files.append(tmp_path / f"fashion{i}.png")
        Image.fromarray(images[i]).save(files[-1])
    r = streamcnn("run", "--model", "fashion-cnn", "--device", "sim", "--json", *files)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["preprocessing"] == "fashion-mnist"
    assert [res["prediction"] for res in report["results"]] == [datasets.FASHION_MNIST_LABELS[labels[i]] for i in picks]


def save_imported(path: Path, net) -> Path:
    """``net`` as from_torch leaves a bare nn.Sequential: named torch-model, no metadata."""
    net.name, net.metadata = "torch-model", {}
    return net.save(path)


def test_eval_of_an_imported_model_infers_or_asks_for_the_data_set(tmp_path):
    ambiguous = save_imported(tmp_path / "fashion-like.scnn", models.load("fashion-cnn"))  # 1 x 28 x 28
    line = one_line_error(streamcnn("eval", "--model", ambiguous, "--device", "sim", "--limit", "4"), 1,
                          "'torch-model'", "no data set", "1 x 28 x 28", "mnist, fashion-mnist", "--dataset")
    assert "Traceback" not in line
    unfit = save_imported(tmp_path / "svhn-like.scnn", zoo.svhn_cnn())  # 3 x 32 x 32
    one_line_error(streamcnn("eval", "--model", unfit, "--device", "sim", "--limit", "4"), 1,
                   "no shipped test set fits", "3 x 32 x 32", "mnist (1 x 28 x 28 or 1 x 32 x 32)",
                   "fashion-mnist (1 x 28 x 28)")
    lenet_like = save_imported(tmp_path / "lenet-like.scnn", models.load("lenet5-mnist"))  # 1 x 32 x 32: MNIST
    r = streamcnn("eval", "--model", lenet_like, "--device", "sim", "--limit", "4", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["dataset"] == "mnist" and report["dataset_chosen"] == "inferred from the input shape 1 x 32 x 32"
    assert report["images"] == 4 and report["accuracy_device"] == 1.0
    # the 28 x 28 model runs on either data set when told which
    r = streamcnn("eval", "--model", ambiguous, "--device", "sim", "--limit", "4", "--dataset", "mnist")
    assert r.returncode == 0 and r.stdout.startswith("torch-model on 4 mnist test images, device sim"), r.stderr
    # a model whose metadata names its data set is not scored against another's labels
    one_line_error(streamcnn("eval", "--model", "fashion-cnn", "--device", "sim", "--limit", "4", "--dataset", "mnist"),
                   1, "fashion-cnn was trained on fashion-mnist", "drop --dataset")


def test_interrupt_and_os_errors_in_process(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    def denied(args):
        raise PermissionError(13, "Permission denied", "model.scnn")

    monkeypatch.setattr(cli, "cmd_info", interrupted)
    try:
        status = cli.main(["info", "--device", "sim"])
    except KeyboardInterrupt:  # would stop the whole test session
        pytest.fail("KeyboardInterrupt escaped cli.main")
    assert status == 130
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli, "cmd_info", denied)
    assert cli.main(["info", "--device", "sim"]) == 1
    assert capsys.readouterr().err == "streamcnn: error: model.scnn: Permission denied\n"


def test_counts_read_as_english(capsys):
    assert [cli.plural(n, "image") for n in (0, 1, 2)] == ["0 images", "1 image", "2 images"]
    assert cli.plural(1, "random topology", "random topologies") == "1 random topology"
    assert cli.main(["smoke-test", "--device", "sim", "--random", "1", "--lenet", "1"]) == 0
    out = capsys.readouterr().out
    assert "\n1 random topology: 0 mismatches with the golden model" in out
    assert "LeNet-5 on 1 MNIST digit: 0 mismatches" in out
    assert cli.main(["eval", "--device", "sim", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lenet5-mnist on 1 mnist test image, device sim") and "0 images differ" in out


def test_bench_prints_tables_not_dicts(capsys):
    assert cli.main(["bench", "--device", "sim", "--batch", "1", "--batch", "2", "--images", "4"]) == 0
    out = capsys.readouterr().out
    assert "{" not in out and "}" not in out and "': " not in out
    assert "pipeline depths (cycles): stream 3," in out and "FIFO depths (entries): commands 16," in out
    measured = out[out.index("measured on sim, 4 images:"):].splitlines()
    assert measured[1].split() == ["batch", "images/s"] and [line.split()[0] for line in measured[2:]] == ["1", "2"]
