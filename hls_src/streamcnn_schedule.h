/*
 * streamcnn accelerator: the schedules decode computes for execute's engines, and the products they
 * take (one shared multiplier).
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_SCHEDULE_H
#define STREAMCNN_SCHEDULE_H

#include "streamcnn_arith.h"
#include "streamcnn_types.h"

namespace {

/* ------------------------------------------------------------------------- */
/* The products decode needs, and the schedules they go into                  */

/* Every run-time product in decode goes through this one multiplier: 24 x 16 bits, one
 * DSP48E1 (ALLOCATION limit 1 in decode, and its callers are inlined into decode), used a few
 * times per CONV, FC, TILE, POOL, FLATTEN, INPUT and OUTPUT packet, where decode spends a
 * cycle per product against hundreds per packet streaming words.  Each call's operands are
 * within these widths by the checks before it: dimensions <= 128, groups <= 512, channels
 * <= 4096, batch <= 256, and a first operand that is a word count below 2^24. */
uint64_t mul(ap_uint<24> a, ap_uint<16> b) {
#pragma HLS INLINE off
    const ap_uint<40> p = a * b;
    return p;
}

/* x times k for k = 0..3 (a stride or a padding): shifts and an add. */
inline uint32_t times_small(uint32_t x, uint32_t k) {
    switch (k) {
    case 0: return 0;
    case 1: return x;
    case 2: return x << 1;
    default: return (x << 1) + x;
    }
}
static_assert(SCNN_CFG_MAX_STRIDE <= 3 && SCNN_CFG_MAX_POOL_STRIDE <= 3 && SCNN_CFG_MAX_PAD <= 3,
              "times_small covers strides and paddings up to 3");

/* Words of one image of shape s; s within the maxima (channels <= 4096, height, width <= 128). */
inline uint32_t image_words(const Shape& s) {
#pragma HLS INLINE
    return (uint32_t)mul((uint32_t)mul(groups_of(s.channels), s.height), s.width);
}

/* The schedule of a layer that walks `words` words once (INPUT, RELU, OUTPUT). */
Schedule schedule_words(uint32_t words) {
    Schedule s = Schedule();
    s.steps = words;
    return s;
}

/* A CONV/FC tile of output groups [first, first + count), after check_layer.  Its pixels go
 * PIX to a group along each output row (the row's last group may hold fewer), each group
 * max(blocks of its output group, PIX) steps (span_sum: their sum over the tile's output
 * groups), and PIX steps at the end store the last group (conv_tile). */
Schedule schedule_conv(const Layer& L, uint32_t first, uint32_t count, uint32_t batch, uint32_t span_sum) {
#pragma HLS INLINE
    Schedule s = Schedule();
    s.in_h = L.in.height;
    s.in_w = L.in.width;
    s.out_h = L.out.height;
    s.out_w = L.out.width;
    s.kh = L.kernel_h;
    s.kw = L.kernel_w;
    s.sh = L.stride_h;
    s.sw = L.stride_w;
    s.top = 0u - L.pad_h;  /* wraps: -pad_h */
    s.left = 0u - L.pad_w;
    s.relu = L.relu != 0;
    s.pad = L.in_zero;
    s.zero = L.out_zero;
    s.count = count;
    s.group_dx = L.stride_w * PIX; /* PIX is a power of two: a shift */
    const uint32_t in_plane = (uint32_t)mul(L.in.height, L.in.width);
    const uint32_t out_plane = (uint32_t)mul(L.out.height, L.out.width);
    s.in_plane = in_plane;
    s.in_img = mul(in_plane, L.in_groups);
    s.out_plane = out_plane;
    s.out_img = mul(out_plane, L.out_groups);
    s.first_out = mul(out_plane, first);
    s.row_step = times_small(L.in.width, L.stride_h);
    s.row_top = 0u - times_small(L.in.width, L.pad_h);
    /* Groups run on across rows when the width leaves a row's last one short, there is a next
     * row to take pixels from, and a wrapped pixel's tap is at most ACT_BANKS - 1 words on. */
    const uint32_t row_words = times_small(L.in.width, L.stride_h), row_pixels = times_small(L.out.width, L.stride_w);
    const uint32_t max_skip = ACT_BANKS - 1 - (PIX - 1) * L.stride_w;
    s.wrap = PIX > 1 && (L.out.width & (PIX - 1)) != 0 && L.out.width >= PIX && L.out.height > 1 &&
             row_words >= row_pixels && row_words - row_pixels <= max_skip;
    s.wrap_skip = row_words - row_pixels; /* used only when wrap */
    s.wrap_dx = row_pixels;
    /* Pixel groups per plane: ceil(out_h x out_w / PIX) (wrap) or out_h x ceil(out_w / PIX), a
     * shift.  That x batch <= out_plane x batch <= ACT_WORDS (check_layer), x span_sum <=
     * count x max(blocks, PIX) <= WEIGHT_ENTRIES (count x blocks <= WEIGHT_ENTRIES, count x PIX
     * <= TILE_GROUPS_MAX x PIX) */
    const uint32_t plane_groups = s.wrap ? (out_plane + PIX - 1) >> log2_of(PIX)
                                         : (uint32_t)mul(L.out.height, (L.out.width + PIX - 1) >> log2_of(PIX));
    s.mac_steps = mul((uint32_t)mul(plane_groups, batch), span_sum);
    s.steps = (uint32_t)s.mac_steps + PIX;
    return s;
}

/* A dense layer's tile: a 1 x 1 convolution over one row of `batch` pixels, the batch's images
 * side by side (its input and output are batch-innermost), so the pixel slots take PIX images. */
Schedule schedule_fc(const Layer& L, uint32_t first, uint32_t count, uint32_t batch, uint32_t span_sum) {
#pragma HLS INLINE
    Layer row = L;
    row.in.width = row.out.width = batch;
    return schedule_conv(row, first, count, 1, span_sum);
}

/* The output pixels pooling computes a step for kernel k and stride s: as many as PIX whose
 * windows' taps in a row, (p - 1) s + k words, fit the ACT_BANKS words read in one cycle. */
inline uint32_t pool_pixels(uint32_t k, uint32_t s) {
    uint32_t p = 1;
    for (uint32_t q = 2; q <= PIX; q++) {
#pragma HLS UNROLL
        if ((q - 1) * s + k <= ACT_BANKS) p = q; /* fewer pixels fit whenever more do */
    }
    return p;
}

/* POOL after pool_geometry: per output row, groups of pool_pixels neighbouring outputs, k
 * steps each (one per window row). */
Schedule schedule_pool(const Layer& L, uint32_t batch) {
#pragma HLS INLINE
    Schedule s = Schedule();
    s.in_w = L.in.width;
    s.out_h = L.out.height;
    s.out_w = L.out.width;
    s.kh = L.kernel_h;
    s.sh = L.stride_h;
    s.relu = L.relu != 0; /* average */
    s.in_plane = mul(L.in.height, L.in.width);
    s.row_step = times_small(L.in.width, L.stride_h);
    const uint32_t pixels = pool_pixels(L.kernel_h, L.stride_h);
    s.count = pixels;
    s.group_dx = times_small(pixels, L.stride_h);
    /* pixel groups per row: ceil(out_w / pixels), pixels 1 to 4 */
    const uint32_t row_groups = pixels == 4 ? (L.out.width + 3) >> 2 : div_by_stride(L.out.width + pixels - 1, pixels);
    /* out_h x row_groups x groups(C) x batch <= image_words(out) x batch <= ACT_WORDS (check_layer) */
    const uint32_t planes = (uint32_t)mul(groups_of(L.out.channels), batch);
    s.steps = mul((uint32_t)mul(planes, (uint32_t)mul(L.out.height, row_groups)), L.kernel_h);
    return s;
}
static_assert(SCNN_CFG_MAX_POOL_KERNEL <= 3 && SCNN_CFG_MAX_POOL_STRIDE <= 3 && SCNN_CFG_PIXELS <= 4,
              "schedule_pool: a window row in the banks, groups per row by div_by_stride or a shift");

/* FLATTEN of activations of shape in: each image's words, plus a step to write its last word. */
Schedule schedule_flatten(const Shape& in, uint32_t batch) {
#pragma HLS INLINE
    Schedule s = Schedule();
    const uint32_t groups = groups_of(in.channels);
    const uint32_t words = image_words(in);
    s.count = groups;
    s.in_plane = mul(in.height, in.width);
    s.in_img = words;
    s.last_lanes = in.channels - LANES * (groups - 1);
    s.out_plane = batch;
    s.steps = mul(words + 1, batch);
    /* whole words at a batch: a transposition, PIX images a step, when their words are in
     * distinct banks (in_img words apart: not a multiple of 4) */
    if ((in.channels & (LANES - 1)) == 0 && batch > 1 && (PIX == 1 || (words & 3) != 0)) {
        s.transpose = true;
        s.count = batch;
        s.row_step = words << log2_of(PIX); /* PIX images on */
        const uint32_t per_word = (batch + PIX - 1) >> log2_of(PIX);
        s.steps = mul(words, per_word);
    }
    return s;
}

}  // namespace

#endif
