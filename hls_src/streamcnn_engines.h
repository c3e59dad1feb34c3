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

/* mul_pair(), two products on one DSP48E1: streamcnn_arith.h. */

/* The MAC array: one 8x8 weight block (8 output channels x 8 input lanes) against the PIX
 * pixels' input words, PE x LANES x PIX products a cycle on PE x LANES x PIX / 2 DSP48E1 (PIX = 1:
 * one product each).  acc[p][o] gains the lane sum of pixel p's products for channel o, an
 * 8-input adder tree per (p, o); `first` starts a pixel group's sums afresh. */
inline void mac_block(int32_t acc[PIX][PE], const int8_t w[PE][LANES], const int8_t x[PIX][LANES], bool first) {
#pragma HLS INLINE
    for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
        int32_t prod[PIX][LANES];
#pragma HLS ARRAY_PARTITION variable = prod complete dim = 0
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            for (unsigned q = 0; q + 1 < PIX; q += 2) {
#pragma HLS UNROLL
                mul_pair(w[o][l], x[q][l], x[q + 1][l], prod[q][l], prod[q + 1][l]);
            }
            if (PIX % 2) prod[PIX - 1][l] = mul_one(w[o][l], x[PIX - 1][l]);
        }
        for (unsigned p = 0; p < PIX; p++) {
#pragma HLS UNROLL
            /* the lanes' tree first, then one add onto the sum: the loop-carried path is one
             * adder and a mux, not the tree */
            int32_t lanes = 0;
            for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                lanes += prod[p][l];
            }
            acc[p][o] = (first ? 0 : acc[p][o]) + lanes;
        }
    }
}

/* Requantization, as onnxruntime's kernels do it in float32 (MlasRequantizeOutput) and bit for
 * bit the same, in integers: v = acc + bias becomes a float32 (24 significant bits), is
 * multiplied by the float32 factor M / 2^S (M its 24-bit mantissa: the product rounded to 24
 * significant bits again), rounded to an integer half to even, offset by the zero point and
 * clamped (at the zero point below with a fused ReLU):
 *     y = clamp(rne(f(f(v) x M) / 2^S) + zero, relu ? zero : -128, 127),  f: float32's rounding. */

/* Bits of n up to its highest set bit (0 for 0): a priority encoder. */
inline uint32_t bit_length(uint64_t n) {
#pragma HLS INLINE
    uint32_t len = 0;
    for (uint32_t b = 0; b < 64; b++) {
#pragma HLS UNROLL
        if ((n >> b) & 1u) len = b + 1;
    }
    return len;
}

/* n / 2^shift rounded to the nearest integer, ties to even (shift 0..63).  r keeps one more bit,
 * whose lowest is the half; the bits below it (sticky) tell a tie from more than half. */
inline int64_t shift_half_even(int64_t n, uint32_t shift) {
#pragma HLS INLINE
    if (shift == 0) return n;
    const int64_t r = n >> (shift - 1);
    const bool sticky = (n & (((int64_t)1 << (shift - 1)) - 1)) != 0;
    int64_t v = (r + 1) >> 1;
    if ((r & 1) && !sticky && (v & 1)) v -= 1;
    return v;
}

/* n rounded to float32's 24 significant bits, ties to even: exact below 2^24. */
const uint32_t SCNN_FLOAT_BITS = 24;
inline int64_t to_float_bits(int64_t n) {
#pragma HLS INLINE
    const uint64_t mag = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    const uint32_t len = bit_length(mag);
    if (len <= SCNN_FLOAT_BITS) return n;
    const uint32_t drop = len - SCNN_FLOAT_BITS;
    const int64_t rounded = shift_half_even((int64_t)mag, drop) * ((int64_t)1 << drop);
    return n < 0 ? -rounded : rounded;
}

inline int8_t requantize(int32_t acc, uint64_t rq, bool relu, int8_t zero) {
    const int64_t bias = (int32_t)bits(rq, SCNN_RQ_BIAS_SHIFT, SCNN_RQ_BIAS_BITS);
    const int64_t mult = bits(rq, SCNN_RQ_MULT_SHIFT, SCNN_RQ_MULT_BITS);
    const uint32_t shift = bits(rq, SCNN_RQ_SHIFT_SHIFT, SCNN_RQ_SHIFT_BITS);
    /* |acc + bias| < 2^32 and M < 2^24: the product is exact in 57 bits */
    const int64_t p = to_float_bits(to_float_bits((int64_t)acc + bias) * mult);
    int64_t v = shift_half_even(p, shift) + zero;
    const int64_t low = relu ? (int64_t)zero : (int64_t)-128;
    if (v > 127) v = 127;
    if (v < low) v = low;
    return (int8_t)v;
}

/* average() and div_by_stride(): streamcnn_arith.h (constant divisions without dividers). */

/* ------------------------------------------------------------------------- */
/* Layer engines                                                              */
/* Literals beside ap_uint values are unsigned: ap_uint + int makes a signed temporary in
 * Xilinx's ap_int.h, whose constructor shifts a negative value (UBSan flags it). */

/* The tile's output groups of a CONV/FC layer for the whole batch, with the tile's
 * requantization words in requant_buf and its weight blocks and their taps in weight_buf and
 * tap_buf, or, when `stream` is set, still in the entry FIFO: a layer that uses each weight
 * block once (batch 1, one output pixel: a fully-connected layer) computes straight from the
 * FIFO instead of copying first.  One pipeline with II = 1 walks image, output group, output
 * row, pixel group (PIX neighbouring pixels of the row, which share every weight block) and,
 * innermost, the output group's blocks, the FIFO's order.  Only the blocks present are there
 * (a sparse layer's absent ones were never sent), each with its tap: where its input words
 * are from the pixel group's window, and whether it is its output group's last.  No fill or
 * drain between pixel groups.
 *
 * A pixel group takes max(its output group's blocks, PIX) steps, so that the group before it
 * is stored meanwhile: its sums wait in `done`, and each step requantizes one of its pixels (8
 * channels, 8 requantizers) and stores that word, one store a cycle; the last PIX steps only
 * store.  Decode sums those spans into s.mac_steps.
 *
 * Every position is a counter and every address a base kept up to date as the counters
 * advance, plus a block's tap offset: additions and compares only, no multiplier in the loop
 * besides the MAC array, each counter in the width its maximum needs (streamcnn_types.h).  The
 * input coordinates wrap below zero (padding), so one unsigned compare per axis tells padding
 * from image.  Returns its trip count. */
uint64_t conv_tile(const Schedule& s, entry_fifo_t& entries, bool stream, const act_mem_t& src, act_mem_t& dst,
                   const weight_mem_t& weight_buf, const tap_mem_t& tap_buf, const requant_mem_t& requant_buf) {
    /* Output position (ox: the group's first pixel), step within the pixel group (blk), and
     * whether the output group's last block has been taken (the steps after it up to PIX only
     * store). */
    group_t g = 0;
    dim_t oy = 0, ox = 0;
    entry_t blk = 0, blocks = 0; /* blocks: the output group's, once its last is taken */
    bool taken = false;
    /* pixels of the plane still to come (s.wrap), and of the group inside the row or plane */
    addr_t rest = s.out_plane;
    pixel_t valid = at_most(s.wrap ? unsigned(s.out_plane) : unsigned(s.out_w), PIX);
    /* Address bases: image (b x in_img), the output group's first block, the group's first
     * output word, and the output image's first word of the tile. */
    addr_t img_base = s.src_base;
    addr_t out_addr = s.dst_base + s.first_out, out_img_base = s.dst_base + s.first_out;
    entry_t block_base = 0;
    /* The first pixel's window corner, and its row offset (y x in_w). */
    coord_t y0 = s.top, x0 = s.left;
    addr_t row0 = s.row_top;
    int32_t acc[PIX][PE];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
    /* The previous group, being stored: its sums (pixel 0 next), output group, next word, and
     * how many pixels are left. */
    int32_t done[PIX][PE];
#pragma HLS ARRAY_PARTITION variable = done complete dim = 0
    group_t done_g = 0;
    addr_t done_addr = 0;
    pixel_t done_left = 0;
    for (unsigned p = 0; p < PIX; p++) {
#pragma HLS UNROLL
        for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
            acc[p][o] = done[p][o] = 0; /* every group overwrites them first; zeroed for the compilers' sake */
        }
    }
conv_step:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 4194308
#pragma HLS PIPELINE II = 1
        /* Store: one pixel of the previous group. */
        if (done_left != 0u) {
            int8_t y[PE];
#pragma HLS ARRAY_PARTITION variable = y complete
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                y[o] = requantize(done[0][o], requant_buf[done_g][o], s.relu, s.zero);
            }
            store(dst, done_addr, pack(y));
            ++done_addr;
            --done_left;
            for (unsigned p = 0; p + 1 < PIX; p++) {
#pragma HLS UNROLL
                for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                    done[p][o] = done[p + 1][o];
                }
            }
        }
        if (step < s.mac_steps) { /* the last PIX steps only store */
            bool last = taken;
            /* Compute: the next weight block against the group's pixels. */
            if (!taken) {
                int8_t w[PE][LANES];
#pragma HLS ARRAY_PARTITION variable = w complete dim = 0
                Tap tap;
                if (stream) {
                    const Entry e = entries.read();
                    tap = e.tap;
                    for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                        unpack(e.word[o], w[o]);
                    }
                } else {
                    const entry_t k = (block_base + blk) & (SCNN_CFG_WEIGHT_ENTRIES - 1u); /* in range by decode; cut for safety */
                    tap = tap_buf[k];
                    for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                        unpack(weight_buf[k][o], w[o]);
                    }
                }
                const coord_t iy = y0 + tap.ky, ix = x0 + tap.kx;
                /* pixel k's tap: k x stride on, or, past the row's end (s.wrap), in the next row */
                bool wrapped[PIX];
                unsigned off[PIX];
#pragma HLS ARRAY_PARTITION variable = wrapped complete
#pragma HLS ARRAY_PARTITION variable = off complete
                for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
                    wrapped[k] = s.wrap && ox + k >= s.out_w;
                    off[k] = (s.sw == 2u ? 2u * k : k) + (wrapped[k] ? (unsigned)s.wrap_skip : 0u);
                }
                uint64_t words[PIX];
#pragma HLS ARRAY_PARTITION variable = words complete
                /* pixel 0's tap may be padding */
                gather(src, img_base + tap.offset + row0 + offset_of(ix), off, words);
                int8_t x[PIX][LANES];
#pragma HLS ARRAY_PARTITION variable = x complete dim = 0
                for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
                    const coord_t ixk = ix + (s.sw == 2u ? 2u * k : k) - (wrapped[k] ? s.wrap_dx : coord_t(0));
                    const coord_t iyk = wrapped[k] ? coord_t(iy + s.sh) : iy;
                    const bool inside = iyk < s.in_h && ixk < s.in_w;
                    for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                        x[k][l] = inside ? (int8_t)(uint8_t)(words[k] >> (8 * l)) : s.pad; /* padding: a real 0 */
                    }
                }
                mac_block(acc, w, x, blk == 0u);
                if (tap.last) {
                    last = true;
                    blocks = blk + 1u;
                }
            }

            if (last && blk + 1u >= PIX) {
                /* The group is complete: hand it to the store, move to the next group. */
                for (unsigned p = 0; p < PIX; p++) {
#pragma HLS UNROLL
                    for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                        done[p][o] = acc[p][o];
                    }
                }
                done_g = g;
                done_addr = out_addr;
                done_left = valid;
                out_addr += valid;
                blk = 0;
                taken = false;
                const bool row_end = ox + PIX >= s.out_w;
                const bool plane_end = s.wrap ? rest <= PIX : (row_end && oy + 1u == s.out_h);
                if (plane_end) {
                    ox = oy = 0;
                    x0 = s.left;
                    y0 = s.top;
                    row0 = s.row_top;
                    rest = s.out_plane;
                    block_base += blocks; /* the next output group's blocks */
                    if (++g == s.count) { /* next image */
                        g = 0;
                        block_base = 0;
                        img_base += s.in_img;
                        out_img_base += s.out_img;
                        out_addr = out_img_base;
                    }
                } else if (row_end) { /* next row: its first pixels, or (wrap) those after the ones taken */
                    ox = s.wrap ? dim_t(ox + PIX - s.out_w) : dim_t(0);
                    x0 = s.wrap ? coord_t(x0 + s.group_dx - s.wrap_dx) : s.left;
                    ++oy;
                    y0 += s.sh;
                    row0 += s.row_step;
                    rest -= PIX;
                } else {
                    ox += PIX;
                    x0 += s.group_dx;
                    rest -= PIX;
                }
                const dim_t left = s.out_w - ox;
                valid = at_most(s.wrap ? unsigned(rest) : unsigned(left), PIX);
            } else {
                /* next step of the same group: its next block, or (all taken) a store only */
                taken = last;
                ++blk;
            }
        }
    }
    return s.steps;
}

/* Max or average pooling, no padding, floor mode.  One pipeline with II = 1 walks image,
 * group, output row, groups of s.count neighbouring outputs (pool_pixels: up to PIX, as many as
 * have their window row's taps within ACT_BANKS words) and, innermost, the windows' rows: a
 * step reads ACT_BANKS words of a row, one from every bank, reduces each output's taps of it
 * (k words at its offset p x stride) and folds them into its 8 lanes; on a window's last row it stores the
 * group's outputs, one word to each of as many banks.  So a 2 x 2 window takes 2 steps for
 * 4 outputs.  Images and groups are one sequence of planes (the batch's planes back to back).
 * Returns its trip count. */
uint64_t pool(const Schedule& s, const act_mem_t& src, act_mem_t& dst) {
    const bool mean = s.relu;
    const int32_t neutral = mean ? 0 : -128;
    kernel_t ky = 0;                             /* window row */
    dim_t ox = 0, oy = 0;                        /* output pixel: the group's first */
    addr_t plane_base = s.src_base;              /* first input word of the plane */
    addr_t corner = s.src_base;                  /* input word of the group's first window's top-left tap */
    addr_t tap_row = s.src_base;                 /* corner + ky x in_w */
    addr_t row_start = s.src_base;               /* input word of the output row's first window */
    addr_t out_addr = s.dst_base;
    const pixel_t pixels = s.count;
    pixel_t valid = at_most(s.out_w, pixels); /* outputs of the group inside the row */
    int32_t acc[PIX][LANES];
#pragma HLS ARRAY_PARTITION variable = acc complete dim = 0
    for (unsigned p = 0; p < PIX; p++) {
#pragma HLS UNROLL
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            acc[p][l] = 0; /* the first step of every window overwrites it; zeroed for the compilers' sake */
        }
    }
pool_step:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 24576
#pragma HLS PIPELINE II = 1
        uint64_t row[ACT_BANKS];
#pragma HLS ARRAY_PARTITION variable = row complete
        window(src, tap_row, row);
        const bool first = ky == 0u;
        const bool last = ky + 1u == s.kh;
        uint64_t y[PIX];
#pragma HLS ARRAY_PARTITION variable = y complete
        for (unsigned p = 0; p < PIX; p++) {
#pragma HLS UNROLL
            /* output p's taps: words p x stride + kx, kx < k (past the window row: unused pixels) */
            const unsigned at = p * (unsigned)s.sh;
            int8_t out[LANES];
#pragma HLS ARRAY_PARTITION variable = out complete
            for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
                /* the row's taps first, then one max or add onto the window's: the loop-carried
                 * path is one operator, not the taps' chain */
                int32_t taps = neutral;
                for (unsigned kx = 0; kx < SCNN_CFG_MAX_POOL_KERNEL; kx++) {
#pragma HLS UNROLL
                    if (kx < s.kh) {
                        const int32_t t = (int8_t)(uint8_t)(row[(at + kx) & (ACT_BANKS - 1u)] >> (8 * l));
                        taps = mean ? taps + t : (t > taps ? t : taps);
                    }
                }
                const int32_t before = acc[p][l];
                const int32_t v = first ? taps : (mean ? before + taps : (taps > before ? taps : before));
                acc[p][l] = v;
                out[l] = mean ? average(v, s.kh) : (int8_t)v;
            }
            y[p] = pack(out);
        }
        if (last) {
            scatter(dst, out_addr, y, valid);
            out_addr += valid;
            ky = 0;
            /* next group, row, plane */
            ox += s.count;
            corner += s.group_dx;
            if (ox >= s.out_w) {
                ox = 0;
                row_start += s.row_step;
                corner = row_start;
                if (++oy == s.out_h) {
                    oy = 0;
                    plane_base += s.in_plane;
                    row_start = plane_base;
                    corner = row_start;
                }
            }
            const dim_t left = s.out_w - ox;
            valid = at_most(left, pixels);
            tap_row = corner;
        } else {
            ++ky; /* next window row */
            tap_row += s.in_w;
        }
    }
    return s.steps;
}

/* FLATTEN when every word is whole (C a multiple of 8: nothing to pack): a transposition, word
 * k of image b to k x batch + b.  One pipeline with II = 1 takes word k of PIX images a step:
 * they are s.in_img words apart, in distinct banks when in_img is not a multiple of 4 (decode
 * checks it), and go to consecutive words.  Word by word, groups of images innermost.  Returns
 * its trip count. */
uint64_t transpose(const Schedule& s, const act_mem_t& src, act_mem_t& dst) {
    addr_t word_base = s.src_base;      /* word k of image 0 */
    addr_t in = s.src_base;             /* word k of the group's first image */
    addr_t out = s.dst_base;            /* k x batch + the group's first image */
    addr_t left = s.count;              /* images of the batch still to come for this word */
    const addr_t image_step = s.in_img;
transpose_step:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        const pixel_t n = at_most(left, PIX);
        addr_t a[PIX];
#pragma HLS ARRAY_PARTITION variable = a complete
        a[0] = in;
        for (unsigned p = 1; p < PIX; p++) {
#pragma HLS UNROLL
            a[p] = a[p - 1] + image_step; /* adders, not a multiplier */
        }
        uint64_t w[PIX];
#pragma HLS ARRAY_PARTITION variable = w complete
        gather_any(src, a, n, w);
        scatter(dst, out, w, n);
        out += n;
        if (left <= PIX) { /* next word */
            ++word_base;
            in = word_base;
            left = s.count;
        } else {
            in += s.row_step; /* PIX images on */
            left -= PIX;
        }
    }
    return s.steps;
}

/* In place: the current buffer, every word of the batch, clamped below at the zero point. */
uint64_t relu(const Schedule& s, act_mem_t& buf) {
    addr_t a = s.src_base;
relu_word:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        /* Each word is loaded and stored by one step and never touched again: no dependence
         * from one step's store to a later load, which the separate address counter could
         * otherwise make the tool assume (and raise the II to the load-to-store distance). */
#pragma HLS DEPENDENCE variable = buf type = inter false
        int8_t v[LANES];
#pragma HLS ARRAY_PARTITION variable = v complete
        unpack(load(buf, a), v);
        for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
            if (v[l] < s.zero) v[l] = s.zero;
        }
        store(buf, a, pack(v)); /* one load, one store of the whole word */
        ++a;
    }
    return s.steps;
}

/* The low n bytes of a word (n = 1..8). */
inline uint64_t lane_mask(lane_t n) { return n >= LANES ? ~0ull : ((1ull << (8u * n)) - 1); }

/* UNPACK: the INPUT's images, bytes row by row (s.in_w words a row), spread into words of
 * s.last_lanes lanes, s.out_w a row, word x the 8 bytes from byte x x s.step of its row on, the
 * lanes past s.last_lanes the zero point; into the other buffer.  One pipeline with II = 1,
 * PIX words a step (as many as the convolution takes a cycle): one read of the 8 banks from
 * the word holding the first one's bytes (PIX words' bytes span at most 7 + (PIX - 1) x 8 + 8
 * bytes: 5 words), a byte shift per word, and PIX stores to consecutive addresses (distinct
 * banks).  Returns its trip count. */
uint64_t unpack(const Schedule& s, const act_mem_t& src, act_mem_t& dst) {
    static_assert((7 + (PIX - 1) * SCNN_LANES + SCNN_LANES + 7) / 8 <= ACT_BANKS, "a step's bytes in one window");
    addr_t row = s.src_base, out = s.dst_base;
    ap_uint<bits_for(SCNN_CFG_MAX_DIM * SCNN_LANES + PIX * SCNN_LANES)> byte = 0; /* x x step, in the row */
    dim_t x = 0;
    const uint64_t keep = lane_mask(s.last_lanes);
    const uint64_t fill = (uint64_t)(uint8_t)s.zero * 0x0101010101010101ull;
    pixel_t valid = at_most(s.out_w, PIX);
unpack_word:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        uint64_t words[ACT_BANKS];
#pragma HLS ARRAY_PARTITION variable = words complete
        window(src, row + (unsigned)(byte >> 3), words);
        uint64_t y[PIX];
#pragma HLS ARRAY_PARTITION variable = y complete
        for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
            const unsigned at = (unsigned)(byte & 7u) + k * (unsigned)s.step; /* bytes into the window */
            const unsigned shift = 8u * (at & 7u), first = (at >> 3) & (ACT_BANKS - 1u); /* <= 4 */
            const uint64_t lo = words[first], hi = words[(first + 1u) & (ACT_BANKS - 1u)];
            const uint64_t w = shift ? (lo >> shift) | (hi << (64u - shift)) : lo;
            y[k] = (w & keep) | (fill & ~keep);
        }
        scatter(dst, out, y, valid);
        out += valid;
        if (x + PIX >= s.out_w) {
            x = 0;
            byte = 0;
            row += s.in_w;
        } else {
            x += PIX;
            byte += PIX * (unsigned)s.step; /* PIX is a power of two: a shift */
        }
        valid = at_most(unsigned(s.out_w - x), PIX);
    }
    return s.steps;
}

/* (C, H, W) -> (C*H*W, 1, 1) into the other buffer: per image, the valid lanes of its
 * words in memory order, packed 8 to a word, the last word zero-padded, so a dense
 * layer after it streams weights for real inputs only (C = 1 would otherwise waste 7
 * of every 8).  The output is batch-innermost, word k of image b at k x batch + b, the
 * layout dense layers take: their pixel slots are images side by side.  One pipeline with II = 1 takes a word per step, plus one step per
 * image to write its partial last word: never more than one store a step.  The bytes
 * not yet written (at most 7 between steps) wait in `pending`.  Returns its trip count. */
uint64_t flatten(const Schedule& s, const act_mem_t& src, act_mem_t& dst) {
    addr_t a = s.src_base, out_addr = s.dst_base; /* input and output words */
    addr_t out_base = s.dst_base;                 /* the image's first output word: b */
    addr_t k = 0, p = 0;          /* step within the image; pixel of word a */
    group_t g = 0;                /* group of word a */
    uint64_t pending = 0;         /* bytes not yet written, the first lowest */
    lane_t fill = 0;              /* how many */
flatten_step:
    for (steps_t step = 0; step < s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        if (k < s.in_img) {
            const lane_t n = (g + 1u == s.count) ? s.last_lanes : lane_t(LANES);
            const uint64_t w = load(src, a) & lane_mask(n);
            /* the 16-byte window pending | w << 8 * fill, as (lo, hi) */
            const uint64_t lo = pending | (w << (8u * fill));
            const uint64_t hi = fill ? (w >> (64u - 8u * fill)) : 0;
            if (fill + n >= LANES) {
                store(dst, out_addr, lo);
                out_addr += s.out_plane;
                pending = hi;
                fill = fill + n - LANES;
            } else {
                pending = lo;
                fill += n;
            }
            ++a;
            if (++p == s.in_plane) {
                p = 0;
                ++g;
            }
        } else {
            if (fill) store(dst, out_addr, pending);
            pending = 0;
            fill = 0;
        }
        if (++k == s.in_img + 1u) { /* next image */
            k = p = 0;
            g = 0;
            ++out_base;
            out_addr = out_base;
        }
    }
    return s.steps;
}

}  // namespace

#endif
