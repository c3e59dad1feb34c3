/*
 * streamcnn accelerator: constants, on-chip memory shapes, and what decode tells execute.
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_TYPES_H
#define STREAMCNN_TYPES_H

#include <ap_int.h>

#include "streamcnn.h"

namespace {

/* ------------------------------------------------------------------------- */
/* Constants                                                                  */

const unsigned LANES = SCNN_CFG_LANES;
const unsigned PE = SCNN_CFG_PE_OUT;
const unsigned PIX = SCNN_CFG_PIXELS; /* output pixels sharing each weight block */
const unsigned TILE_GROUPS_MAX = SCNN_CFG_TILE_CHANNELS / SCNN_CFG_PE_OUT;
const uint32_t MIN_RESPONSE_WORDS = SCNN_TRAILER_HEAD_WORDS + SCNN_COUNTER_WORDS * SCNN_CFG_MAX_LAYERS;
const uint32_t CRC_INIT = 0xFFFFFFFFu;
const uint32_t HW_VERSION =
    (SCNN_HW_VERSION_MAJOR << 16) | (SCNN_HW_VERSION_MINOR << 8) | SCNN_HW_VERSION_PATCH;
/* Commands in flight between decode and execute: decode runs ahead through
 * layers without weights (pooling, ReLU) while execute computes. */
const unsigned CMD_FIFO_DEPTH = 16;
const unsigned SEGMENT_MAX_LAYERS = SCNN_SEG_MAX_LAYERS; /* a segment's body (SEGMENT packet) */
/* Each packet issues at most two commands (LOAD + TILE), plus the final END; an INPUT packet
 * after a SEGMENT one command per chunk and per body layer for each of its images' chunks, at
 * least one word each. */
const uint32_t MAX_COMMANDS = (SEGMENT_MAX_LAYERS + 2) * SCNN_CFG_MAX_PROGRAM_WORDS + 1;

static_assert((int)SCNN_CFG_PE_OUT == (int)SCNN_CFG_LANES && (int)SCNN_CFG_LANES == (int)SCNN_LANES,
              "a layer's output word must be the next layer's input word");
static_assert(SCNN_CFG_PREFETCH_ENTRIES >= SCNN_CFG_WEIGHT_ENTRIES + SCNN_CFG_TILE_CHANNELS / SCNN_CFG_PE_OUT,
              "the entry FIFO must hold at least one whole tile");

/* ------------------------------------------------------------------------- */
/* On-chip memories: locals of execute (so each run has its own, and the host   */
/* build is re-entrant: two simulated devices may run in two threads at once)  */

/* One of the two ping-pong activation memories: a word is 8 channels (int8 lanes, lane l in
 * bits 8l..8l+7) of one pixel, one 64-bit row, read whole and written whole: every engine
 * builds a word and stores it once (eight byte stores to one row would need merging or
 * several cycles on a two-port memory).  Two arrays, not one indexed by the current buffer: an
 * engine gets its source as a const argument and its destination as another, so Vitis HLS
 * sees two memories and no dependence from the stores to the loads (with act[src] and
 * act[1 - src] it would assume one, and the convolution's II would be its pipeline depth).
 *
 * Each is ACT_BANKS memories, word a in bank a % ACT_BANKS at row a / ACT_BANKS: the
 * convolution reads its PIX pixels' words a + k x stride (k < PIX) in one cycle, which the
 * cyclic banks hold in PIX distinct memories as long as (PIX - 1) x MAX_STRIDE < ACT_BANKS,
 * and INPUT stores an entry of 8 words a cycle, one in each of 8 banks.  Every other engine
 * reads or writes at most two words a cycle, on the banks' two ports. */
constexpr unsigned pow2_at_least(unsigned n) { return n <= 1 ? 1 : 2 * pow2_at_least((n + 1) / 2); }
/* At least 8: an INPUT entry's 8 words are stored in one cycle, one to a bank. */
const unsigned ACT_BANKS = pow2_at_least((PIX - 1) * SCNN_CFG_MAX_STRIDE + 1 > (unsigned)SCNN_LANES
                                             ? (PIX - 1) * SCNN_CFG_MAX_STRIDE + 1 : (unsigned)SCNN_LANES);
const unsigned ACT_ROWS = SCNN_CFG_ACT_WORDS / ACT_BANKS;
constexpr unsigned log2_of(unsigned n) { return n <= 1 ? 0 : 1 + log2_of(n / 2); }
const unsigned ACT_BANK_BITS = log2_of(ACT_BANKS); /* address bits that pick the bank */
static_assert(ACT_BANKS * ACT_ROWS == SCNN_CFG_ACT_WORDS, "the banks divide the buffer");
static_assert((PIX & (PIX - 1)) == 0, "PIX is a power of two: a row's pixel groups are a shift away");
typedef uint64_t act_mem_t[ACT_BANKS][ACT_ROWS];
/* One tile of weights: [block][output channel], each a word of 8 input lanes as the entry
 * FIFO brings it (one memory per output channel, written and read a word at a time). */
typedef uint64_t weight_mem_t[SCNN_CFG_WEIGHT_ENTRIES][PE];
/* Requantization words of the tile's output channels: [group][channel]. */
typedef uint64_t requant_mem_t[TILE_GROUPS_MAX][PE];

/* ------------------------------------------------------------------------- */
/* Widths: every value execute's engines count or address with has the bits its maximum needs */

/* Bits to hold 0..max (compile time only). */
constexpr int bits_for(unsigned long long max) {
    int b = 1;
    while (b < 64 && (max >> b) != 0) b++;
    return b;
}

/* A height or width, 0..128, or a dense layer's row of images, 0..256 (conv_tile runs a dense
 * layer as one row of the batch's images); room for a pixel group past the end. */
typedef ap_uint<bits_for((SCNN_CFG_MAX_DIM > SCNN_CFG_MAX_BATCH ? SCNN_CFG_MAX_DIM : SCNN_CFG_MAX_BATCH) + PIX)> dim_t;
/* A window coordinate, input position minus padding: -3..130 as 9-bit wrapped values, so that
 * 0 <= y < height is one unsigned comparison (y < height: -1 is 511). */
const int COORD_BITS = bits_for(SCNN_CFG_MAX_DIM + SCNN_CFG_MAX_PAD) + 1;
typedef ap_uint<COORD_BITS> coord_t;
typedef ap_uint<bits_for(SCNN_CFG_MAX_KERNEL)> kernel_t;             /* conv and pooling kernel, 0..7 */
typedef ap_uint<bits_for(SCNN_CFG_MAX_STRIDE > SCNN_CFG_MAX_POOL_STRIDE ? SCNN_CFG_MAX_STRIDE
                                                                         : SCNN_CFG_MAX_POOL_STRIDE)> stride_t;
typedef ap_uint<bits_for(SCNN_CFG_MAX_CHANNELS / SCNN_CFG_LANES)> group_t; /* channel groups, 0..512 */
typedef ap_uint<bits_for(SCNN_CFG_WEIGHT_ENTRIES)> entry_t;          /* weight blocks of a tile, 0..512 */
typedef ap_uint<bits_for(SCNN_CFG_MAX_BATCH)> batch_t;               /* images, 0..256 */
typedef ap_uint<bits_for(SCNN_CFG_LANES)> lane_t;                    /* lanes of a word, 0..8 */
typedef ap_uint<bits_for(SCNN_CFG_PIXELS)> pixel_t;                  /* pixels of a group, 0..PIX */
typedef ap_uint<bits_for(ACT_BANKS - 1)> bank_t;                     /* an activation bank */
typedef ap_uint<bits_for(ACT_ROWS - 1)> row_t;                       /* a row of one bank */
/* An activation word's address or a count of them, 0..ACT_WORDS (14 bits on mac256, 15 on
 * mac64's larger buffers).  Addresses wrap modulo 2^bits on the way (the convolution's row base
 * of a padding row is "negative"), and are only used when the true value is an address in the
 * buffer, which the modular sum then equals. */
typedef ap_uint<bits_for(SCNN_CFG_ACT_WORDS)> addr_t;
/* An engine's trip count.  Decode's checks bound every one: a convolution's is
 * batch x out_h x ceil(out_w / PIX) (x out_groups <= ACT_WORDS) times count x max(blocks, PIX)
 * (<= WEIGHT_ENTRIES), plus PIX,
 * pooling's is an output word count times k x ceil(k / 2) <= 6, flatten's batch x (words + 1). */
typedef ap_uint<bits_for((unsigned long long)SCNN_CFG_ACT_WORDS * SCNN_CFG_WEIGHT_ENTRIES)> steps_t;
static_assert((unsigned long long)SCNN_CFG_ACT_WORDS * SCNN_CFG_WEIGHT_ENTRIES >= 6ull * SCNN_CFG_ACT_WORDS &&
                  SCNN_CFG_WEIGHT_ENTRIES >= PIX * (SCNN_CFG_TILE_CHANNELS / SCNN_CFG_PE_OUT) &&
                  (unsigned long long)SCNN_CFG_ACT_WORDS * SCNN_CFG_WEIGHT_ENTRIES >=
                      SCNN_CFG_ACT_WORDS + SCNN_CFG_MAX_BATCH,
              "steps_t holds every engine's trip count");

/* ------------------------------------------------------------------------- */
/* Shapes, layers, and what decode tells execute                              */

/* Decode validates fields at their full width (a 16-bit field must be checked before it is
 * narrowed) and keeps them so; execute only ever sees a Schedule. */
struct Shape {
    uint32_t channels, height, width;
};

/* A layer's geometry as decode validated it.  POOL uses in, out, kernel_h,
 * stride_h and relu (= average). */
struct Layer {
    uint32_t opcode;
    Shape in, out;
    uint32_t in_groups, out_groups;
    uint32_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, relu, tile_groups;
    int8_t in_zero, out_zero; /* conv, fc: the input's zero point (padding) and the output's */
    uint32_t blocks; /* weight blocks per output group: in_groups x kernel_h x kernel_w */
    uint32_t weight_bits; /* 8, 4 or 2: a block's words in the TILE packets */
    bool sparse;          /* TILE packets carry an occupancy map, and only the blocks present */
    uint32_t map_words;   /* sparse: map words per output group, ceil(blocks / 64) */
    uint32_t next_group;
};

/* What an engine needs to run one command, computed once by decode from the checked layer:
 * sizes, address strides and the trip count, so the engines only add and compare (no
 * multiplier in execute, none in any pipeline) and count in the widths above. */
struct Schedule {
    steps_t steps;        /* the engine's trip count; INPUT, RELU, OUTPUT: words */
    dim_t in_h, in_w, out_h, out_w;
    kernel_t kh, kw;      /* pooling: kh */
    stride_t sh, sw;      /* pooling: sh */
    coord_t top, left;    /* conv: -pad_h, -pad_w */
    bool relu;            /* conv: ReLU; pooling: average */
    int8_t pad;           /* conv: the value of padding, the input's zero point */
    int8_t zero;          /* conv: the output's zero point; relu: the clamp */
    group_t count;        /* conv: output groups of the tile; pooling, flatten: groups */
    steps_t mac_steps;    /* conv: the steps that compute (the last PIX only store) */
    coord_t group_dx;     /* conv: PIX x stride_w, from one pixel group's window to the next */
    /* conv: pixel groups run on across rows (the row's last group takes the next row's first
     * pixels: no slots lost to a width that is not a multiple of PIX), when a wrapped pixel's
     * taps stay within the group's ACT_BANKS words: wrap_skip = stride_h x in_w - out_w x
     * stride_w further on, at wrap_dx = out_w x stride_w fewer columns */
    bool wrap;
    coord_t wrap_dx;
    kernel_t wrap_skip;
    bool transpose;       /* flatten: whole words, a transposition, PIX images a step */
    addr_t in_plane;      /* in_h x in_w */
    addr_t in_img;        /* conv: in_groups x in_plane; flatten: words per image */
    addr_t out_plane;     /* out_h x out_w; flatten: batch, the stride of an image's words */
    addr_t out_img;       /* conv: out_groups x out_plane */
    addr_t first_out;     /* conv: first x out_plane, the tile's first output word */
    addr_t row_step;      /* stride_h x in_w */
    addr_t row_top;       /* conv: -pad_h x in_w (mod 2^14), the first window row's offset */
    addr_t src_base;      /* where the engine's input starts in its source buffer */
    addr_t dst_base;      /* where its output starts in the destination */
    lane_t last_lanes;    /* flatten: valid lanes of the last group; unpack: the lanes kept */
    lane_t step;          /* unpack: bytes from one word's first to the next's */
};

/* Where a weight block's taps are, relative to a pixel's window: input group i and kernel
 * position (ky, kx), as the word offset i x in_plane + ky x in_w from the window's first row and
 * the kernel position itself (for the padding test); `last`: the last block of its output group
 * in the tile.  Decode computes one per block it sends (a table per layer: no multiplier per
 * block), so that execute walks only the blocks present. */
struct Tap {
    addr_t offset;
    kernel_t ky, kx;
    bool last;
};

/* The taps of a tile's weight blocks, beside weight_buf. */
typedef Tap tap_mem_t[SCNN_CFG_WEIGHT_ENTRIES];

/* One FIFO entry: 8 stream words, i.e. one 8x8 weight block (int8, unpacked) and its tap, the
 * requantization words of one output group, or 8 image words. */
struct Entry {
    uint64_t word[PE];
    Tap tap;
};

enum CommandOp {
    CMD_CAPS,   /* emit the capabilities record */
    CMD_INPUT,  /* s.steps image words follow in the entry FIFO, eight to an entry */
    CMD_LOAD,   /* groups + blocks entries follow in the entry FIFO */
    CMD_TILE,   /* compute the tile's output groups */
    CMD_POOL,
    CMD_RELU,   /* in place */
    CMD_FLATTEN, /* (C, H, W) -> (C*H*W, 1, 1), valid lanes packed */
    CMD_UNPACK, /* the INPUT's bytes spread into words, into the other buffer */
    CMD_OUTPUT, /* emit s.steps words of the current activations, after the header words */
    CMD_END     /* status trailer; the run is over */
};

struct Command {
    ap_uint<4> op;
    ap_uint<SCNN_PKT_OPCODE_BITS> opcode; /* TILE, POOL, RELU, FLATTEN: the layer's, for its counters */
    ap_uint<bits_for(SCNN_CFG_MAX_LAYERS - 1)> layer; /* TILE, POOL, RELU, FLATTEN: the layer's index */
    Schedule s;
    group_t groups;          /* LOAD: requantization entries */
    entry_t blocks;          /* LOAD: weight entries */
    bool stream;             /* LOAD: the weights stay in the FIFO for the TILE to consume */
    /* TILE, POOL, RELU, FLATTEN: the layer's first command (its counters start) and its last (it
     * is complete: the next layer reads its output); a segment's layers have one per chunk */
    bool first, last;
    uint64_t head[SCNN_TENSOR_HEAD_WORDS]; /* OUTPUT: the tensor record's header words */
    uint32_t words;          /* TILE/POOL/RELU/FLATTEN: stream words for the counter (0: counted); END: words read */
    uint32_t status, detail, packet, records; /* END */
};
static_assert(SCNN_TENSOR_HEAD_WORDS == 2, "OUTPUT's header: shape and batch, tag and layers");

typedef hls::stream<Command, CMD_FIFO_DEPTH> command_fifo_t;
typedef hls::stream<Entry, SCNN_CFG_PREFETCH_ENTRIES> entry_fifo_t;

inline uint32_t bits(uint64_t w, unsigned shift, unsigned width) {
    return (uint32_t)((w >> shift) & ((width >= 32) ? 0xFFFFFFFFull : ((1ull << width) - 1)));
}

inline uint32_t groups_of(uint32_t channels) { return (channels + LANES - 1) / LANES; }



inline void unpack(uint64_t w, int8_t lanes[LANES]) {
    for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
        lanes[l] = (int8_t)(uint8_t)(w >> (8 * l));
    }
}

inline uint64_t pack(const int8_t lanes[LANES]) {
    uint64_t w = 0;
    for (unsigned l = 0; l < LANES; l++) {
#pragma HLS UNROLL
        w |= (uint64_t)(uint8_t)lanes[l] << (8 * l);
    }
    return w;
}

/* n, or at most `most` of them: the pixels of a group that are left. */
inline pixel_t at_most(unsigned n, pixel_t most) { return n < most ? pixel_t(n) : most; }

/* ------------------------------------------------------------------------- */
/* Activation words by address: bank a % ACT_BANKS, row a / ACT_BANKS          */
/* The row is cut to its width: an address past the buffer (a padding tap's, never used) wraps
 * into it instead of reading out of bounds. */

inline bank_t bank_of(addr_t a) { return a & (ACT_BANKS - 1u); }
inline row_t row_of(addr_t a) { return a >> ACT_BANK_BITS; }

/* A coordinate as an address offset: its bits sign-extended, so that a padding tap's -3..-1
 * moves an address back (as a plain 9-bit value it would move it 509..511 words on). */
inline addr_t offset_of(coord_t c) {
    return (c >> (COORD_BITS - 1)) != 0u ? addr_t(c | ~((1u << COORD_BITS) - 1u)) : addr_t(c);
}

inline uint64_t load(const act_mem_t& m, addr_t a) { return m[bank_of(a)][row_of(a)]; }

inline void store(act_mem_t& m, addr_t a, uint64_t w) { m[bank_of(a)][row_of(a)] = w; }

/* The ACT_BANKS words a, a + 1, ... in one cycle, each bank read once, in address order. */
inline void window(const act_mem_t& m, addr_t a, uint64_t out[ACT_BANKS]) {
#pragma HLS INLINE
    const bank_t first = bank_of(a);
    const row_t row = row_of(a);
    uint64_t word[ACT_BANKS];
#pragma HLS ARRAY_PARTITION variable = word complete
    for (unsigned j = 0; j < ACT_BANKS; j++) {
#pragma HLS UNROLL
        word[j] = m[j][row_t(row + (j < first ? 1u : 0u))];
    }
    for (unsigned k = 0; k < ACT_BANKS; k++) {
#pragma HLS UNROLL
        out[k] = word[(first + k) & (ACT_BANKS - 1u)];
    }
}

/* The first n of the PIX words at addresses a[k] in one cycle, each bank read once: the caller
 * guarantees the n addresses fall in distinct banks; bank j reads the row of the one that falls
 * in it. */
inline void gather_any(const act_mem_t& m, const addr_t a[PIX], pixel_t n, uint64_t out[PIX]) {
#pragma HLS INLINE
    uint64_t word[ACT_BANKS];
#pragma HLS ARRAY_PARTITION variable = word complete
    for (unsigned j = 0; j < ACT_BANKS; j++) {
#pragma HLS UNROLL
        row_t r = row_of(a[0]);
        for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
            if (k < n && bank_of(a[k]) == j) r = row_of(a[k]);
        }
        word[j] = m[j][r];
    }
    for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
        out[k] = word[bank_of(a[k])];
    }
}

/* Up to PIX words to a, a + 1, ... (the first n of w) in one cycle, each bank written at most
 * once: consecutive addresses fall in distinct banks. */
inline void scatter(act_mem_t& m, addr_t a, const uint64_t w[PIX], pixel_t n) {
#pragma HLS INLINE
    static_assert(PIX <= ACT_BANKS, "a pixel group's words in distinct banks");
    const bank_t first = bank_of(a);
    const row_t row = row_of(a);
    for (unsigned j = 0; j < ACT_BANKS; j++) {
#pragma HLS UNROLL
        const unsigned k = (j - first) & (ACT_BANKS - 1u); /* the word bank j takes, if any */
        if (k < n) m[j][row_t(row + (j < first ? 1u : 0u))] = w[k < PIX ? k : 0];
    }
}

/* The PIX words a + off[k] (k < PIX) in one cycle: the window of ACT_BANKS words from a (each
 * bank read once), word k picked at its offset.  The offsets are below ACT_BANKS (the
 * caller's: k x stride, plus a row's wrap). */
inline void gather(const act_mem_t& m, addr_t a, const unsigned off[PIX], uint64_t out[PIX]) {
#pragma HLS INLINE
    static_assert((PIX - 1) * SCNN_CFG_MAX_STRIDE < ACT_BANKS && SCNN_CFG_MAX_STRIDE <= 2,
                  "a pixel group's words sit in distinct banks, k x stride is k or 2k");
    uint64_t words[ACT_BANKS];
#pragma HLS ARRAY_PARTITION variable = words complete
    window(m, a, words);
    for (unsigned k = 0; k < PIX; k++) {
#pragma HLS UNROLL
        out[k] = words[off[k] & (ACT_BANKS - 1u)];
    }
}


}  // namespace

#endif
