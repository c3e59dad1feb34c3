"""The wire format has one source of truth: the C header, read by cffi."""
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

from streamcnn import _resources, compiler, protocol as P
from streamcnn.caps import Capabilities

HLS = Path(__file__).resolve().parent.parent / "hls_src"


def test_format_version_8_layout_is_frozen():
    """The driver reads every constant from the header; these literal values pin format 8, so a
    layout change that forgets to bump SCNN_FORMAT_VERSION fails here."""
    assert P.FORMAT_VERSION == 8
    assert P.C["SCNN_PROGRAM_MAGIC"] == int.from_bytes(b"SCNN", "little")
    assert P.C["SCNN_STATUS_MAGIC"] == int.from_bytes(b"SCST", "little")
    assert {op.name: int(op) for op in P.Op} == {"CAPS": 0x01, "INPUT": 0x10, "UNPACK": 0x11, "CONV": 0x20, "FC": 0x21, "TILE": 0x22,
                                                 "POOL": 0x30, "RELU": 0x31, "FLATTEN": 0x32, "SEGMENT": 0x40,
                                                 "OUTPUT": 0x50,
                                                 "END": 0x7F}
    assert P.C["SCNN_FLATTEN_FIELD_WORDS"] == 1
    assert [int(s) for s in P.Status] == list(range(15))
    assert (P.C["SCNN_PKT_LENGTH_SHIFT"], P.C["SCNN_PKT_LENGTH_BITS"], P.C["SCNN_PKT_CRC_SHIFT"]) == (8, 24, 32)
    assert (P.C["SCNN_RQ_MULT_SHIFT"], P.C["SCNN_RQ_MULT_BITS"], P.C["SCNN_RQ_SHIFT_SHIFT"]) == (32, 24, 56)
    assert P.C["SCNN_L1_TILE_SHIFT"] == 32 and P.C["SCNN_L1_RELU_SHIFT"] == 24
    assert (P.C["SCNN_L1_IN_ZERO_SHIFT"], P.C["SCNN_L1_OUT_ZERO_SHIFT"], P.C["SCNN_ZERO_BITS"]) == (48, 56, 8)
    assert (P.C["SCNN_RELU_ZERO_SHIFT"], P.C["SCNN_RELU_RSVD_SHIFT"], P.C["SCNN_FLATTEN_RSVD_SHIFT"]) == (48, 56, 48)
    assert (P.C["SCNN_L1_WBITS_SHIFT"], P.C["SCNN_L1_WBITS_BITS"], P.C["SCNN_L1_SPARSE_SHIFT"]) == (25, 2, 27)
    assert (P.C["SCNN_L1_RSVD0_SHIFT"], P.C["SCNN_L1_RSVD0_BITS"], P.C["SCNN_MAP_BITS"]) == (28, 4, 64)
    assert (P.C["SCNN_WBITS_8"], P.C["SCNN_WBITS_4"], P.C["SCNN_WBITS_2"]) == (0, 1, 2)
    assert P.Field.WEIGHT_BITS == 19 and P.Field.OCCUPANCY == 20
    assert (P.C["SCNN_UNPACK_STEP_SHIFT"], P.C["SCNN_UNPACK_ZERO_SHIFT"], P.C["SCNN_UNPACK_W_SHIFT"]) == (4, 8, 32)
    assert P.CAP_COUNT == 21 and P.Cap.MAX_KERNEL == 9 and P.Cap.PREFETCH_ENTRIES == 19 and P.Cap.PIXELS == 20
    assert P.NO_PACKET == 0xFFFFFFFF


def test_python_reads_the_header_itself():
    """A value edited in the header reaches Python without touching Python."""
    text = (HLS / "streamcnn_protocol.h").read_text()
    block = _resources.cdef_text("streamcnn_protocol.h")
    assert block in text and "SCNN_OP_CONV = 0x20" in block
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(block.replace("SCNN_OP_CONV = 0x20", "SCNN_OP_CONV = 0x2A"))
    assert dict(ffi.typeof("enum scnn_opcode").relements)["SCNN_OP_CONV"] == 0x2A


def test_every_status_has_a_meaning_and_codes_are_unique():
    assert set(P.STATUS_MEANING) == set(P.Status)
    assert len({int(s) for s in P.Status}) == len(P.Status)
    assert len({int(o) for o in P.Op}) == len(P.Op)


def test_capabilities_fields_match_the_cap_enum():
    fields = list(Capabilities.__dataclass_fields__)
    assert fields == [c.name.lower() for c in P.Cap]
    assert len(fields) == P.CAP_COUNT


def test_reported_capabilities_are_the_config_header(caps):
    for name, value in P.CONFIG.items():
        assert getattr(caps, name) == value, name
    assert caps.version == P.HW_VERSION
    assert caps.format_version == P.FORMAT_VERSION


def test_layout_fields_do_not_overlap():
    """Every (shift, bits) group of one word covers distinct bits."""
    groups = {
        "packet": ["OPCODE", "LENGTH", "CRC"],
        "rq": ["BIAS", "MULT", "SHIFT", "RSVD"],
    }
    for prefix, names in groups.items():
        used = 0
        for n in names:
            key = f"SCNN_PKT_{n}" if prefix == "packet" else f"SCNN_RQ_{n}"
            mask = ((1 << P.C[key + "_BITS"]) - 1) << P.C[key + "_SHIFT"]
            assert used & mask == 0, key
            used |= mask
        assert used == (1 << 64) - 1


def test_crc_table_header_is_what_the_generator_writes(tmp_path):
    out = tmp_path / "table.h"
    subprocess.run([sys.executable, str(HLS / "gen_crc32_table.py"), str(out)], check=True)
    assert out.read_text() == (HLS / "streamcnn_crc32_table.h").read_text()


def test_packet_crc_is_zlib_crc32_of_header_low_half_and_payload():
    payload = np.arange(5, dtype=np.uint64) * np.uint64(0x0123456789ABCDEF)
    head = compiler.packet_header(P.Op.TILE, payload)
    low = head & 0xFFFFFFFF
    assert low == int(P.Op.TILE) | (5 << 8)
    assert head >> 32 == zlib.crc32(low.to_bytes(4, "little") + payload.tobytes())


def test_cdef_sections_parse():
    for header in ("streamcnn_protocol.h", "streamcnn_config.h", "host_shim/sim_bridge.h"):
        assert "cdef" not in _resources.cdef_text(header)


def test_activation_layout_round_trips(rng):
    q = rng.integers(-128, 128, (3, 11, 4, 5)).astype(np.int8)
    words = np.zeros(3 * 2 * 4 * 5, np.uint64)
    compiler.write_lanes(q, words.view(np.int8).reshape(3, 2, 4, 5, 8))
    # word (n=1, group 1, y=2, x=3), lane 2 is channel 10
    assert words.view(np.int8).reshape(3, 2, 4, 5, 8)[1, 1, 2, 3, 2] == q[1, 10, 2, 3]
    assert (words.view(np.int8).reshape(3, 2, 4, 5, 8)[:, 1, :, :, 3:] == 0).all()  # padding lanes
    assert np.array_equal(compiler.unpack_images(words, 3, (11, 4, 5)), q)
