"""The shipped MNIST test set, its IDX loader, and image preprocessing for `streamcnn run`."""
import gzip
from pathlib import Path

import numpy as np
import pytest

from streamcnn import datasets
from streamcnn.errors import InputError

SAMPLES = Path(__file__).resolve().parent.parent / "datasets" / "mnist" / "samples"


def test_mnist_test_set_is_complete():
    images, labels = datasets.load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_images_are_lenet_inputs():
    images, _ = datasets.load_mnist()
    x = datasets.mnist_images(images[:3])
    assert x.shape == (3, 1, 32, 32) and x.dtype == np.float32
    assert x.min() == 0 and x.max() == 1 and (x[:, :, :2] == 0).all() and (x[:, :, :, -2:] == 0).all()
    assert np.array_equal(x[:, 0, 2:30, 2:30] * 255, images[:3].astype(np.float32))


def test_idx_reader_plain_gzip_and_errors(tmp_path):
    a = (np.arange(24) - 5).astype(">i4").reshape(2, 3, 4)
    raw = bytes([0, 0, 0x0C, 3]) + np.array([2, 3, 4], ">u4").tobytes() + a.tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(raw))
    assert np.array_equal(datasets.read_idx(tmp_path / "a.idx"), a)
    assert np.array_equal(datasets.read_idx(tmp_path / "a.idx.gz"), a)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(raw[:-4])
    with pytest.raises(ValueError, match="header says"):
        datasets.read_idx(tmp_path / "short")


def test_mnist_digits_as_files_come_back_as_they_were():
    images, _ = datasets.load_mnist()
    for path in SAMPLES.glob("digit*-mnist*.png"):
        index = int(path.stem.split("mnist")[1])
        x = datasets.load_digit(path)
        assert x.shape == (1, 32, 32)
        assert np.corrcoef(x.ravel(), datasets.mnist_images(images[[index]]).ravel())[0, 1] > 0.99, path.name


@pytest.mark.parametrize("name,index", [("digit7-dark-on-light-large.png", 0), ("digit2-rgb.jpg", 1),
                                        ("digit9-transparent.png", 7)])
def test_other_polarities_sizes_and_modes_are_normalised(name, index):
    images, _ = datasets.load_mnist()
    x = datasets.load_digit(SAMPLES / name)
    assert np.corrcoef(x.ravel(), datasets.mnist_images(images[[index]]).ravel())[0, 1] > 0.7


def test_blank_and_unreadable_images(tmp_path):
    from PIL import Image

    Image.new("L", (30, 20), 255).save(tmp_path / "blank.png")
    with pytest.raises(InputError, match="no digit found"):
        datasets.load_digit(tmp_path / "blank.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InputError, match="not an image"):
        datasets.load_digit(tmp_path / "text.png")


def test_test_sets_by_name_and_shape():
    with pytest.raises(InputError, match="unknown data set 'bogus'; shipped test sets: mnist"):
        datasets.test_set("bogus")
    with pytest.raises(InputError, match="the fashion-mnist test set comes as 1 x 28 x 28 images, not 1 x 32 x 32"):
        datasets.test_set("fashion-mnist", (1, 32, 32))
    x28, _ = datasets.test_set("mnist", (1, 28, 28))
    x32, _ = datasets.test_set("mnist")
    assert x28.shape == (10000, 1, 28, 28) and np.array_equal(x28, x32[:, :, 2:30, 2:30])
    assert datasets.test_sets_for((1, 28, 28)) == ["mnist", "fashion-mnist"]
    assert datasets.test_sets_for((1, 32, 32)) == ["mnist"] and datasets.test_sets_for((3, 32, 32)) == []


def test_preprocessing_follows_the_model(tmp_path):
    from PIL import Image

    from streamcnn import models, zoo

    assert datasets.preprocessing_of(models.load("lenet5-mnist")) == "mnist-digit"
    assert datasets.preprocessing_of(models.load("fashion-cnn")) == "fashion-mnist"
    imported = zoo.svhn_cnn()
    imported.metadata = {}
    assert datasets.preprocessing_of(imported) == "resize"
    imported.metadata = {"dataset": "mnist"}
    assert datasets.preprocessing_of(imported) == "mnist-digit"
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "red.png")
    x = datasets.load_image(tmp_path / "red.png", input_shape=(3, 32, 32), preprocessing="resize")
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and (x[0] == 1).all() and (x[1:] == 0).all()
    grey = datasets.load_image(tmp_path / "red.png", input_shape=(1, 8, 8), preprocessing="resize")
    assert grey.shape == (1, 8, 8)
    digit = datasets.load_image(SAMPLES / "digit7-mnist0.png", input_shape=(1, 28, 28), preprocessing="mnist-digit")
    assert np.array_equal(digit, datasets.load_digit(SAMPLES / "digit7-mnist0.png")[:, 2:30, 2:30])
    with pytest.raises(InputError, match="1-channel images; the model takes 3 channels"):
        datasets.load_image(SAMPLES / "digit7-mnist0.png", input_shape=(3, 32, 32), preprocessing="mnist-digit")
    with pytest.raises(InputError, match="unknown preprocessing 'jpeg'"):
        datasets.load_image(SAMPLES / "digit7-mnist0.png", input_shape=(1, 28, 28), preprocessing="jpeg")


def test_fashion_mnist_files_come_back_as_they_were(tmp_path):
    from PIL import Image

    images, _ = datasets.load_fashion_mnist()
    same = 0
    for i in range(50):
        Image.fromarray(images[i]).save(tmp_path / f"{i}.png")
        x = datasets.load_image(tmp_path / f"{i}.png", input_shape=(1, 28, 28), preprocessing="fashion-mnist")
        same += np.abs(x - datasets.fashion_images(images[[i]])[0]).max() < 0.02
    assert same >= 40
    Image.new("L", (30, 20), 255).save(tmp_path / "blank.png")
    with pytest.raises(InputError, match="no object found"):
        datasets.load_image(tmp_path / "blank.png", input_shape=(1, 28, 28), preprocessing="fashion-mnist")


def test_images_beyond_the_pixel_cap_are_refused_before_decoding(tmp_path):
    from test_cli_errors import png_header

    big = png_header(tmp_path / "big.png", 10000, 8000)  # more than the cap, less than Pillow's own limit
    with pytest.raises(InputError, match=r"big.png: 10000 x 8000 pixels is more than streamcnn reads \(50,000,000"):
        datasets.load_digit(big)
    huge = png_header(tmp_path / "huge.png", 20000, 20000)  # beyond Pillow's limit: its error, our words
    with pytest.raises(InputError, match=r"huge.png: 400,000,000 pixels is more than streamcnn reads"):
        datasets.load_digit(huge)
    with pytest.raises(InputError, match="No such file or directory"):
        datasets.load_digit(tmp_path / "missing.png")


def test_idx_files_that_lie_are_input_errors(tmp_path):
    """Corrupted, truncated, inflating and overflowing IDX files: one named error each."""
    raw = bytes([0, 0, 0x08, 1]) + np.array([4], ">u4").tobytes() + bytes(4)
    cases = {
        "cut.gz": (gzip.compress(raw)[:-12], "truncated gzip"),
        "junk.gz": (b"\x1f\x8b" + bytes(30), "corrupted gzip"),
        "header": (bytes([0, 0, 0x08, 3, 0, 0]), "header is cut short"),
        "huge": (bytes([0, 0, 0x0E, 3]) + np.array([1 << 31] * 3, ">u4").tobytes(), "header says"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InputError, match=match):
            datasets.read_idx(tmp_path / name)
    with gzip.open(tmp_path / "bomb.gz", "wb") as bomb:  # written a MiB at a time: the test stays small
        for _ in range((datasets.MAX_IDX_BYTES >> 20) + 1):
            bomb.write(bytes(1 << 20))
    with pytest.raises(InputError, match="inflates to more than 256 MiB"):
        datasets.read_idx(tmp_path / "bomb.gz")
    with pytest.raises(InputError, match="split must be"):
        datasets.load_mnist("validation")



def test_training_ships_what_run_needs():
    """describe_inputs (used by training.ship) gives a model the preprocessing and input ranges the
    shipped lenet5-mnist carries; compared to 0.002, so no float-library ulp matters."""
    from streamcnn import models
    shipped = models.load("lenet5-mnist").metadata
    described = datasets.describe_inputs({"dataset": "mnist", "labels": [1]})
    assert described["image_preprocessing"] == "mnist-digit" and described["labels"] == [1]
    ranges = described["input_statistics"]["ranges"]
    assert ranges.keys() == shipped["input_statistics"]["ranges"].keys()
    for name, (lo, hi) in ranges.items():
        assert np.allclose([lo, hi], shipped["input_statistics"]["ranges"][name], atol=0.002), name
    assert datasets.describe_inputs({"note": "imported"}) == {"note": "imported"}
    with pytest.raises(InputError, match="no test set 'cifar'"):
        datasets.input_statistics("cifar")


def test_lenet_flags_most_fashion_images():
    """lenet5-mnist's input statistics tell clothing from digits: most of 500 Fashion-MNIST
    images are flagged, hardly any of 500 MNIST digits (75% and 0.09% over the whole test sets)."""
    from streamcnn import models
    stats = models.load("lenet5-mnist").metadata["input_statistics"]

    def flagged(images):
        return np.mean([bool(datasets.unusual_input(datasets.input_features(g), stats))
                        for g in images[:500].astype(np.float32) / 255])
    assert flagged(datasets.load_fashion_mnist("test")[0]) > 0.6
    assert flagged(datasets.load_mnist("test")[0]) < 0.01


def test_wide_grey_modes_are_scaled_not_clipped(tmp_path):
    """A digit saved as 16-bit PNG, float TIFF (0 to 1) or 32-bit integer TIFF reads as the 8-bit
    file does (Pillow's convert("L") would clip them to black and white)."""
    from PIL import Image
    sample = sorted((Path(__file__).parents[1] / "datasets" / "mnist" / "samples").glob("*.png"))[0]
    grey = np.asarray(Image.open(sample).convert("L"), dtype=np.float64)
    expected = datasets.load_digit(sample)
    variants = {"d16.png": Image.fromarray((grey * 257).astype(np.uint16)),
                "df.tiff": Image.fromarray((grey / 255).astype(np.float32)),
                "di.tiff": Image.fromarray((grey * 257).astype(np.int32))}
    for name, img in variants.items():
        img.save(tmp_path / name)
        assert Image.open(tmp_path / name).mode in ("I;16", "F", "I"), name
        assert np.abs(datasets.load_digit(tmp_path / name) - expected).max() <= 1 / 255 + 1e-6, name
    nan = (grey / 255).astype(np.float32)
    nan[0, 0] = np.nan
    Image.fromarray(nan).save(tmp_path / "nan.tiff")
    with pytest.raises(InputError, match="NaN or infinite"):
        datasets.load_digit(tmp_path / "nan.tiff")
