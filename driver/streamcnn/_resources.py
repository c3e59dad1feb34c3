"""Where the files streamcnn ships live: the accelerator's C++, data sets, models.

In a source checkout (or an editable install) they are the repository's
``hls_src/``, ``datasets/``, ``notebooks/`` and ``bench/results/``; a regular install carries
copies inside the package (``streamcnn/_hls_src``, ``streamcnn/_datasets``,
``streamcnn/_notebooks``, ``streamcnn/_bench/results``, made by setup.py).
Trained models always live in the package (``streamcnn/model_files``).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_REPO = PACKAGE.parent.parent

_CDEF = re.compile(r"/\* cdef-begin \*/(.*?)/\* cdef-end \*/", re.S)


def _find(name: str, marker: str) -> Path:
    candidates = (PACKAGE / f"_{name}", _REPO / name)
    for path in candidates:
        if (path / marker).exists():
            return path
    raise FileNotFoundError(
        f"streamcnn's {name}/ files were not found; looked in " + ", ".join(str(p) for p in candidates)
        + ". Reinstall streamcnn (pip install .) or run from a source checkout."
    )


@lru_cache(maxsize=1)
def hls_src_dir() -> Path:
    """The directory holding streamcnn.cpp and its headers."""
    return _find("hls_src", "streamcnn.cpp")


@lru_cache(maxsize=1)
def notebooks_dir() -> Path:
    """The directory holding the notebooks (01_lenet5_mnist.ipynb, ...)."""
    return _find("notebooks", "01_lenet5_mnist.ipynb")


@lru_cache(maxsize=1)
def datasets_dir() -> Path:
    """The directory holding the shipped data sets (mnist/, ...)."""
    return _find("datasets", "mnist")


@lru_cache(maxsize=1)
def bench_results_dir() -> Path:
    """The directory holding the committed bench measurements (bench/results/*.json)."""
    return _find("bench", "results") / "results"


def cdef_text(relative: str) -> str:
    """The C declarations between the cdef markers of one header in hls_src/."""
    text = (hls_src_dir() / relative).read_text()
    blocks = _CDEF.findall(text)
    if not blocks:
        raise ValueError(f"{relative} has no /* cdef-begin */ ... /* cdef-end */ section")
    return "\n".join(blocks)
