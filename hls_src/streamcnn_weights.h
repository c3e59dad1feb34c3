/*
 * streamcnn accelerator: what decode needs to read compressed weight streams (docs/protocol.md,
 * TILE): the bits of an occupancy-map word, and packed 4- and 2-bit weights widened to the
 * int8 lanes the MAC array takes.
 *
 * The MAC array itself is unchanged by either: an absent block is never sent to it, and a
 * narrow weight is an int8 weight of smaller magnitude (mul_pair is exact for any weight of at
 * most 8 bits).  So compression saves stream words and compute steps, and costs only decode's
 * muxes.  tb/streamcnn_tb.cpp checks each primitive against plain arithmetic.
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_WEIGHTS_H
#define STREAMCNN_WEIGHTS_H

#include <stdint.h>

#include "streamcnn_protocol.h"

namespace {

const uint32_t MAP_BITS = SCNN_MAP_BITS;

/* Set bits of a map word: a 64-input adder tree. */
inline uint32_t popcount64(uint64_t w) {
#pragma HLS INLINE
    uint32_t n = 0;
    for (uint32_t b = 0; b < MAP_BITS; b++) {
#pragma HLS UNROLL
        n += (uint32_t)((w >> b) & 1u);
    }
    return n;
}

/* The index of a map word's lowest set bit (0 for 0): a priority encoder. */
inline uint32_t lowest_set(uint64_t w) {
#pragma HLS INLINE
    uint32_t p = 0;
    for (int b = MAP_BITS - 1; b >= 0; b--) {
#pragma HLS UNROLL
        if ((w >> b) & 1u) p = (uint32_t)b;
    }
    return p;
}

/* A group's valid bits in its last map word: blocks 64 (j - 1) .. blocks - 1. */
inline uint64_t map_tail_mask(uint32_t blocks) {
    const uint32_t tail = blocks & (MAP_BITS - 1u);
    return tail == 0 ? ~0ull : ((1ull << tail) - 1u);
}

/* Weight widths: the CONV/FC field's code c, for n = 8 >> c bits a weight, n words a block. */
inline uint32_t width_of(uint32_t code) { return 8u >> code; }

/* Eight n-bit two's-complement weights (the low 8n bits of x, the first lowest) as eight int8
 * lanes, n = 8 >> code: each field shifted to a byte's top and back, sign-extending. */
inline uint64_t widen(uint64_t x, uint32_t code) {
#pragma HLS INLINE
    const uint32_t n = width_of(code);
    uint64_t out = 0;
    for (uint32_t l = 0; l < SCNN_LANES; l++) {
#pragma HLS UNROLL
        const uint8_t top = (uint8_t)((x >> (n * l)) << (8u - n)); /* the field in the byte's top n bits */
        const int8_t v = (int8_t)((int32_t)(int8_t)top >> (8u - n));
        out |= (uint64_t)(uint8_t)v << (8u * l);
    }
    return out;
}

}  // namespace

#endif
