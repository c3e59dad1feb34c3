"""Seeded fuzzing of the model file loader: every mutation of a real model file either loads
into a valid Network or raises a streamcnn error, never anything else, within a memory bound.

The mutations are drawn from ``random.Random(seed)`` over the bytes of the shipped
lenet5-mnist.scnn, so a run is the same on every machine (no float library is involved:
loading is parsing and integer checks).  They run in a child process under an address-space
limit (RLIMIT_AS), where an allocation the loader should have refused fails as MemoryError
instead of swapping the machine.  Run this file directly to fuzz longer:

    python tests/test_modelfile_fuzz.py --byte 20000 --structured 20000 --seed 7
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

BYTE_MUTATIONS = 3000
STRUCTURED_MUTATIONS = 3000
SEED = 12
#: Importing numpy and streamcnn takes about 150 MB of address space here; the loader must
#: fit each of these small files well within this.
ADDRESS_SPACE = 1 << 30

# -- mutators ----------------------------------------------------------------------------------

_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
_INTERESTING_WORDS = (0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x10000, 1 << 30)


def _zip_offsets(data: bytes) -> list[int]:
    """Where zip's own records start (local headers, directory entries, the end record):
    byte mutations aim there half of the time, since the compressed payloads only fail CRCs."""
    return [i for sig in (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06") for i in find_all(data, sig)]


def find_all(data: bytes, sig: bytes) -> list[int]:
    """Every offset of ``sig`` in ``data`` (also used by test_modelfile.py)."""
    out, at = [], data.find(sig)
    while at >= 0:
        out.append(at)
        at = data.find(sig, at + 1)
    return out


def byte_mutation(rng: random.Random, data: bytes, offsets: list[int]) -> tuple[str, bytes]:
    """One random edit of the raw file."""
    b = bytearray(data)

    def position() -> int:
        if rng.random() < 0.5:
            return min(len(b) - 1, rng.choice(offsets) + rng.randrange(46))
        return rng.randrange(len(b))

    kind = rng.choice(("flip", "byte", "word", "insert", "delete", "truncate", "splice"))
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            b[position()] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        for _ in range(rng.randint(1, 4)):
            b[position()] = rng.choice(_INTERESTING_BYTES)
    elif kind == "word":
        at = position()
        size = rng.choice((2, 4))
        b[at:at + size] = (rng.choice(_INTERESTING_WORDS) & ((1 << 8 * size) - 1)).to_bytes(size, "little")
    elif kind == "insert":
        at = position()
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif kind == "delete":
        at = position()
        del b[at:at + rng.randint(1, 64)]
    elif kind == "truncate":
        del b[rng.randrange(len(b)):]
    else:  # a stretch of the file copied over another
        src, dst, n = position(), position(), rng.randint(4, 64)
        b[dst:dst + n] = data[src:src + n]
    return kind, bytes(b)


def _zip(members: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
        with zipfile.ZipFile(buf, "w", compression=compression, compresslevel=1) as z:
            for name, data in members:  # a fixed timestamp: the same bytes on every run
                z.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=compression)
    return buf.getvalue()


def _paths(node, prefix=()):
    """Every position in a JSON tree, as key paths."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


_DEEP = "\x00DEEP\x00"  # replaced by raw deeply nested JSON after dumping


def _json_values(rng: random.Random):
    return rng.choice([
        None, True, False, 0, 1, -1, 2, 7, 255, 4096, 4097, 2 ** 31, 2 ** 63, -2 ** 63, 10 ** 30, -10 ** 30,
        int("9" * 400), 0.5, -0.5, 1e-300, 1e308, math.nan, math.inf, -math.inf, "", "x", "7", "Conv2d",
        "layers/0/weight.npy", "network.json", [], {}, [1], [1, 2], [1, 2, 3], [[1, 2]], [-1, -1], [0, 0],
        [10 ** 9, 10 ** 9], {"a": 1}, "\u00e9\u2603", _DEEP,
    ])


def json_mutation(rng: random.Random, header: dict) -> tuple[str, bytes]:
    h = json.loads(json.dumps(header))
    paths = [p for p in _paths(h) if p]
    for _ in range(rng.randint(1, 3)):
        p = rng.choice(paths)
        parent = h
        try:
            for k in p[:-1]:
                parent = parent[k]
            op = rng.random()
            if op < 0.2 and isinstance(parent, dict):
                parent.pop(p[-1], None)
            elif op < 0.25 and isinstance(parent, dict):
                parent[rng.choice(("extra", "arrays", "type", "stride"))] = _json_values(rng)
            elif op < 0.3 and isinstance(parent, list):
                parent.append(rng.choice(parent) if parent else 1)
            else:
                parent[p[-1]] = _json_values(rng)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced the path
    text = json.dumps(h)
    depth = rng.choice((40, 5000, 200000))
    text = text.replace(json.dumps(_DEEP), "[" * depth + "]" * depth)
    if rng.random() < 0.05:
        text = rng.choice((text[:rng.randrange(len(text))], text + "}", "\ufeff" + text, text.encode("utf-16").hex()))
    return "json", text.encode("utf-8", "surrogatepass")


_DESCRS = ("|i1", "<i1", "<i2", "<i4", ">i4", "<i8", ">i8", "<u1", "<u4", "<u8", "<f2", "<f4", "<f8", ">f8", "|b1",
           "|O", "<c16", "|V8", "|S4", "<U1", "<M8[s]", "[('a', '<i4')]", "('<i4', (2,))", "bogus", "1", "None")


def npy_mutation(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """Rewrite a .npy member's header (dtype, shape, order, version) or its data length."""
    import numpy.lib.format as npy  # the child imports numpy anyway

    f = io.BytesIO(data)
    npy.read_magic(f)
    shape, fortran, dtype = npy.read_array_header_1_0(f)
    body = data[f.tell():]
    descr, order, shp = repr(dtype.str), repr(fortran), repr(shape)
    what = rng.choice(("dtype", "shape", "order", "magic", "data", "garbage"))
    major = 1
    if what == "dtype":
        descr = rng.choice(_DESCRS)
        descr = descr if descr.startswith(("[", "(")) or descr in ("1", "None") else repr(descr)
    elif what == "shape":
        shp = rng.choice(("(1099511627776,)", "(-1,)", "()", "(0,)", "(2**40, 2**40)", "(1, 1, 1, 1, 1)",
                          repr(tuple(reversed(shape))), repr(shape + (1,)), repr(shape[:-1]), "(1.5,)", "('a',)",
                          "(" * 300 + ")" * 300, "[6]", "None", repr((1 << 24,) * len(shape)),
                          repr(tuple(s + 1 for s in shape)), repr((4097,) + shape[1:])))
    elif what == "order":
        order = rng.choice(("True", "1", "'no'", "None"))
    elif what == "magic":
        major = rng.choice((2, 3, 9, 0))
    elif what == "data":
        body = rng.choice((body[:rng.randrange(len(body) + 1)], body + b"\0" * rng.randint(1, 64), b""))
    text = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, order, shp)
    if what == "garbage":
        text = rng.choice(("{", "{'descr': '<i1'}", "[1, 2]", "{'descr': '<i1', 'fortran_order': False, "
                           "'shape': (1,), 'extra': 1}", "{'descr': '<i1', 'fortran_order': False, 'shape': "
                           + "(" * 150 + ")" * 150 + "}", "__import__('os')", "x" * 20000))
    raw = text.encode("latin1")
    raw += b" " * (-(len(raw) + 11) % 64) + b"\n"
    length = struct.pack("<H", len(raw) & 0xFFFF) if major == 1 else struct.pack("<I", len(raw))
    return f"npy-{what}", b"\x93NUMPY" + bytes((major, 0)) + length + raw + body


def _patch_directory(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Edit a field of a central-directory entry: a lying size, a method zipfile cannot or
    must not inflate, the encryption flag."""
    b = bytearray(data)
    entries = find_all(data, b"PK\x01\x02")
    at = rng.choice(entries)
    field = rng.choice(("method", "size-small", "size-huge", "flags", "offset"))
    if field == "method":
        struct.pack_into("<H", b, at + 10, rng.choice((1, 6, 9, 12, 14, 93, 98, 99, 0xFFFF)))
    elif field == "size-small":
        struct.pack_into("<L", b, at + 24, rng.randrange(1, 64))
    elif field == "size-huge":
        struct.pack_into("<L", b, at + 24, rng.choice((1 << 30, 0xFFFFFFFE, 0xFFFFFFFF)))
    elif field == "flags":
        struct.pack_into("<H", b, at + 8, rng.choice((0x1, 0x20, 0x40, 0x41, 0x800, 0x8)))
    else:
        struct.pack_into("<L", b, at + 42, rng.choice((0, 1, 0xFFFFFFFF, len(data) - 10)))
    return f"zip-{field}", bytes(b)


def structured_mutation(rng: random.Random, members: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """One edit of the file's content: its JSON, an array's header, or its list of members."""
    members = list(members)
    names = [n for n, _ in members]
    arrays = [i for i, n in enumerate(names) if n.endswith(".npy")]
    kind = rng.choice(("json", "json", "json", "npy", "npy", "drop", "duplicate", "rename", "extra", "bomb",
                       "directory", "stored"))
    if kind == "json":
        i = names.index("network.json")
        what, data = json_mutation(rng, json.loads(members[i][1]))
        members[i] = ("network.json", data)
        return what, _zip(members)
    if kind == "npy":
        i = rng.choice(arrays)
        what, data = npy_mutation(rng, members[i][1])
        members[i] = (names[i], data)
        return what, _zip(members)
    if kind == "drop":
        del members[rng.randrange(len(members))]
    elif kind == "duplicate":
        i = rng.randrange(len(members))
        other = members[rng.randrange(len(members))][1]
        members.insert(rng.randrange(len(members) + 1), (names[i], rng.choice((members[i][1], other))))
    elif kind == "rename":
        i = rng.randrange(len(members))
        members[i] = (rng.choice(("network.JSON", names[i] + "x", "/" + names[i], names[i].upper(),
                                  rng.choice(names), "layers/0/../0/weight.npy")), members[i][1])
    elif kind == "extra":
        members.append((rng.choice(("README", "network.json.bak", "layers/0/extra.npy")), b"x" * 10))
    elif kind == "bomb":
        # A few MB of zeros, compressed to a few KB, in place of an array or network.json.
        i = rng.choice(arrays + [names.index("network.json")])
        zeros = b"\0" * (17 << 20 if rng.random() < 0.2 else 3 << 19)
        members[i] = (names[i], members[i][1][:128] + zeros if rng.random() < 0.5 else zeros)
    elif kind == "directory":
        return _patch_directory(_zip(members), rng)
    else:
        return "stored", _zip(members, zipfile.ZIP_STORED)
    return kind, _zip(members)


# -- the run (in the child) ---------------------------------------------------------------------


def run(byte_mutations: int, structured_mutations: int, seed: int) -> dict:
    """Load every mutation; count outcomes and keep the first escapes."""
    from streamcnn import models
    from streamcnn.errors import ModelFileError, StreamCNNError
    from streamcnn.network import Network

    source = models.path_of("lenet5-mnist").read_bytes()
    with zipfile.ZipFile(io.BytesIO(source)) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    offsets = _zip_offsets(source)
    rng = random.Random(seed)
    counts = {"loaded": 0, "ModelFileError": 0, "other StreamCNNError": 0, "other": 0}
    kinds: dict[str, int] = {}
    escapes = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.scnn"
        for n in range(byte_mutations + structured_mutations):
            if n < byte_mutations:
                kind, data = byte_mutation(rng, source, offsets)
            else:
                kind, data = structured_mutation(rng, members)
            kinds[kind] = kinds.get(kind, 0) + 1
            path.write_bytes(data)
            try:
                net = models.load(path)
                assert isinstance(net, Network) and len(net.output_shape) in (1, 3)
                counts["loaded"] += 1
            except ModelFileError as e:
                counts["ModelFileError"] += 1
                if "\n" in str(e) or len(str(e)) > 1000:
                    escapes.append(f"#{n} {kind}: not a short one-line message: {str(e)[:300]!r}")
            except StreamCNNError as e:
                counts["other StreamCNNError"] += 1
                escapes.append(f"#{n} {kind}: {type(e).__name__}: {e}")
            except BaseException as e:  # noqa: B902 - any other exception is the bug this test hunts
                counts["other"] += 1
                escapes.append(f"#{n} {kind}: {type(e).__name__}: {str(e)[:200]}")
    return {"counts": counts, "kinds": kinds, "escapes": escapes[:20]}


def _limit_address_space(limit: int) -> None:
    try:
        import resource
    except ImportError:  # not on this platform: run without the bound
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--byte", type=int, default=BYTE_MUTATIONS)
    ap.add_argument("--structured", type=int, default=STRUCTURED_MUTATIONS)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--address-space", type=int, default=ADDRESS_SPACE)
    args = ap.parse_args(argv)
    _limit_address_space(args.address_space)
    print(json.dumps(run(args.byte, args.structured, args.seed)))
    return 0


# -- the test -------------------------------------------------------------------------------------


def test_every_mutated_model_file_loads_or_raises_a_streamcnn_error():
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")  # threads reserve address space
    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"the fuzz child died ({proc.returncode}): {proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    counts = report["counts"]
    assert sum(counts.values()) == BYTE_MUTATIONS + STRUCTURED_MUTATIONS
    assert counts["other"] == 0 and counts["other StreamCNNError"] == 0, (
        f"outcomes {counts}; first escapes:\n" + "\n".join(report["escapes"]))
    assert not report["escapes"], "\n".join(report["escapes"])
    # The mutators must reach both outcomes, and every kind of structured edit must have run.
    assert counts["loaded"] > 50 and counts["ModelFileError"] > 3000, counts
    assert len(report["kinds"]) >= 20, report["kinds"]


if __name__ == "__main__":
    sys.exit(main())
