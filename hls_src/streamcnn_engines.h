/*
 * streamcnn accelerator: the layer engines of the execute process (arithmetic: docs/numerics.md).
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_ENGINES_H
#define STREAMCNN_ENGINES_H

#include "streamcnn_arith.h"
#include "streamcnn_types.h"

namespace {

/* ------------------------------------------------------------------------- */
/* Arithmetic (docs/numerics.md)                                              */

/* The multiplier array: 8 output channels x 8 input lanes, one 8x8 weight
 * block a cycle.  Each multiplier accumulates into its own register (a DSP48
 * in multiply-accumulate mode); lanes are summed once per output pixel. */
inline void mac_block(int32_t acc[PE][LANES], const int8_t w[PE][LANES], const int8_t x[LANES]) {
    for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            acc[o][l] += (int32_t)w[o][l] * (int32_t)x[l];
        }
    }
}

inline int32_t lane_sum(const int32_t acc[LANES]) {
    int32_t sum = 0;
    for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
        sum += acc[l];
    }
    return sum;
}

/* y = clamp(relu?(round_half_up((acc + bias) * M / 2^S)), -128, 127) */
inline int8_t requantize(int32_t acc, uint64_t rq, bool relu) {
    const int64_t bias = (int32_t)bits(rq, SCNN_RQ_BIAS_SHIFT, SCNN_RQ_BIAS_BITS);
    const int64_t mult = bits(rq, SCNN_RQ_MULT_SHIFT, SCNN_RQ_MULT_BITS);
    const uint32_t shift = bits(rq, SCNN_RQ_SHIFT_SHIFT, SCNN_RQ_SHIFT_BITS);
    int64_t v = ((int64_t)acc + bias) * mult;
    if (shift > 0) v = (v + ((int64_t)1 << (shift - 1))) >> shift;
    if (relu && v < 0) v = 0;
    if (v > 127) v = 127;
    if (v < -128) v = -128;
    return (int8_t)v;
}

/* average() and div_by_stride(): streamcnn_arith.h (constant divisions without dividers). */

/* ------------------------------------------------------------------------- */
/* Layer engines                                                              */

/* Output groups [first, first + count) of a CONV/FC layer for the whole batch,
 * with the tile's requantization words in requant_buf and its weights in
 * weight_buf, or, when `stream` is set, still in the entry FIFO: a layer that
 * uses each weight block once (batch 1, one output pixel: a fully-connected
 * layer) computes straight from the FIFO instead of copying first.  One
 * pipeline with II = 1 walks image, output group, output pixel and, innermost,
 * the pixel's weight blocks (input group, ky, kx), the FIFO's order: no fill or
 * drain between pixels.  Returns its trip count. */
uint64_t conv_tile(const Layer& L, uint32_t first, uint32_t count, uint32_t batch, entry_fifo_t& entries,
                   bool stream, const act_bank_t& src, act_bank_t& dst, const weight_mem_t& weight_buf,
                   const requant_mem_t& requant_buf) {
    const uint32_t in_plane = L.in.height * L.in.width;
    const uint32_t in_img = L.in_groups * in_plane;
    const uint32_t out_img = L.out_groups * L.out.height * L.out.width;
    const uint32_t blocks_per_group = L.in_groups * L.kernel_h * L.kernel_w;
    const uint64_t steps = (uint64_t)batch * count * L.out.height * L.out.width * blocks_per_group;
    const int32_t in_h = (int32_t)L.in.height, in_w = (int32_t)L.in.width;
    const int32_t top = -(int32_t)L.pad_h, left = -(int32_t)L.pad_w;

    /* Position counters, and address bases kept up to date as they advance:
     * additions only, no multiplier in the address path. */
    uint32_t b = 0, g = 0, oy = 0, ox = 0;     /* output position */
    uint32_t i = 0, ky = 0, kx = 0, blk = 0;   /* reduction position; blk = (i * kh + ky) * kw + kx */
    uint32_t img_base = 0;                     /* b * in_img */
    uint32_t plane_base = 0;                   /* img_base + i * in_plane */
    uint32_t block_base = 0;                   /* g * blocks_per_group */
    uint32_t out_addr = first * L.out.height * L.out.width; /* output word of (b, first + g, oy, ox) */
    int32_t y0 = top, x0 = left;               /* input position of the window's corner */
    int32_t iy = top, ix = left;               /* y0 + ky, x0 + kx */
    int32_t row = top * in_w;                  /* iy * in_w */
    int32_t row0 = row;                        /* y0 * in_w */
    const int32_t row_step = (int32_t)L.stride_h * in_w;
    int32_t acc[PE][LANES];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
conv_step:
    for (uint64_t step = 0; step < steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 1048576
#pragma HLS PIPELINE II = 1
        int8_t x[LANES];
#pragma HLS ARRAY_PARTITION variable = x complete
        if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w) {
            unpack(src[plane_base + (uint32_t)(row + ix)], x);
        } else {
            for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                x[l] = 0; /* zero padding */
            }
        }
        if (blk == 0) {
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                    acc[o][l] = 0;
                }
            }
        }
        int8_t w[PE][LANES];
#pragma HLS ARRAY_PARTITION variable = w complete dim = 0
        if (stream) {
            const Entry e = entries.read();
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                unpack(e.word[o], w[o]);
            }
        } else {
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                unpack(weight_buf[block_base + blk][o], w[o]);
            }
        }
        mac_block(acc, w, x);

        if (blk + 1 == blocks_per_group) {
            int8_t y[PE];
#pragma HLS ARRAY_PARTITION variable = y complete
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                y[o] = requantize(lane_sum(acc[o]), requant_buf[g][o], L.relu != 0);
            }
            dst[out_addr] = pack(y);
            /* next output pixel */
            blk = i = ky = kx = 0;
            out_addr++;
            x0 += (int32_t)L.stride_w;
            if (++ox == L.out.width) {
                ox = 0;
                x0 = left;
                y0 += (int32_t)L.stride_h;
                row0 += row_step;
                if (++oy == L.out.height) {
                    oy = 0;
                    y0 = top;
                    row0 = top * in_w;
                    block_base += blocks_per_group;
                    if (++g == count) {
                        g = 0;
                        block_base = 0;
                        ++b;
                        img_base += in_img;
                        out_addr = b * out_img + first * L.out.height * L.out.width;
                    }
                }
            }
            plane_base = img_base;
            iy = y0;
            ix = x0;
            row = row0;
        } else {
            /* next weight block of the same pixel */
            ++blk;
            ++ix;
            if (++kx == L.kernel_w) {
                kx = 0;
                ix = x0;
                ++iy;
                row += in_w;
                if (++ky == L.kernel_h) {
                    ky = 0;
                    iy = y0;
                    row = row0;
                    ++i;
                    plane_base += in_plane;
                }
            }
        }
    }
    return steps;
}

/* Max or average pooling, no padding, floor mode; 8 channels per cycle.  One
 * pipeline with II = 1 walks image, group, output pixel and, innermost, the
 * window's rows and, within a row, pairs of taps (kx, kx + 1): the source
 * buffer's two ports read both taps of a pair in the same cycle, so a 2x2
 * window takes 2 cycles and a 3x3 one 6.  Returns its trip count. */
uint64_t pool(const Shape& in, const Shape& out, uint32_t kernel, uint32_t stride, bool mean,
              uint32_t batch, const act_bank_t& src, act_bank_t& dst) {
    const uint32_t groups = groups_of(in.channels);
    const uint32_t pairs = (kernel + 1) / 2; /* steps per window row */
    const uint64_t steps = (uint64_t)batch * groups * out.height * out.width * kernel * pairs;
    const uint32_t row_step = stride * in.width;
    const int32_t neutral = mean ? 0 : -128;

    uint32_t ky = 0, kx = 0;                    /* window position; kx even */
    uint32_t ox = 0, oy = 0;                    /* output pixel */
    uint32_t plane_base = 0;                    /* first input word of the plane (image b, group g) */
    const uint32_t plane_words = in.height * in.width;
    uint32_t corner = 0;                        /* input word of the window's top-left tap */
    uint32_t tap_row = 0;                       /* corner + ky * in.width */
    uint32_t row_start = 0;                     /* input word of the window row's first output */
    uint32_t out_addr = 0;
    int32_t acc[LANES];
#pragma HLS ARRAY_PARTITION variable = acc complete
pool_step:
    for (uint64_t step = 0; step < steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 1048576
#pragma HLS PIPELINE II = 1
        const uint32_t a = tap_row + kx;
        const bool pair = kx + 1 < kernel; /* the second tap is inside the window */
        const bool first = ky == 0 && kx == 0;
        const bool last = ky + 1 == kernel && kx + 2 >= kernel;
        const uint64_t w0 = src[a];
        const uint64_t w1 = pair ? src[a + 1] : 0; /* port B: the second tap, when there is one */
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            const int32_t v0 = (int8_t)(uint8_t)(w0 >> (8 * l));
            const int32_t v1 = pair ? (int32_t)(int8_t)(uint8_t)(w1 >> (8 * l)) : neutral;
            const int32_t base = first ? neutral : acc[l];
            if (mean) {
                acc[l] = base + v0 + v1;
            } else {
                const int32_t m = v0 > v1 ? v0 : v1;
                acc[l] = m > base ? m : base;
            }
        }
        if (last) {
            int8_t y[LANES];
#pragma HLS ARRAY_PARTITION variable = y complete
            for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                y[l] = mean ? average(acc[l], kernel) : (int8_t)acc[l];
            }
            dst[out_addr] = pack(y);
            out_addr++;
            ky = kx = 0;
            /* next output pixel, row, plane */
            corner += stride;
            if (++ox == out.width) {
                ox = 0;
                row_start += row_step;
                corner = row_start;
                if (++oy == out.height) {
                    oy = 0;
                    plane_base += plane_words;
                    row_start = plane_base;
                    corner = row_start;
                }
            }
            tap_row = corner;
        } else if (kx + 2 >= kernel) {
            kx = 0; /* next window row */
            ++ky;
            tap_row += in.width;
        } else {
            kx += 2;
        }
    }
    return steps;
}

/* In place: the current buffer, every word of the batch. */
uint64_t relu(uint32_t words, act_bank_t& buf) {
relu_word:
    for (uint32_t a = 0; a < words; a++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        int8_t v[LANES];
#pragma HLS ARRAY_PARTITION variable = v complete
        unpack(buf[a], v);
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            if (v[l] < 0) v[l] = 0;
        }
        buf[a] = pack(v); /* one load, one store of the whole word */
    }
    return words;
}

/* The low n bytes of a word (n = 1..8). */
inline uint64_t lane_mask(uint32_t n) { return n >= LANES ? ~0ull : ((1ull << (8 * n)) - 1); }

/* (C, H, W) -> (C*H*W, 1, 1) into the other buffer: per image, the valid lanes of its
 * words in memory order, packed 8 to a word, the last word zero-padded, so a dense
 * layer after it streams weights for real inputs only (C = 1 would otherwise waste 7
 * of every 8).  One pipeline with II = 1 takes a word per step, plus one step per
 * image to write its partial last word: never more than one store a step.  The bytes
 * not yet written (at most 7 between steps) wait in `pending`.  Returns its trip count. */
uint64_t flatten(const Shape& in, uint32_t batch, const act_bank_t& src, act_bank_t& dst) {
    const uint32_t groups = groups_of(in.channels);
    const uint32_t plane = in.height * in.width;
    const uint32_t words = groups * plane; /* per image */
    const uint32_t last_lanes = in.channels - LANES * (groups - 1);
    const uint64_t steps = (uint64_t)batch * (words + 1);
    uint32_t a = 0, out_addr = 0; /* input and output words */
    uint32_t k = 0, g = 0, p = 0; /* step within the image; group and pixel of word a */
    uint64_t pending = 0;         /* bytes not yet written, the first lowest */
    uint32_t fill = 0;            /* how many */
flatten_step:
    for (uint64_t step = 0; step < steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        if (k < words) {
            const uint32_t n = (g + 1 == groups) ? last_lanes : LANES;
            const uint64_t w = src[a] & lane_mask(n);
            /* the 16-byte window pending | w << 8 * fill, as (lo, hi) */
            const uint64_t lo = pending | (w << (8 * fill));
            const uint64_t hi = fill ? (w >> (64 - 8 * fill)) : 0;
            if (fill + n >= LANES) {
                dst[out_addr] = lo;
                out_addr++;
                pending = hi;
                fill = fill + n - LANES;
            } else {
                pending = lo;
                fill += n;
            }
            a++;
            if (++p == plane) {
                p = 0;
                g++;
            }
        } else {
            if (fill) {
                dst[out_addr] = pending;
                out_addr++;
            }
            pending = 0;
            fill = 0;
        }
        if (++k == words + 1) {
            k = g = p = 0;
        }
    }
    return steps;
}


}  // namespace

#endif
