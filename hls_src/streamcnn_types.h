/*
 * streamcnn accelerator: constants, on-chip memory shapes, and what decode tells execute.
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_TYPES_H
#define STREAMCNN_TYPES_H

#include "streamcnn.h"

namespace {

/* ------------------------------------------------------------------------- */
/* Constants                                                                  */

const unsigned LANES = SCNN_CFG_LANES;
const unsigned PE = SCNN_CFG_PE_OUT;
const unsigned TILE_GROUPS_MAX = SCNN_CFG_TILE_CHANNELS / SCNN_CFG_PE_OUT;
const uint32_t MIN_RESPONSE_WORDS = SCNN_TRAILER_HEAD_WORDS + SCNN_COUNTER_WORDS * SCNN_CFG_MAX_LAYERS;
const uint32_t CRC_INIT = 0xFFFFFFFFu;
const uint32_t HW_VERSION =
    (SCNN_HW_VERSION_MAJOR << 16) | (SCNN_HW_VERSION_MINOR << 8) | SCNN_HW_VERSION_PATCH;
/* Commands in flight between decode and execute: decode runs ahead through
 * layers without weights (pooling, ReLU) while execute computes. */
const unsigned CMD_FIFO_DEPTH = 16;
/* Image words pass at the DMA's rate; a short FIFO decouples the two sides. */
const unsigned PIXEL_FIFO_DEPTH = 64;
/* Each packet issues at most two commands (LOAD + TILE), plus the final END. */
const uint32_t MAX_COMMANDS = 2 * SCNN_CFG_MAX_PROGRAM_WORDS + 1;

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
 * act[1 - src] it would assume one, and the convolution's II would be its pipeline depth). */
typedef uint64_t act_bank_t[SCNN_CFG_ACT_WORDS];
/* One tile of weights: [block][output channel], each a word of 8 input lanes as the entry
 * FIFO brings it (one memory per output channel, written and read a word at a time). */
typedef uint64_t weight_mem_t[SCNN_CFG_WEIGHT_ENTRIES][PE];
/* Requantization words of the tile's output channels: [group][channel]. */
typedef uint64_t requant_mem_t[TILE_GROUPS_MAX][PE];

/* ------------------------------------------------------------------------- */
/* Shapes, layers, and what decode tells execute                              */

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
    uint32_t next_group;
};

/* One FIFO entry: 8 stream words, i.e. one 8x8 weight block or the
 * requantization words of one output group. */
struct Entry {
    uint64_t word[PE];
};

enum CommandOp {
    CMD_CAPS,   /* emit the capabilities record */
    CMD_INPUT,  /* words image words follow in the pixel FIFO */
    CMD_LOAD,   /* groups + blocks entries follow in the entry FIFO */
    CMD_TILE,   /* compute output groups [first, first + count) of layer */
    CMD_POOL,   /* layer.in -> layer.out */
    CMD_RELU,   /* in place, layer.in */
    CMD_FLATTEN, /* layer.in -> (C*H*W, 1, 1), valid lanes packed */
    CMD_OUTPUT, /* emit the current activations, shape layer.in, with tag */
    CMD_END     /* status trailer; the run is over */
};

struct Command {
    uint32_t op;
    uint32_t batch;
    Layer layer;
    uint32_t first, count;   /* TILE: output groups */
    uint32_t groups, blocks; /* LOAD: requantization entries, weight entries */
    bool stream;             /* LOAD: the weights stay in the FIFO for the TILE to consume */
    uint32_t words;          /* INPUT: image words; TILE/POOL/RELU: stream words for the counter; END: words read */
    uint32_t tag;            /* OUTPUT */
    uint32_t status, detail, packet, records; /* END */
};

typedef hls::stream<Command, CMD_FIFO_DEPTH> command_fifo_t;
typedef hls::stream<Entry, SCNN_CFG_PREFETCH_ENTRIES> entry_fifo_t;
typedef hls::stream<uint64_t, PIXEL_FIFO_DEPTH> pixel_fifo_t;

inline uint32_t bits(uint64_t w, unsigned shift, unsigned width) {
    return (uint32_t)((w >> shift) & ((width >= 32) ? 0xFFFFFFFFull : ((1ull << width) - 1)));
}

inline uint32_t groups_of(uint32_t channels) { return (channels + LANES - 1) / LANES; }

inline uint32_t image_words(const Shape& s) { return groups_of(s.channels) * s.height * s.width; }


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


}  // namespace

#endif
