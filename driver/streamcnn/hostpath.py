"""The host's work per batch: images into the send buffer, results out of the receive buffer.

On a PYNQ-Z2 this runs on a 650 MHz Cortex-A9, where every Python or NumPy call costs
several microseconds, so the work per batch must not grow with the network.  Everything
that does not depend on the images is worked out once, when a program is loaded
(:class:`BatchPath`):

* where every input value goes in the INPUT packet: one gather index, whatever the layout
  (channel lanes, column packing, a network that starts with a Flatten), taken by running
  the compiler's own layout code on the values' indices;
* the CRC-32 of the packet's fixed part (its header's low half and its field word);
* where the final output's values sit in the answer (one gather index again), and which
  words of an OK answer never change (record heads, tensor heads, the trailer's head).

Per batch that leaves a fixed handful of NumPy calls: quantize into a staging array (or
a table look-up for uint8 pixels, a copy for int8), one ``np.take`` into the send buffer (for a
column-packed first layer, the usual one, a few strided copies instead: no index array to read),
``zlib.crc32`` over the image bytes, the transfer, one comparison of the answer's fixed
words as bytes, one ``np.take`` of the results.  An answer that differs in any fixed word
(an error status, say) goes to the full parser, which names what is wrong.

The checks and the arithmetic are those of :meth:`Network.quantize_input` and
:func:`compiler.parse_response`; the tests compare both paths bit for bit.
"""
from __future__ import annotations

import copy
import zlib

import numpy as np

from . import compiler, protocol as P
from .lowering import LANES, groups, image_words
from .network import OUT_OF_RANGE_FACTOR, Network

C = P.C
#: Quantized values beyond this are images prepared for another network (Network.quantize_input).
_FAR = OUT_OF_RANGE_FACTOR * 128
_INT8, _UINT8 = np.dtype(np.int8), np.dtype(np.uint8)


class BatchPath:
    """The per-batch work of one loaded program (its send and receive buffers)."""

    def __init__(self, prog, send: np.ndarray, recv: np.ndarray, network: Network) -> None:
        b = prog.batch
        self.network, self.batch = network, b
        self.send, self.recv = send, recv
        shape = network.input_shape
        features = int(np.prod(shape))

        # Input: staged int8 images (then the zero point, the value of every padding slot), gathered
        # into the INPUT packet's image words by the compiler's own layout.
        c, h, w = prog.input_layout
        source = np.full((b, groups(c), h, w, LANES), b * features, np.intp)
        prog.place_images(np.arange(b * features, dtype=np.intp).reshape((b,) + shape), source)
        self._source = source.reshape(-1)
        # A column-packed first layer (the usual one) is a few strided copies, faster than the gather
        self._columns = prog.columns if prog.packed is None and prog.columns is not None else None
        self._zero = network.input_zero_point
        self._stage = np.full(b * features + 1, self._zero, np.int8)
        self._staged = self._stage[:-1].reshape((b,) + shape)
        fields = C["SCNN_IN_FIELD_WORDS"]
        head = prog.input_offset
        start = head + 1 + fields
        images = send[start:start + b * image_words(prog.input_layout)]
        self._slot = images.view(np.int8)
        self._lanes = self._slot.reshape((b, groups(c), h, w, LANES))
        self._slot_bytes = memoryview(images.view(np.uint8))
        self._head_at = head
        #: the words a batch rewrites (the INPUT packet): all a board's cache flush needs to cover
        self.written = send[head:start + len(images)]
        self._low = compiler.packet_low(P.Op.INPUT, fields + len(images))
        self._crc_seed = zlib.crc32(send[head + 1:start].tobytes(), compiler.header_crc(self._low))
        self._crc_shift = C["SCNN_PKT_CRC_SHIFT"]

        self._scale = np.float32(network.input_scale)  # divided by as a float32, as quantize_input does
        self._work: dict = {}  # float dtype -> quantization scratch (values, magnitudes) of the staged shape
        # uint8 pixels p stand for float32(p) / 255: their int8 values, and the largest
        # pixel whose value is not far outside the calibrated range
        levels = np.rint(np.arange(256, dtype=np.float32) / np.float32(255) / self._scale) + self._zero
        self._lut = np.clip(levels, -128, 127).astype(np.int8)
        self._pixel_max = int(np.flatnonzero(np.abs(levels) <= _FAR).max())  # levels[0] is the zero point

        # Output: the final record's values, gathered from the answer in the network's order,
        # and the words an OK answer holds besides values and counters.
        self._words, self._expected = None, None  # learned from the first answer the parser accepts
        self.parsed = 0  # answers that went to the full parser (the first one, errors)
        at, fixed = 0, []
        for spec in prog.outputs:
            fixed += [at, at + 1, at + 2]  # record head, tensor head (shape, batch), tag
            data = at + 1 + C["SCNN_TENSOR_HEAD_WORDS"]
            at = data + b * spec.words
        self._trailer = at
        self._fixed = np.array(fixed + [at + i for i in range(C["SCNN_TRAILER_HEAD_WORDS"])], np.intp)
        spec = prog.outputs[-1]
        hw = next(layer for layer in prog.hw_layers if layer.name == spec.layer)
        order = hw.out_order
        size = int(np.prod(spec.shape))
        slot_of = np.full(size, -1, np.intp)
        valid = order >= 0
        slot_of[order[valid]] = np.flatnonzero(valid)
        self._gather = None
        if (slot_of >= 0).all():  # every output value has its slot: else the parser's path serves
            image = np.arange(b, dtype=np.intp)[:, None]
            if spec.batch_inner:  # word w of image i at w x b + i
                byte = ((slot_of // 8) * b + image) * 8 + slot_of % 8
            else:
                byte = image * (8 * spec.words) + slot_of
            self._gather = (8 * data + byte).reshape((b,) + tuple(spec.shape))
        self._recv_i8 = recv.view(np.int8)
        self.output_shape = tuple(spec.shape)

    def twin(self, send: np.ndarray, recv: np.ndarray) -> "BatchPath":
        """The same program's path through another pair of buffers (``send`` a copy of this
        one's): the index arrays, tables and staging scratch are shared, not made again;
        the buffers and what was learned of their answers are its own."""
        other = copy.copy(self)
        start = self._head_at + 1 + C["SCNN_IN_FIELD_WORDS"]
        images = send[start:start + len(self._slot) // 8]
        other.send, other.recv = send, recv
        other._slot, other._slot_bytes = images.view(np.int8), memoryview(images.view(np.uint8))
        other._lanes = other._slot.reshape(self._lanes.shape)
        other.written = send[self._head_at:start + len(images)]
        other._recv_i8 = recv.view(np.int8)
        other._words, other._expected, other.parsed = None, None, 0
        return other

    # -- images in ----------------------------------------------------------------------

    def stage(self, part: np.ndarray, keep: int) -> None:
        """Write ``keep`` images (an (keep, C, H, W) array of the network's input shape) into
        the send buffer's INPUT packet and renew its CRC; the rest of the batch is zeros."""
        full = keep == self.batch  # then no views to make: each costs a call's worth of time
        staged = self._staged if full else self._staged[:keep]
        dtype = part.dtype
        if dtype is _INT8:  # dtypes of the builtin types are singletons: no conversion to compare
            staged[...] = part
        elif dtype is _UINT8:
            if self._pixel_max < 255 and part.max() > self._pixel_max:
                self._far_pixels(part)
            staged[...] = self._lut[part]
        elif dtype.kind == "f" and dtype.isnative:
            try:
                work, size = self._work[dtype]
            except KeyError:
                work, size = self._work[dtype] = (np.empty(self._staged.shape, dtype), np.empty(self._staged.shape, dtype))
            if not full:
                work, size = work[:keep], size[:keep]
            np.divide(part, self._scale, out=work)
            np.rint(work, out=work)
            if self._zero:
                np.add(work, self._zero, out=work)
            # the ufuncs themselves, not np.clip or ndarray.max: each wrapper is a Python call
            np.absolute(work, out=size)
            if not np.maximum.reduce(size, None) <= _FAR:  # also true for NaN
                self.network.quantize_input(part)  # raises, naming the problem
            np.maximum(work, -128, out=work)
            np.minimum(work, 127, out=work)
            staged[...] = work
        else:
            staged[...] = self.network.quantize_input(part)  # refuses what it cannot take
        if not full:
            self._staged[keep:] = 0
        if self._columns is not None:
            self._columns.write(self._staged, self._lanes)  # padding slots keep the zero point
        else:
            self._stage.take(self._source, out=self._slot, mode="wrap")  # indices in range: no check needed
        crc = zlib.crc32(self._slot_bytes, self._crc_seed)
        self.send[self._head_at] = self._low | (crc << self._crc_shift)

    def _far_pixels(self, part: np.ndarray) -> None:
        from .errors import InputError

        top = self._pixel_max / 255
        raise InputError(
            f"uint8 pixels (standing for pixels / 255) reach {part.max()}, far outside the range "
            f"{self.network.name} was calibrated for (about [{(-128 - self._zero) * self._scale:.4g}, "
            f"{(127 - self._zero) * self._scale:.4g}]: "
            f"pixels up to {self._pixel_max}, {top:.3g}); scale the images as for training")

    # -- results out --------------------------------------------------------------------

    def read(self, n: int, out: np.ndarray, keep: int) -> bool:
        """Copy the final output of ``keep`` images from an answer of ``n`` words into ``out``
        (keep, *output_shape), if the answer's fixed words are those of an accepted answer;
        False (nothing copied) sends it to the parser."""
        if n != self._words or self.recv[self._fixed].tobytes() != self._expected:
            self.parsed += 1
            return False
        self._recv_i8.take(self._gather if keep == self.batch else self._gather[:keep], out=out, mode="wrap")
        return True

    def learn(self, n: int, parsed: np.ndarray) -> None:
        """After the parser accepted an answer of ``n`` words whose final output it read as
        ``parsed`` (all ``batch`` images): take its fixed words as the expected ones, if this
        path's reading of the layout gives the same values."""
        if self._gather is None or self._trailer >= n:
            return
        magic = int(self.recv[self._trailer]) & 0xFFFFFFFF
        if magic == C["SCNN_STATUS_MAGIC"] and np.array_equal(self._recv_i8[self._gather], parsed):
            self._words, self._expected = n, self.recv[self._fixed].tobytes()

    def trailer(self, n: int) -> np.ndarray:
        """A copy of the last answer's status trailer (its counters are read from it on demand)."""
        return self.recv[self._trailer:n].copy()
