"""Where the accelerator's C++ lives, and the C declarations Python reads from it.

In a source checkout (or an editable install) that is the repository's
``hls_src/``; a regular install carries a copy inside the package
(``streamcnn/_hls_src``, made by setup.py).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "_hls_src", _PACKAGE.parent.parent / "hls_src")

_CDEF = re.compile(r"/\* cdef-begin \*/(.*?)/\* cdef-end \*/", re.S)


@lru_cache(maxsize=1)
def hls_src_dir() -> Path:
    """The directory holding streamcnn.cpp and its headers."""
    for path in _CANDIDATES:
        if (path / "streamcnn.cpp").is_file():
            return path
    raise FileNotFoundError(
        "streamcnn's accelerator sources (hls_src/) were not found; looked in "
        + ", ".join(str(p) for p in _CANDIDATES)
        + ". Reinstall streamcnn (pip install .) or run from a source checkout."
    )


def cdef_text(relative: str) -> str:
    """The C declarations between the cdef markers of one header."""
    text = (hls_src_dir() / relative).read_text()
    blocks = _CDEF.findall(text)
    if not blocks:
        raise ValueError(f"{relative} has no /* cdef-begin */ ... /* cdef-end */ section")
    return "\n".join(blocks)
