"""The wire format's constants, read from ``hls_src/streamcnn_protocol.h``.

Nothing here is typed in by hand: opcodes, status codes, field positions and
capability indices come from the C header through cffi, so the driver and the
accelerator cannot disagree.  docs/protocol.md describes the format.
"""
from __future__ import annotations

import enum
import functools
import re

import cffi

from . import _resources

#: The accelerator configurations hls_src/config/ holds (``config/<name>.h``); the first is the
#: shipped overlay's, and the one streamcnn_config.h selects by default.
CONFIGS = ("mac256", "mac64")
_DECLARATIONS = (_resources.cdef_text("streamcnn_protocol.h") + _resources.cdef_text("streamcnn_config.h")
                 + _resources.cdef_text(f"config/{CONFIGS[0]}.h"))
ffi = cffi.FFI()
ffi.cdef(_DECLARATIONS)


def _enum(c_name: str) -> dict[str, int]:
    """Name -> value of a C enum, in value order."""
    return dict(sorted(ffi.typeof(f"enum {c_name}").relements.items(), key=lambda kv: kv[1]))


def _named(c_name: str, prefix: str, cls_name: str) -> type[enum.IntEnum]:
    members = {k[len(prefix):]: v for k, v in _enum(c_name).items() if k.startswith(prefix) and not k.endswith("_COUNT")}
    return enum.IntEnum(cls_name, members)  # type: ignore[return-value]


#: Every integer constant of the header, by its C name (SCNN_PKT_CRC_SHIFT, ...).
C: dict[str, int] = {}
for _name in re.findall(r"\benum\s+(scnn_\w+)\s*\{", _DECLARATIONS):
    C.update(_enum(_name))
# #define'd integer constants are read through a library handle (the C runtime).
_defines = ffi.dlopen(None)
C["SCNN_NO_PACKET"] = int(_defines.SCNN_NO_PACKET)

Op = _named("scnn_opcode", "SCNN_OP_", "Op")
Status = _named("scnn_status", "SCNN_", "Status")
Cap = _named("scnn_cap_index", "SCNN_CAP_", "Cap")
Field = _named("scnn_field_id", "SCNN_F_", "Field")


def config(name: str = CONFIGS[0]) -> dict[str, int]:
    """The compile-time configuration ``name`` (hls_src/streamcnn_config.h and
    config/<name>.h), by lower-cased capability name, for docs and tests; a driver trusts
    the capabilities a device reports instead."""
    if name not in CONFIGS:
        raise ValueError(f"unknown accelerator configuration {name!r}; choose one of {', '.join(CONFIGS)}")
    return dict(_config(name))


@functools.lru_cache(maxsize=None)
def _config(name: str) -> dict[str, int]:
    if name == CONFIGS[0]:
        values = {**_enum("scnn_config"), **_enum("scnn_array_config")}
    else:
        other = cffi.FFI()
        other.cdef(_resources.cdef_text(f"config/{name}.h"))
        array = dict(other.typeof("enum scnn_array_config").relements)
        values = {**_enum("scnn_config"), **array}
    return {k[len("SCNN_CFG_"):].lower(): v for k, v in sorted(values.items(), key=lambda kv: kv[0])}


#: The shipped configuration (:func:`config` of ``CONFIGS[0]``).
CONFIG: dict[str, int] = config()

CAP_COUNT = C["SCNN_CAP_COUNT"]
FORMAT_VERSION = C["SCNN_FORMAT_VERSION"]
HW_VERSION = (C["SCNN_HW_VERSION_MAJOR"], C["SCNN_HW_VERSION_MINOR"], C["SCNN_HW_VERSION_PATCH"])
LANES = C["SCNN_LANES"]
NO_PACKET = C["SCNN_NO_PACKET"]


def field(word: int, shift: int, bits: int) -> int:
    """Bits [shift + bits - 1 : shift] of a 64-bit word."""
    return (int(word) >> shift) & ((1 << bits) - 1)


def put(value: int, shift: int, bits: int) -> int:
    """``value`` placed at [shift + bits - 1 : shift]; refuses values that do not fit."""
    value = int(value)
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{value} does not fit in a {bits}-bit field")
    return value << shift


STATUS_MEANING: dict[Status, str] = {
    Status.OK: "success",
    Status.ERR_BAD_MAGIC: "the stream does not start with a streamcnn program header",
    Status.ERR_BAD_VERSION: "the program's format version is not the one this accelerator speaks",
    Status.ERR_BAD_LENGTH: "the program header's total length does not match the program",
    Status.ERR_TRUNCATED: "the stream ended (TLAST) before the program did",
    Status.ERR_TRAILING_DATA: "data followed the END packet before TLAST",
    Status.ERR_UNKNOWN_OPCODE: "unknown opcode",
    Status.ERR_CRC: "CRC-32 mismatch: the packet was corrupted",
    Status.ERR_BAD_FIELD: "a field is zero, out of range, or has reserved bits set",
    Status.ERR_LIMIT: "a dimension exceeds the accelerator's compile-time maximum",
    Status.ERR_SHAPE: "the layer's input shape differs from the current activations",
    Status.ERR_SEQUENCE: "packet not allowed at this point of the program",
    Status.ERR_RESPONSE_FULL: "the results would not fit the receive buffer",
    Status.ERR_NO_END: "the program ended without an END packet",
    Status.ERR_LENGTH: "the packet's payload length is wrong for its opcode and fields",
}
