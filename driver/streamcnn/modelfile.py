"""The streamcnn model file (``.scnn``): a quantized :class:`Network` on disk.

A zip archive (every entry CRC-checked by zip itself) holding

* ``network.json``: ``{"format": "streamcnn-network", "version": 2, "name": ...,
  "input_shape": [C, H, W], "input_scale": s, "input_zero_point": z, "metadata": {...},
  "layers": [...]}``, one object per layer with its type, name, geometry, scales and
  zero points, and the names of its arrays (version 1 files, from before zero points,
  are read with every zero point 0);
* one ``.npy`` file per array (int8 weights, int32 biases, int64 multipliers and
  shifts, float64 weight scales), parsed here without ``np.load``: no pickles, no
  object dtypes, C order only.

A model file is untrusted input.  :func:`load` raises :class:`ModelFileError` for every
malformed file, and it checks every size a file declares (entries, directory, JSON,
array shapes) against the limits below *before* reading what it declares, reading each
member through a reader that stops at the limit whatever the zip headers claim.

docs/model-format.md describes the format and its limits; the version changes whenever
the format does.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import struct
import tempfile
import tokenize
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Union

import numpy as np
import numpy.lib.format as npy

from . import protocol
from .errors import ModelFileError, NetworkError
from .network import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, Network, ReLU

FORMAT = "streamcnn-network"
VERSION = 2
#: The versions load() reads: 1 had no zero points (they are 0).
READS = (1, 2)
_ARRAYS = {"Conv2d": ("weight", "bias", "multiplier", "shift", "weight_scale"),
           "Linear": ("weight", "bias", "multiplier", "shift", "weight_scale")}
_TYPES = {cls.__name__: cls for cls in (Conv2d, Linear, MaxPool2d, AvgPool2d, ReLU, Flatten)}
#: The dtype each array must have (any byte order; it is converted to the machine's).
DTYPES = {"weight": np.dtype(np.int8), "bias": np.dtype(np.int32), "multiplier": np.dtype(np.int64),
          "shift": np.dtype(np.int64), "weight_scale": np.dtype(np.float64)}

# -- limits ---------------------------------------------------------------------------------
# Derived from the accelerator's compile-time maxima (hls_src/streamcnn_config.h): a file may
# hold a network the device refuses (Network.check names the limit), but never arrays bigger
# than any accelerator layer can use, so that a file cannot make load() allocate more than a
# runnable network needs.
_CFG = protocol.CONFIG
#: Output channels (features) of a Conv2d or Linear: no accelerator layer produces more.
MAX_OUT_CHANNELS = max(_CFG["max_channels"], _CFG["max_fc_out"])
#: Elements of one weight array: a Linear of max_fc_in x max_fc_out, or a Conv2d whose
#: kernel fills a weight tile (in groups x kh x kw <= weight_entries) for max_channels outputs.
MAX_WEIGHT_ELEMENTS = max(_CFG["max_fc_in"] * _CFG["max_fc_out"],
                          _CFG["max_channels"] * _CFG["weight_entries"] * _CFG["lanes"])
#: Every dimension, stride, padding and pooling kernel in network.json: the largest of the
#: accelerator's maxima; it also keeps every shape product far from int64 overflow.
MAX_GEOMETRY = max(_CFG["max_channels"], _CFG["max_fc_in"], _CFG["max_fc_out"])
#: Layers of a network: an accelerator layer runs a Conv2d/Linear with its fused ReLU and
#: free Flattens, so 8 network layers per accelerator layer is generous.
MAX_LAYERS = 8 * _CFG["max_layers"]
#: network.json: free-form metadata included (the shipped models' is about 3 KB).
MAX_JSON_BYTES = 1 << 20
#: Nesting of network.json's arrays and objects (the format itself needs 4).
MAX_JSON_DEPTH = 32
#: A .npy header (numpy writes about 128 bytes for these arrays).
MAX_NPY_HEADER = 4096
#: All arrays of a file together: the weights of a network fit one program (the DMA's
#: max_program_words words of 8 bytes), plus every layer's per-channel arrays and headers.
_PER_CHANNEL_BYTES = sum(DTYPES[a].itemsize for a in _ARRAYS["Conv2d"][1:])  # bias, multiplier, shift, scale
MAX_ARRAY_BYTES = (_CFG["max_program_words"] * 8 + MAX_LAYERS * MAX_OUT_CHANNELS * _PER_CHANNEL_BYTES
                   + MAX_LAYERS * len(_ARRAYS["Conv2d"]) * MAX_NPY_HEADER)
#: A member name in network.json (save writes names like "layers/11/weight_scale.npy").
MAX_MEMBER_NAME = 255
#: Zip entries: network.json and five arrays per layer, with room for a few extra files.
MAX_MEMBERS = 1 + 5 * MAX_LAYERS + 64
#: The zip central directory, which zipfile parses whole on opening (about 270 bytes of
#: memory per entry): MAX_MEMBERS entries with names and extra fields of up to 1 KiB.
MAX_DIRECTORY_BYTES = MAX_MEMBERS * 1024

#: What zipfile, zlib and the file system raise on truncated or corrupted data.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, UnicodeDecodeError)
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
#: Zip flag bits for encryption (0, 6) and compressed patch data (5), which zipfile cannot read.
_ENCRYPTED = 0x1 | 0x20 | 0x40


def save(network: Network, path: Union[str, Path]) -> Path:
    """Write ``network`` (with its ``metadata``) to ``path``.

    Refuses (:class:`ModelFileError`) a network whose arrays exceed the limits :func:`load`
    enforces, so that every file written here can be read back."""
    path = Path(path)
    network = _revalidated(network)
    _check_saveable(network)
    # written beside the target (a name of its own: two threads may save at once) and renamed
    # into place, so no half-written file is ever left at path
    try:
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as e:
        raise ModelFileError(f"cannot save {network.name} to {path}: {e.strerror or e}") from None
    os.close(handle)
    part = Path(name)
    try:
        problem = _write(network, part)
        if problem is None:
            os.replace(part, path)
    finally:
        if part.exists():
            part.unlink()
    if problem is not None:
        raise ModelFileError(f"cannot save {network.name} to {path}: {problem}")
    return path


def _revalidated(network: Network) -> Network:
    """``network`` built again from its fields, so that the checks construction makes also
    cover what was changed afterwards (a zero point of 300, a NumPy integer, a negative scale)."""
    import dataclasses

    try:
        return dataclasses.replace(network, layers=[dataclasses.replace(layer) for layer in network.layers])
    except (NetworkError, TypeError, ValueError) as e:
        raise ModelFileError(f"cannot save {network.name}: {e}") from None


def _write(network: Network, path: Path):
    """Write the model file; return None, or why it would not load (nothing then counts)."""
    layers = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, layer in enumerate(network.layers):
            kind = type(layer).__name__
            entry: dict = {"type": kind, "name": layer.name}
            if isinstance(layer, Conv2d):
                entry.update(stride=list(layer.stride), padding=list(layer.padding))
            if isinstance(layer, (MaxPool2d, AvgPool2d)):
                entry.update(kernel_size=layer.kernel_size, stride=layer.stride)
            if kind in _ARRAYS:
                entry["output_scale"] = None if layer.output_scale is None else float(layer.output_scale)
                entry["output_zero_point"] = int(layer.output_zero_point)
                entry["arrays"] = {}
                for name in _ARRAYS[kind]:
                    value = getattr(layer, name)
                    if value is None:
                        continue
                    member = f"layers/{i}/{name}.npy"
                    buf = io.BytesIO()
                    np.save(buf, np.asarray(value), allow_pickle=False)
                    z.writestr(member, buf.getvalue())
                    entry["arrays"][name] = member
            layers.append(entry)
        header = {"format": FORMAT, "version": VERSION, "name": network.name,
                  "input_shape": list(network.input_shape), "input_scale": network.input_scale,
                  "input_zero_point": network.input_zero_point, "metadata": network.metadata, "layers": layers}
        text = json.dumps(header, indent=1).encode()
        problem = (f"its network.json would take {len(text)} bytes, more than the {MAX_JSON_BYTES} a model file "
                   f"allows" if len(text) > MAX_JSON_BYTES else
                   f"its metadata nests more than {MAX_JSON_DEPTH - 1} deep" if _json_depth(text) > MAX_JSON_DEPTH
                   else None)
        if problem is None:
            z.writestr("network.json", text)
    return problem  # a file load() refuses is worse than none: the caller drops it


def _check_saveable(network: Network) -> None:
    """The limits of :func:`load` that the arrays and geometry of a network can break (its name,
    metadata and fields were checked by :func:`_revalidated`)."""
    geometry = list(network.input_shape)
    for layer in network.layers:
        if isinstance(layer, Conv2d):
            geometry += [*layer.stride, *layer.padding]
        elif isinstance(layer, (MaxPool2d, AvgPool2d)):
            geometry += [layer.kernel_size, layer.stride]
    if max(geometry) > MAX_GEOMETRY:
        raise ModelFileError(f"{network.name}: a size, stride or padding of {max(geometry)}; a model file holds "
                             f"at most {MAX_GEOMETRY}")
    if len(network.layers) > MAX_LAYERS:
        raise ModelFileError(f"{network.name} has {len(network.layers)} layers; a model file holds at most "
                             f"{MAX_LAYERS}")
    total = 0
    for layer in network.layers:
        if isinstance(layer, (Conv2d, Linear)):
            w = np.asarray(layer.weight)
            if w.shape[0] > MAX_OUT_CHANNELS or w.size > MAX_WEIGHT_ELEMENTS:
                raise ModelFileError(f"{network.name}: {layer.name}: weights of shape {w.shape} exceed the model "
                                     f"file's limits ({MAX_OUT_CHANNELS} outputs, {MAX_WEIGHT_ELEMENTS} weights)")
            total += w.size + w.shape[0] * _PER_CHANNEL_BYTES
    if total > MAX_ARRAY_BYTES:
        raise ModelFileError(f"{network.name}: its arrays take {total} bytes, more than a model file's "
                             f"{MAX_ARRAY_BYTES}")


# -- load -------------------------------------------------------------------------------------


def load(path: Union[str, Path]) -> Network:
    """Read a model file; every problem raises :class:`ModelFileError` naming it."""
    path = Path(path)
    try:
        fp = open(path, "rb")
    except FileNotFoundError:
        raise ModelFileError(f"no model file at {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{path} is a directory, not a model file") from None
    except PermissionError:
        raise ModelFileError(f"cannot read the model file {path}: permission denied") from None
    except OSError as e:
        raise ModelFileError(f"cannot read the model file {path}: {_one_line(e)}") from e
    with fp:
        try:
            _check_directory(fp, path)
            with zipfile.ZipFile(fp) as z:
                reader = _Reader(z, path, os.fstat(fp.fileno()).st_size)
                header = _header(reader)
                layers = [_layer(reader, i, entry) for i, entry in enumerate(header["layers"])]
        except ModelFileError:
            raise
        except NetworkError as e:  # a layer's own checks (pair(), integer())
            raise ModelFileError(f"{path}: the network it holds is invalid: {_one_line(e)}") from e
        except _CORRUPT as e:
            raise ModelFileError(f"{path} is not a streamcnn model file, or it is truncated or corrupted "
                                 f"({_one_line(e)})") from e
        except NotImplementedError as e:  # zipfile's word for a feature it lacks (a newer zip version, say)
            raise ModelFileError(f"{path} uses a zip feature model files never use ({_one_line(e)})") from e
    try:
        return Network(tuple(header["input_shape"]), layers, input_scale=header["input_scale"],
                       input_zero_point=header["input_zero_point"], name=header["name"], metadata=header["metadata"])
    except NetworkError as e:
        raise ModelFileError(f"{path}: the network it holds is invalid: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    """An exception's message on one line, and short: zipfile quotes names of up to 64 KiB."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _check_directory(fp: BinaryIO, path: Path) -> None:
    """Bound the zip central directory before zipfile parses all of it into memory.

    Finds the end-of-central-directory record as zipfile does (the final 22 bytes if they are
    one without a comment, else the last signature in the final 64 KiB), so that both read the
    same sizes; a file without one is left to zipfile, which refuses it."""
    size = os.fstat(fp.fileno()).st_size
    tail_size = min(size, 20 + 22 + 0xFFFF)  # a zip64 locator, the record, its longest comment
    fp.seek(size - tail_size)
    tail = fp.read(tail_size)
    if tail[-22:-18] == _EOCD and tail[-2:] == b"\0\0":
        at = len(tail) - 22
    else:
        at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return
    entries, directory_bytes = struct.unpack("<10xHL6x", tail[at:at + 22])
    if at >= 20 and tail[at - 20:at - 16] == _ZIP64_LOCATOR:
        # Zip64 exists for archives beyond 4 GiB or 65535 entries, far past these limits.
        raise ModelFileError(f"{path} uses zip64 records; a streamcnn model file never needs them "
                             f"(at most {MAX_MEMBERS} entries)")
    if entries > MAX_MEMBERS:
        raise ModelFileError(f"{path} declares {entries} zip entries; a model file has at most {MAX_MEMBERS}")
    if directory_bytes > MAX_DIRECTORY_BYTES:
        raise ModelFileError(f"{path} declares a {directory_bytes}-byte zip directory; a model file's is at "
                             f"most {MAX_DIRECTORY_BYTES} bytes")
    fp.seek(0)


class _Reader:
    """The members of an open model file, read within their limits."""

    def __init__(self, z: zipfile.ZipFile, path: Path, size: int):
        self.z, self.path = z, path
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelFileError(f"{path} has {len(infos)} zip entries; a model file has at most {MAX_MEMBERS}")
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in self.members:
                # Readers disagree on which of two same-named entries counts: refuse the ambiguity.
                raise ModelFileError(f"{path} holds two zip entries named {_short(info.filename)}")
            self.members[info.filename] = info
            # zipfile shifts every entry by the bytes found missing or added before the
            # directory; an entry that lands outside the file would fail as a bare EINVAL.
            if not 0 <= info.header_offset <= size - 30:
                raise ModelFileError(f"{path} is truncated or corrupted: its entry {_short(info.filename)} would start at "
                                     f"byte {info.header_offset}, outside the {size}-byte file")
        self.array_bytes = 0  # declared sizes of the arrays read so far

    def info(self, name: str, what: str) -> zipfile.ZipInfo:
        info = self.members.get(name)
        if info is None:
            raise ModelFileError(f"{what} names the member {name!r}, which the file does not hold")
        if info.flag_bits & _ENCRYPTED:
            raise ModelFileError(f"{self.path}: {name} is encrypted or patched (zip flags {info.flag_bits:#x}); "
                                 f"model files are plain zip entries")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{self.path}: {name} uses zip compression method {info.compress_type}; a model "
                                 f"file uses only stored (0) or deflated (8) entries")
        return info

    def open(self, name: str, what: str, limit: int) -> tuple[zipfile.ZipInfo, BinaryIO]:
        """The member ``name`` as a stream, refused before it is read if it declares more
        than ``limit`` bytes; ``what`` (the file, the layer, the array) prefixes messages."""
        info = self.info(name, what)
        if info.file_size > limit:
            raise ModelFileError(f"{what}: {name} declares {info.file_size} bytes uncompressed, more than the "
                                 f"limit of {limit} bytes")
        # zipfile's stream inflates no more than it is asked for and stops at the declared
        # size, so a member whose data inflates beyond its header cannot grow past the limit
        # (and then fails its CRC).
        with self.reading(name):
            return info, self.z.open(info)

    @contextmanager
    def reading(self, name: str):
        """Name the member in what zipfile and zlib raise while it is read."""
        try:
            yield
        except _CORRUPT as e:
            raise ModelFileError(f"{self.path}: {name} is truncated or corrupted ({_one_line(e)})") from e

    def read(self, name: str, what: str, limit: int) -> bytes:
        info, f = self.open(name, what, limit)
        with f, self.reading(name):
            data = f.read(info.file_size + 1)
        if len(data) != info.file_size:
            raise ModelFileError(f"{self.path}: {name} holds {len(data)} bytes, its zip header says "
                                 f"{info.file_size}")
        return data


# -- network.json ----------------------------------------------------------------------------

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _json_depth(raw: bytes) -> int:
    """How deeply ``raw``'s arrays and objects nest (brackets inside strings do not count),
    measured before parsing so that no parser ever recurses on a hostile file."""
    depth = deepest = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _header(reader: _Reader) -> dict:
    path = reader.path
    if "network.json" not in reader.members:
        raise ModelFileError(f"{path} is a zip file but not a streamcnn model (no network.json)")
    raw = reader.read("network.json", str(path), MAX_JSON_BYTES)
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise ModelFileError(f"{path}: network.json nests arrays and objects more than {MAX_JSON_DEPTH} deep")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ModelFileError(f"{path}: network.json is not valid UTF-8 JSON ({_one_line(e)})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        got = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ModelFileError(f"{path} is not a streamcnn model (format {_short(got)})")
    version = header.get("version")
    if not _is_int(version) or version not in READS:
        raise ModelFileError(f"{path} is model format version {_short(version)}; this streamcnn reads "
                             f"versions {' and '.join(map(str, READS))}: upgrade streamcnn or re-export the model")
    where = f"{path}: network.json"
    name = _field(header, "name", str, where)
    shape = _field(header, "input_shape", list, where)
    if len(shape) != 3:
        raise ModelFileError(f"{where}: input_shape must be [C, H, W], got {_short(shape)}")
    for v in shape:
        _geometry(v, "input_shape", where)
    _number(_field(header, "input_scale", (int, float), where), "input_scale", where)
    zero = _zero_point(header, "input_zero_point", where)
    metadata = header.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ModelFileError(f"{where}: metadata must be an object, got {type(metadata).__name__}")
    layers = _field(header, "layers", list, where)
    if not 1 <= len(layers) <= MAX_LAYERS:
        raise ModelFileError(f"{where}: a model file holds 1 to {MAX_LAYERS} layers, this one {len(layers)}")
    for i, entry in enumerate(layers):
        if not isinstance(entry, dict):
            raise ModelFileError(f"{where}: layer {i} must be an object, got {type(entry).__name__}")
    return {"name": name, "input_shape": shape, "input_scale": header["input_scale"], "input_zero_point": zero,
            "metadata": dict(metadata or {}), "layers": layers}


def _zero_point(entry: dict, key: str, where: str) -> int:
    """A zero point: an integer, 0 when absent (version 1); its range is the network's to judge."""
    v = entry.get(key, 0)
    if not _is_int(v) or abs(v) > 1 << 16:
        raise ModelFileError(f"{where}: {key} must be an integer in [-128, 127], got {_short(v)}")
    return v


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _short(v: Any) -> str:
    """``repr(v)``, cut to fit in a one-line message."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _field(entry: dict, key: str, types, where: str) -> Any:
    if key not in entry:
        raise ModelFileError(f"{where}: {key} is missing")
    v = entry[key]
    if not isinstance(v, types) or isinstance(v, bool):
        expected = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise ModelFileError(f"{where}: {key} must be {expected}, got {type(v).__name__} {_short(v)}")
    return v


def _geometry(v: Any, what: str, where: str) -> int:
    """A dimension, stride, padding or kernel: an integer in [0, MAX_GEOMETRY] (the network
    refuses the zeros and sizes that make no sense, naming the layer)."""
    if not _is_int(v) or not 0 <= v <= MAX_GEOMETRY:
        raise ModelFileError(f"{where}: {what} must be integers from 0 to {MAX_GEOMETRY}, got {_short(v)}")
    return v


def _number(v: Any, what: str, where: str) -> None:
    # Finiteness and sign are the network's to judge (it names the layer); here only the type.
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise ModelFileError(f"{where}: {what} must be a number, got {type(v).__name__} {_short(v)}")
    if isinstance(v, int) and abs(v) > 1 << 64:
        raise ModelFileError(f"{where}: {what} {_short(v)} is out of range")


# -- layers and arrays -----------------------------------------------------------------------


def _layer(reader: _Reader, i: int, entry: dict):
    where = f"{reader.path}: layer {i}"
    kind = _field(entry, "type", str, where)
    if kind not in _TYPES:
        raise ModelFileError(f"{reader.path}: layer {i} has unknown type {_short(kind)}")
    name = _field(entry, "name", str, where)
    where = f"{reader.path}: layer {i} ({_short(name)})"
    cls = _TYPES[kind]
    if kind in _ARRAYS:
        scale = entry.get("output_scale")
        if scale is not None:
            _number(scale, "output_scale", where)
        extra = {}
        if kind == "Conv2d":
            for key in ("stride", "padding"):
                v = _field(entry, key, list, where)
                if len(v) != 2:
                    raise ModelFileError(f"{where}: {key} must be [height, width], got {_short(v)}")
                extra[key] = tuple(_geometry(x, key, where) for x in v)
        zero = _zero_point(entry, "output_zero_point", where)
        arrays = _arrays(reader, kind, _field(entry, "arrays", dict, where), where)
        return cls(**arrays, output_scale=scale, output_zero_point=zero, name=name, **extra)
    if kind in ("MaxPool2d", "AvgPool2d"):
        k = _geometry(_field(entry, "kernel_size", int, where), "kernel_size", where)
        stride = entry.get("stride")
        return cls(k, None if stride is None else _geometry(stride, "stride", where), name=name)
    return cls(name=name)


def _arrays(reader: _Reader, kind: str, members: dict, where: str) -> dict:
    unknown = sorted(set(members) - set(_ARRAYS[kind]))
    if unknown:
        raise ModelFileError(f"{where}: unknown arrays {_short(unknown)}; a {kind} has {', '.join(_ARRAYS[kind])}")
    missing = set(_ARRAYS[kind]) - {"weight_scale"} - set(members)
    if missing:
        raise ModelFileError(f"{where} lacks arrays {sorted(missing)}")
    for array, member in members.items():
        if not isinstance(member, str) or len(member) > MAX_MEMBER_NAME:
            raise ModelFileError(f"{where}: the member of {array} must be a string of at most {MAX_MEMBER_NAME} "
                                 f"characters, got {_short(member)}")
    # Bound the whole file's arrays by their declared sizes before reading any of this layer's.
    reader.array_bytes += sum(reader.info(m, f"{where}: {a}").file_size for a, m in members.items())
    if reader.array_bytes > MAX_ARRAY_BYTES:
        raise ModelFileError(f"{where}: the arrays declare {reader.array_bytes} bytes up to this layer, more "
                             f"than the limit of {MAX_ARRAY_BYTES} for a model file")
    weight = _array(reader, members["weight"], f"{where}: weight", "weight", 4 if kind == "Conv2d" else 2)
    out = weight.shape[0]
    arrays = {"weight": weight}
    for array in _ARRAYS[kind][1:]:
        if array in members:
            arrays[array] = _array(reader, members[array], f"{where}: {array}", array, 1, (out,))
    return arrays


def _array(reader: _Reader, member: str, what: str, array: str, ndim: int, shape: tuple | None = None) -> np.ndarray:
    """One .npy member, its header checked (dtype, order, shape, size) before its data is read."""
    dtype = DTYPES[array]
    limit = MAX_NPY_HEADER + dtype.itemsize * (MAX_WEIGHT_ELEMENTS if array == "weight" else MAX_OUT_CHANNELS)
    info, f = reader.open(member, what, limit)
    with f, reader.reading(member):
        try:
            version = npy.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version[0]}.{version[1]} (streamcnn reads 1.0 and 2.0)")
            read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            got_shape, fortran_order, got_dtype = read(f, max_header_size=MAX_NPY_HEADER)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError, tokenize.TokenError) as e:
            # numpy's header parser (tokenize, then ast.literal_eval) raises all of these on garbage.
            raise ModelFileError(f"{what}: {member} is not a valid .npy array ({_one_line(e)})") from None
        if got_dtype.kind != dtype.kind or got_dtype.itemsize != dtype.itemsize or got_dtype.fields is not None \
                or got_dtype.subdtype is not None:
            raise ModelFileError(f"{what}: {member} holds {got_dtype.str} values; a {array} must be {dtype.name}")
        if fortran_order:
            raise ModelFileError(f"{what}: {member} is in Fortran order; model files hold C-order arrays")
        if len(got_shape) != ndim:
            raise ModelFileError(f"{what}: {member} has shape {_short(got_shape)}; a {array} here has {ndim} "
                                 f"dimension{'s' if ndim > 1 else ''}")
        if shape is not None and got_shape != shape:
            raise ModelFileError(f"{what}: {member} has shape {_short(got_shape)}, the weights need {shape}")
        if min(got_shape) < 1:
            raise ModelFileError(f"{what}: {member} has shape {_short(got_shape)}; every dimension must be at "
                                 f"least 1")
        count = math.prod(got_shape)
        if array == "weight" and (got_shape[0] > MAX_OUT_CHANNELS or count > MAX_WEIGHT_ELEMENTS):
            raise ModelFileError(f"{what}: {member} declares a {_short(got_shape)} array ({count * dtype.itemsize} "
                                 f"bytes); a model file's limits are {MAX_OUT_CHANNELS} output channels and "
                                 f"{MAX_WEIGHT_ELEMENTS} weights per layer")
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - f.tell():
            raise ModelFileError(f"{what}: {member} declares a {_short(got_shape)} array of {nbytes} bytes, but "
                                 f"{info.file_size - f.tell()} bytes follow its header")
        data = bytearray(f.read(nbytes + 1))  # to the end, so that zip checks the CRC
    if len(data) != nbytes:
        raise ModelFileError(f"{what}: {member} holds {len(data)} bytes of data, its header declares {nbytes}")
    values = np.frombuffer(data, dtype=got_dtype).reshape(got_shape)
    return values if got_dtype == dtype else values.astype(dtype)
