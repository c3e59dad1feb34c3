"""What an accelerator can do: its version and compile-time maxima.

A device reports these in its capabilities record (one word per
``protocol.Cap`` index); the driver validates networks against them, so the
same driver works with any overlay build that speaks its format version.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Sequence

from . import protocol
from .errors import ProtocolError


@dataclass(frozen=True)
class Capabilities:
    """The capabilities record; field names are the lower-cased ``protocol.Cap`` names."""

    hw_version: int
    format_version: int
    lanes: int
    pe_out: int
    act_words: int
    weight_entries: int
    tile_channels: int
    max_channels: int
    max_dim: int
    max_kernel: int
    max_stride: int
    max_pad: int
    max_pool_kernel: int
    max_pool_stride: int
    max_fc_in: int
    max_fc_out: int
    max_batch: int
    max_layers: int
    max_program_words: int
    prefetch_entries: int
    pixels: int

    @classmethod
    def from_words(cls, words: Sequence[int]) -> "Capabilities":
        if len(words) != protocol.CAP_COUNT:
            raise ProtocolError(f"capabilities record has {len(words)} words, expected {protocol.CAP_COUNT}")
        return cls(**{cap.name.lower(): int(words[cap]) for cap in protocol.Cap})

    @property
    def version(self) -> tuple[int, int, int]:
        """Hardware version as (major, minor, patch)."""
        v = self.hw_version
        return (v >> 16, (v >> 8) & 0xFF, v & 0xFF)

    @property
    def macs_per_cycle(self) -> int:
        """int8 multiply-accumulates per cycle: input lanes x output channels x output pixels."""
        return self.lanes * self.pe_out * self.pixels

    @property
    def config(self) -> str:
        """The name of the hls_src/config/ configuration these capabilities match ("mac256",
        "mac64"), or "custom" for an overlay built from another one."""
        for name in protocol.CONFIGS:
            if all(getattr(self, k) == v for k, v in protocol.config(name).items()):
                return name
        return "custom"

    @property
    def response_reserve_words(self) -> int:
        """Receive-buffer words the accelerator keeps free for its status trailer."""
        return protocol.C["SCNN_TRAILER_HEAD_WORDS"] + protocol.C["SCNN_COUNTER_WORDS"] * self.max_layers

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hw_version"] = "%d.%d.%d" % self.version
        d["macs_per_cycle"] = self.macs_per_cycle
        d["config"] = self.config
        return d

