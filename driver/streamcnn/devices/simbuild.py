"""Build the simulator: the exact hls_src/ C++ compiled by g++ into a shared
library, loaded through cffi.

The library is cached under ``$STREAMCNN_CACHE_DIR`` (default
``~/.cache/streamcnn``) with a name that hashes the sources, the flags and the
compiler, so an edited source or another compiler rebuilds it and nothing else
does.  ``streamcnn build-sim`` builds it ahead of time.

Each accelerator configuration of hls_src/config/ (``protocol.CONFIGS``) is its own
library, built with the macro that selects it in streamcnn_config.h.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import cffi

from .. import _resources
from ..errors import BuildError
from ..protocol import CONFIGS

SOURCES = ("streamcnn.cpp", "host_shim/sim_bridge.cpp")
# -Wno-unknown-pragmas: the #pragma HLS lines are directives for Vitis HLS.
WARNINGS = ("-Wall", "-Wextra", "-Wno-unknown-pragmas")
FLAGS = ("-std=c++14", "-O3", "-shared", "-fPIC") + WARNINGS
NATIVE = ("-march=native",)

_lock = threading.Lock()
_loaded: dict = {}


def compiler() -> str:
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError(f"the simulator needs a C++ compiler and {cxx!r} was not found; "
                         "install g++ (Debian/Ubuntu: apt-get install g++) or set CXX")
    return cxx


def cache_dir() -> Path:
    root = os.environ.get("STREAMCNN_CACHE_DIR")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "streamcnn"


def _inputs() -> list[Path]:
    src = _resources.hls_src_dir()
    return sorted(set([src / s for s in SOURCES] + list(src.glob("*.h")) + list(src.glob("config/*.h"))
                      + list(src.glob("host_shim/*.h"))))


def config_flags(config: str) -> tuple:
    """The compiler flags that select ``config`` in streamcnn_config.h (none for the default)."""
    if config not in CONFIGS:
        raise BuildError(f"unknown accelerator configuration {config!r}; choose one of {', '.join(CONFIGS)}")
    return () if config == CONFIGS[0] else (f"-DSCNN_CONFIG_{config.upper()}",)


def _digest(cxx: str, config: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    for part in [platform.machine(), *version, *FLAGS, *NATIVE, *config_flags(config)]:
        h.update(part.encode() + b"\0")
    for path in _inputs():
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def library_path(config: str = CONFIGS[0]) -> Path:
    return cache_dir() / f"libstreamcnn_sim-{config}-{_digest(compiler(), config)}.so"


def build(force: bool = False, config: str = CONFIGS[0]) -> Path:
    """Compile the simulator library of accelerator configuration ``config`` if it is not
    cached yet; return its path."""
    cxx = compiler()
    target = library_path(config)
    if target.exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    src = _resources.hls_src_dir()
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / target.name
        base = [cxx, *FLAGS, *config_flags(config), f"-I{src}", f"-I{src / 'host_shim'}", *(str(src / s) for s in SOURCES), "-o", str(out)]
        result = subprocess.run(base[:1] + list(NATIVE) + base[1:], capture_output=True, text=True)
        if result.returncode != 0:  # e.g. a compiler without -march=native
            result = subprocess.run(base, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"compiling the simulator from {src} failed:\n{result.stderr[-4000:]}")
        os.replace(out, target)  # atomic: concurrent builders never see half a library
    return target


def load(config: str = CONFIGS[0]):
    """(ffi, lib) of the simulator of accelerator configuration ``config``, building it on
    first use."""
    with _lock:
        if config not in _loaded:
            ffi = cffi.FFI()
            ffi.cdef(_resources.cdef_text("host_shim/sim_bridge.h"))
            _loaded[config] = ffi, ffi.dlopen(str(build(config=config)))
        return _loaded[config]
