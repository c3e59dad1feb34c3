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
