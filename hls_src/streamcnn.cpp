/*
 * streamcnn accelerator: a generic int8 CNN engine driven by a program stream.
 *
 * Two processes run side by side (a DATAFLOW region), joined by FIFOs:
 *
 *   decode   reads the program (docs/protocol.md) packet by packet at the DMA's
 *            rate, folds every payload word into the packet's CRC-32, checks
 *            every field, and hands the execute process commands, image words
 *            and 512-bit entries of requantization words and weights.
 *   execute  owns the on-chip memories: copies a tile's entries into the
 *            weight buffer (one entry, 64 weights, per cycle), and computes.
 *            A layer that uses each weight once (a fully-connected layer at
 *            batch 1) computes straight from the FIFO instead.
 *
 * While execute computes a layer, decode is already streaming the next
 * layers' weights into the entry FIFO (SCNN_CFG_PREFETCH_ENTRIES deep), so
 * weight streaming overlaps compute.  A tile is only computed with after its
 * packet's CRC has matched: decode issues the TILE command after the check,
 * and on a failure issues END instead, so execute merely discards the copied
 * entries.  Activations stay on chip in two ping-pong buffers; each layer
 * reads one and writes the other.  The arithmetic is defined by
 * docs/numerics.md and by the NumPy golden model (driver/streamcnn/golden.py),
 * which this must equal bit for bit.
 *
 * Whatever arrives, decode reads its input up to TLAST (never past it) and
 * always ends with one END command; execute answers with records and a status
 * trailer that ends in TLAST.  Every command announces exactly the FIFO words
 * that follow it, and decode always writes them all (zeros past a truncation),
 * so the FIFOs are empty when a run ends and nothing leaks into the next.
 */
#include "streamcnn.h"

#include "streamcnn_arith.h"
#include "streamcnn_crc32_table.h"

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

/* Decode's run state. */
struct Run {
    uint32_t status, detail, packet;
    uint32_t words, total, batch, resp_cap, resp_used, records;
    bool last_seen, overrun, ended;
    bool have_act, pending;
    Shape act;   /* shape of the activations once every issued command has run */
    Layer layer; /* the CONV or FC layer whose TILE packets are still arriving */
    uint32_t layers;
};

Command command(uint32_t op, const Run& r) {
    Command c;
    c.op = op;
    c.batch = r.batch;
    c.layer = r.layer;
    c.first = c.count = c.groups = c.blocks = c.words = c.tag = 0;
    c.stream = false;
    c.status = c.detail = c.packet = c.records = 0;
    return c;
}

inline uint32_t bits(uint64_t w, unsigned shift, unsigned width) {
    return (uint32_t)((w >> shift) & ((width >= 32) ? 0xFFFFFFFFull : ((1ull << width) - 1)));
}

inline uint32_t groups_of(uint32_t channels) { return (channels + LANES - 1) / LANES; }

inline uint32_t image_words(const Shape& s) { return groups_of(s.channels) * s.height * s.width; }

inline void fail(Run& r, uint32_t status, uint32_t detail) {
    if (r.status == SCNN_OK) {
        r.status = status;
        r.detail = detail;
    }
}

inline bool failed(Run& r, uint32_t status, uint32_t detail) {
    fail(r, status, detail);
    return false;
}

/* ------------------------------------------------------------------------- */
/* CRC-32, one 64-bit word per cycle (slice-by-8 ROMs)                         */

uint32_t crc32_half(uint32_t crc, uint32_t v) {
#pragma HLS INLINE off
    crc ^= v;
    return SCNN_CRC32_TABLE[3][crc & 0xFF] ^ SCNN_CRC32_TABLE[2][(crc >> 8) & 0xFF] ^
           SCNN_CRC32_TABLE[1][(crc >> 16) & 0xFF] ^ SCNN_CRC32_TABLE[0][crc >> 24];
}

uint32_t crc32_word(uint32_t crc, uint64_t w) {
    /* One instance for every packet (decode reads one word a cycle, whichever packet it is in):
     * with ALLOCATION in decode its eight ROMs exist once, not once per call site. */
#pragma HLS INLINE off
#pragma HLS PIPELINE II = 1
    uint32_t lo = crc ^ (uint32_t)w;
    uint32_t hi = (uint32_t)(w >> 32);
    return SCNN_CRC32_TABLE[7][lo & 0xFF] ^ SCNN_CRC32_TABLE[6][(lo >> 8) & 0xFF] ^
           SCNN_CRC32_TABLE[5][(lo >> 16) & 0xFF] ^ SCNN_CRC32_TABLE[4][lo >> 24] ^
           SCNN_CRC32_TABLE[3][hi & 0xFF] ^ SCNN_CRC32_TABLE[2][(hi >> 8) & 0xFF] ^
           SCNN_CRC32_TABLE[1][(hi >> 16) & 0xFF] ^ SCNN_CRC32_TABLE[0][hi >> 24];
}

/* ------------------------------------------------------------------------- */
/* Stream access: never past TLAST, TKEEP all ones on every output beat        */

uint64_t read_word(scnn_stream_t& in, Run& r) {
    if (r.last_seen) {
        /* Reading on would block the accelerator for good: pretend zeros and
         * let the caller report a truncated program. */
        r.overrun = true;
        return 0;
    }
    scnn_beat_t beat = in.read();
    r.words++;
    r.last_seen = (beat.last != 0);
    return (uint64_t)beat.data;
}

uint64_t read_payload(scnn_stream_t& in, Run& r, uint32_t& crc) {
    uint64_t w = read_word(in, r);
    crc = crc32_word(crc, w);
    return w;
}

void write_word(scnn_stream_t& out, uint64_t data, bool last) {
    scnn_beat_t beat;
    beat.data = data;
    beat.keep = 0xFF;
    beat.strb = 0xFF;
    beat.last = last ? 1 : 0;
    out.write(beat);
}

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

/* Room for a record while keeping room for the largest trailer. */
bool reserve(Run& r, uint32_t words) {
    if ((uint64_t)r.resp_used + words + MIN_RESPONSE_WORDS > r.resp_cap) {
        fail(r, SCNN_ERR_RESPONSE_FULL, words);
        return false;
    }
    r.resp_used += words;
    r.records++;
    return true;
}

void record_header(scnn_stream_t& out, uint32_t kind, uint32_t length) {
    write_word(out,
               (uint64_t)SCNN_RECORD_MAGIC | ((uint64_t)kind << SCNN_REC_KIND_SHIFT) |
                   ((uint64_t)length << SCNN_REC_LENGTH_SHIFT),
               false);
}

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

/* ------------------------------------------------------------------------- */
/* Decode: packets in, commands out                                           */

bool count_layer(Run& r) {
    if (r.layers >= SCNN_CFG_MAX_LAYERS) {
        fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_LAYERS);
        return false;
    }
    return true;
}

/* Output groups in the pending layer's next tile. */
uint32_t tile_count(const Layer& L) {
    const uint32_t left = L.out_groups - L.next_group;
    return left < L.tile_groups ? left : L.tile_groups;
}

/* INPUT: the field word, then the images into the pixel FIFO.  Only the
 * packet's length is used before the CRC: it bounds what is read.  The fields
 * are checked against it once the CRC has matched (input_fields). */
void packet_input(scnn_stream_t& in, command_fifo_t& cmds, pixel_fifo_t& pixels, Run& r, uint32_t length,
                  uint32_t& crc, uint64_t& f) {
    if (length <= SCNN_IN_FIELD_WORDS) return fail(r, SCNN_ERR_LENGTH, length);
    const uint32_t n = length - SCNN_IN_FIELD_WORDS;
    if (n > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    f = read_payload(in, r, crc);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    Command c = command(CMD_INPUT, r);
    c.words = n;
    cmds.write(c);
    /* All n words, zeros past a truncation: the command announced them. */
input_word:
    for (uint32_t a = 0; a < n; a++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        pixels.write(read_payload(in, r, crc));
    }
}

/* INPUT's field word, after the CRC: the images' shape, which must account for
 * exactly the words the packet carried. */
void input_fields(Run& r, uint64_t f, uint32_t length) {
    Shape s;
    s.channels = bits(f, SCNN_IN_C_SHIFT, SCNN_IN_FIELD_BITS);
    s.height = bits(f, SCNN_IN_H_SHIFT, SCNN_IN_FIELD_BITS);
    s.width = bits(f, SCNN_IN_W_SHIFT, SCNN_IN_FIELD_BITS);
    const uint32_t batch = bits(f, SCNN_IN_B_SHIFT, SCNN_IN_FIELD_BITS);
    if (batch != r.batch) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_BATCH);
    if (s.channels == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_CHANNELS);
    if (s.height == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_HEIGHT);
    if (s.width == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_WIDTH);
    if (s.channels > SCNN_CFG_MAX_CHANNELS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_CHANNELS);
    if (s.height > SCNN_CFG_MAX_DIM || s.width > SCNN_CFG_MAX_DIM) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    const uint64_t n = (uint64_t)batch * image_words(s);
    if (n > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    if (length != SCNN_IN_FIELD_WORDS + n) return fail(r, SCNN_ERR_LENGTH, length);
    r.act = s;
    r.have_act = true;
}

/* Field words of CONV, FC, POOL, RELU and OUTPUT; checked after the CRC. */
void packet_fields(scnn_stream_t& in, Run& r, uint32_t length, uint32_t& crc, uint64_t f[2]) {
fields_word:
    for (uint32_t i = 0; i < length; i++) {
#pragma HLS LOOP_TRIPCOUNT max = 2
        f[i] = read_payload(in, r, crc);
    }
}

void check_layer(Run& r, uint32_t opcode, const uint64_t f[2]) {
    Layer& L = r.layer;
    const bool fc = (opcode == SCNN_OP_FC);
    L.opcode = opcode;
    L.kernel_h = bits(f[1], SCNN_L1_KH_SHIFT, SCNN_L1_GEOM_BITS);
    L.kernel_w = bits(f[1], SCNN_L1_KW_SHIFT, SCNN_L1_GEOM_BITS);
    L.stride_h = bits(f[1], SCNN_L1_SH_SHIFT, SCNN_L1_GEOM_BITS);
    L.stride_w = bits(f[1], SCNN_L1_SW_SHIFT, SCNN_L1_GEOM_BITS);
    L.pad_h = bits(f[1], SCNN_L1_PH_SHIFT, SCNN_L1_GEOM_BITS);
    L.pad_w = bits(f[1], SCNN_L1_PW_SHIFT, SCNN_L1_GEOM_BITS);
    L.relu = bits(f[1], SCNN_L1_RELU_SHIFT, 1);
    L.tile_groups = bits(f[1], SCNN_L1_TILE_SHIFT, SCNN_L1_TILE_BITS);
    L.next_group = 0;
    if (bits(f[1], SCNN_L1_RSVD0_SHIFT, SCNN_L1_RSVD0_BITS) || bits(f[1], SCNN_L1_RSVD1_SHIFT, SCNN_L1_RSVD1_BITS))
        return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (fc) {
        /* Flatten: the current activations, in buffer order, are the inputs. */
        const uint32_t in_features = bits(f[0], SCNN_FC_IN_SHIFT, SCNN_FC_IN_BITS);
        L.out.channels = bits(f[0], SCNN_FC_OUT_SHIFT, SCNN_FC_OUT_BITS);
        if (bits(f[0], SCNN_FC_RSVD_SHIFT, SCNN_FC_RSVD_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
        if (in_features != LANES * image_words(r.act)) return fail(r, SCNN_ERR_SHAPE, SCNN_F_IN_FEATURES);
        if (in_features > SCNN_CFG_MAX_FC_IN) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_FC_IN);
        if (L.kernel_h != 1 || L.kernel_w != 1) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_KERNEL);
        if (L.stride_h != 1 || L.stride_w != 1) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_STRIDE);
        if (L.pad_h != 0 || L.pad_w != 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_PAD);
        if (L.out.channels == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_OUT_CHANNELS);
        if (L.out.channels > SCNN_CFG_MAX_FC_OUT) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_FC_OUT);
        L.in.channels = in_features;
        L.in.height = L.in.width = 1;
        L.out.height = L.out.width = 1;
    } else {
        L.in.channels = bits(f[0], SCNN_CONV_INC_SHIFT, SCNN_CONV_DIM_BITS);
        L.in.height = bits(f[0], SCNN_CONV_INH_SHIFT, SCNN_CONV_DIM_BITS);
        L.in.width = bits(f[0], SCNN_CONV_INW_SHIFT, SCNN_CONV_DIM_BITS);
        L.out.channels = bits(f[0], SCNN_CONV_OUTC_SHIFT, SCNN_CONV_DIM_BITS);
        if (L.in.channels != r.act.channels) return fail(r, SCNN_ERR_SHAPE, SCNN_F_CHANNELS);
        if (L.in.height != r.act.height) return fail(r, SCNN_ERR_SHAPE, SCNN_F_HEIGHT);
        if (L.in.width != r.act.width) return fail(r, SCNN_ERR_SHAPE, SCNN_F_WIDTH);
        if (L.kernel_h == 0 || L.kernel_w == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_KERNEL);
        if (L.kernel_h > SCNN_CFG_MAX_KERNEL || L.kernel_w > SCNN_CFG_MAX_KERNEL)
            return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_KERNEL);
        if (L.stride_h == 0 || L.stride_w == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_STRIDE);
        if (L.stride_h > SCNN_CFG_MAX_STRIDE || L.stride_w > SCNN_CFG_MAX_STRIDE)
            return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_STRIDE);
        if (L.pad_h > SCNN_CFG_MAX_PAD || L.pad_w > SCNN_CFG_MAX_PAD) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_PAD);
        if (L.out.channels == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_OUT_CHANNELS);
        if (L.out.channels > SCNN_CFG_MAX_CHANNELS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_CHANNELS);
        if (L.in.height + 2 * L.pad_h < L.kernel_h || L.in.width + 2 * L.pad_w < L.kernel_w)
            return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_OUT_SIZE);
        L.out.height = div_by_stride(L.in.height + 2 * L.pad_h - L.kernel_h, L.stride_h) + 1;
        L.out.width = div_by_stride(L.in.width + 2 * L.pad_w - L.kernel_w, L.stride_w) + 1;
        if (L.out.height > SCNN_CFG_MAX_DIM || L.out.width > SCNN_CFG_MAX_DIM)
            return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    }
    L.in_groups = groups_of(L.in.channels);
    L.out_groups = groups_of(L.out.channels);
    if (L.tile_groups == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_TILE_GROUPS);
    if (L.tile_groups > TILE_GROUPS_MAX) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_TILE_CHANNELS);
    if ((uint64_t)L.tile_groups * L.in_groups * L.kernel_h * L.kernel_w > SCNN_CFG_WEIGHT_ENTRIES)
        return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_WEIGHT_ENTRIES);
    if ((uint64_t)r.batch * image_words(L.out) > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
}

/* TILE: the field word, the requantization words and the weights, eight words
 * to an entry, into the entry FIFO.  Before the CRC only the packet's length is
 * used, checked against the tile the pending (already verified) layer expects
 * next; the field word is checked after the CRC (tile_fields).  Reserved
 * requantization bits are noted on the way and reported after the CRC too. */
void packet_tile(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r, uint32_t length,
                 uint32_t& crc, uint64_t& f, bool& requant_ok) {
    const Layer& L = r.layer;
    const uint32_t count = tile_count(L);
    const uint32_t blocks = count * L.in_groups * L.kernel_h * L.kernel_w;
    if (length != SCNN_TILE_FIELD_WORDS + PE * count + PE * blocks) return fail(r, SCNN_ERR_LENGTH, length);
    f = read_payload(in, r, crc);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    Command c = command(CMD_LOAD, r);
    c.groups = count;
    c.blocks = blocks;
    c.stream = r.batch == 1 && L.out.height * L.out.width == 1; /* each block used once */
    cmds.write(c);
    /* All (count + blocks) entries, zeros past a truncation: the command announced them. */
    const uint32_t words = PE * (count + blocks);
    const uint32_t requant_words = PE * count;
    Entry e;
    /* Eight registers, written one a cycle by k % PE: a memory here would be written at a
     * variable address and read whole in the same cycle. */
#pragma HLS ARRAY_PARTITION variable = e.word complete
    requant_ok = true;
tile_word:
    for (uint32_t k = 0; k < words; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 4608
#pragma HLS PIPELINE II = 1
        const uint64_t w = read_payload(in, r, crc);
        if (k < requant_words && bits(w, SCNN_RQ_RSVD_SHIFT, SCNN_RQ_RSVD_BITS)) requant_ok = false;
        e.word[k % PE] = w;
        if (k % PE == PE - 1) entries.write(e);
    }
}

/* TILE's field word, after the CRC: the output groups it says it holds must be
 * the ones the layer expects next. */
void tile_fields(Run& r, uint64_t f) {
    if (bits(f, SCNN_TILE_RSVD_SHIFT, SCNN_TILE_RSVD_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (bits(f, SCNN_TILE_FIRST_SHIFT, SCNN_TILE_FIELD_BITS) != r.layer.next_group)
        return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_TILE_FIRST);
    if (bits(f, SCNN_TILE_COUNT_SHIFT, SCNN_TILE_FIELD_BITS) != tile_count(r.layer))
        return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_TILE_COUNT);
}

bool pool_geometry(Run& r, uint64_t f, Layer& L) {
    L.opcode = SCNN_OP_POOL;
    L.in.channels = bits(f, SCNN_POOL_C_SHIFT, SCNN_POOL_DIM_BITS);
    L.in.height = bits(f, SCNN_POOL_H_SHIFT, SCNN_POOL_DIM_BITS);
    L.in.width = bits(f, SCNN_POOL_W_SHIFT, SCNN_POOL_DIM_BITS);
    L.kernel_h = bits(f, SCNN_POOL_KERNEL_SHIFT, SCNN_POOL_GEOM_BITS);
    L.stride_h = bits(f, SCNN_POOL_STRIDE_SHIFT, SCNN_POOL_GEOM_BITS);
    L.relu = bits(f, SCNN_POOL_MODE_SHIFT, 1) == SCNN_POOL_AVG; /* mean */
    const uint32_t kernel = L.kernel_h, stride = L.stride_h;
    if (bits(f, SCNN_POOL_RSVD_SHIFT, SCNN_POOL_RSVD_BITS)) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (L.in.channels != r.act.channels) return failed(r, SCNN_ERR_SHAPE, SCNN_F_CHANNELS);
    if (L.in.height != r.act.height) return failed(r, SCNN_ERR_SHAPE, SCNN_F_HEIGHT);
    if (L.in.width != r.act.width) return failed(r, SCNN_ERR_SHAPE, SCNN_F_WIDTH);
    if (kernel == 0) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_KERNEL);
    if (kernel > SCNN_CFG_MAX_POOL_KERNEL) return failed(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_POOL_KERNEL);
    if (stride == 0) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_STRIDE);
    if (stride > SCNN_CFG_MAX_POOL_STRIDE) return failed(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_POOL_STRIDE);
    if (L.in.height < kernel || L.in.width < kernel) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_OUT_SIZE);
    L.out.channels = L.in.channels;
    L.out.height = div_by_stride(L.in.height - kernel, stride) + 1;
    L.out.width = div_by_stride(L.in.width - kernel, stride) + 1;
    return count_layer(r);
}

void packet_pool(command_fifo_t& cmds, Run& r, uint64_t f) {
    Command c = command(CMD_POOL, r);
    if (!pool_geometry(r, f, c.layer)) return;
    c.words = 1 + SCNN_POOL_FIELD_WORDS;
    cmds.write(c);
    r.layers++;
    r.act = c.layer.out;
}

/* The field word of RELU and FLATTEN: the activations' shape and nothing else.
 * False (and the run failed) if it is not today's shape. */
bool shape_field_matches(Run& r, uint64_t f) {
    uint32_t status = SCNN_ERR_SHAPE, field;
    if (bits(f, SCNN_RELU_RSVD_SHIFT, SCNN_RELU_RSVD_BITS)) {
        status = SCNN_ERR_BAD_FIELD;
        field = SCNN_F_RESERVED;
    } else if (bits(f, SCNN_POOL_C_SHIFT, SCNN_POOL_DIM_BITS) != r.act.channels) {
        field = SCNN_F_CHANNELS;
    } else if (bits(f, SCNN_POOL_H_SHIFT, SCNN_POOL_DIM_BITS) != r.act.height) {
        field = SCNN_F_HEIGHT;
    } else if (bits(f, SCNN_POOL_W_SHIFT, SCNN_POOL_DIM_BITS) != r.act.width) {
        field = SCNN_F_WIDTH;
    } else {
        return true;
    }
    fail(r, status, field);
    return false;
}

/* A layer whose only field is the activations' shape: counted, then its command.
 * False (and the run failed) if the layer count is at its maximum. */
bool shape_command(command_fifo_t& cmds, Run& r, uint32_t op, uint32_t opcode, uint32_t field_words) {
    if (!count_layer(r)) return false;
    Command c = command(op, r);
    c.layer.opcode = opcode;
    c.layer.in = r.act;
    c.words = 1 + field_words;
    cmds.write(c);
    r.layers++;
    return true;
}

void packet_relu(command_fifo_t& cmds, Run& r, uint64_t f) {
    if (!shape_field_matches(r, f)) return;
    shape_command(cmds, r, CMD_RELU, SCNN_OP_RELU, SCNN_RELU_FIELD_WORDS);
}

/* FLATTEN: the activations' shape, checked; a dense layer's input follows. */
void packet_flatten(command_fifo_t& cmds, Run& r, uint64_t f) {
    if (!shape_field_matches(r, f)) return;
    const uint64_t features = (uint64_t)r.act.channels * r.act.height * r.act.width;
    if (features > SCNN_CFG_MAX_FC_IN) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_FC_IN);
    if (!shape_command(cmds, r, CMD_FLATTEN, SCNN_OP_FLATTEN, SCNN_FLATTEN_FIELD_WORDS)) return;
    r.act.channels = (uint32_t)features;
    r.act.height = r.act.width = 1;
}

/* Expected payload length of the packets whose length does not depend on fields. */
bool fixed_length(uint32_t opcode, uint32_t& length) {
    switch (opcode) {
    case SCNN_OP_CAPS: length = 0; return true;
    case SCNN_OP_END: length = 0; return true;
    case SCNN_OP_CONV:
    case SCNN_OP_FC: length = SCNN_LAYER_FIELD_WORDS; return true;
    case SCNN_OP_POOL: length = SCNN_POOL_FIELD_WORDS; return true;
    case SCNN_OP_RELU: length = SCNN_RELU_FIELD_WORDS; return true;
    case SCNN_OP_FLATTEN: length = SCNN_FLATTEN_FIELD_WORDS; return true;
    case SCNN_OP_OUTPUT: length = SCNN_OUT_FIELD_WORDS; return true;
    default: return false;
    }
}

bool known_opcode(uint32_t opcode) {
    uint32_t unused;
    return fixed_length(opcode, unused) || opcode == SCNN_OP_INPUT || opcode == SCNN_OP_TILE;
}

/* One packet: header, payload (CRC folded in), CRC check, then its command. */
void packet(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, pixel_fifo_t& pixels, Run& r) {
    if (r.words >= r.total) return fail(r, SCNN_ERR_NO_END, r.words);
    const uint64_t head = read_word(in, r);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    const uint32_t opcode = bits(head, SCNN_PKT_OPCODE_SHIFT, SCNN_PKT_OPCODE_BITS);
    const uint32_t length = bits(head, SCNN_PKT_LENGTH_SHIFT, SCNN_PKT_LENGTH_BITS);
    const uint32_t crc_sent = bits(head, SCNN_PKT_CRC_SHIFT, SCNN_PKT_CRC_BITS);
    uint32_t crc = crc32_half(CRC_INIT, (uint32_t)head);

    if (!known_opcode(opcode)) return fail(r, SCNN_ERR_UNKNOWN_OPCODE, opcode);
    if (length > r.total - r.words) return fail(r, SCNN_ERR_LENGTH, length);
    uint32_t fixed;
    if (fixed_length(opcode, fixed) && length != fixed) return fail(r, SCNN_ERR_LENGTH, length);
    if (r.pending != (opcode == SCNN_OP_TILE)) return fail(r, SCNN_ERR_SEQUENCE, opcode);
    const bool needs_act = opcode == SCNN_OP_CONV || opcode == SCNN_OP_FC || opcode == SCNN_OP_POOL ||
                           opcode == SCNN_OP_RELU || opcode == SCNN_OP_FLATTEN || opcode == SCNN_OP_OUTPUT;
    if (needs_act && !r.have_act) return fail(r, SCNN_ERR_SEQUENCE, opcode);

    /* Payload. */
    uint64_t f[2] = {0, 0};
    bool requant_ok = true;
    if (opcode == SCNN_OP_INPUT) {
        r.have_act = false; /* the old activations are gone either way */
        packet_input(in, cmds, pixels, r, length, crc, f[0]);
    } else if (opcode == SCNN_OP_TILE) {
        packet_tile(in, cmds, entries, r, length, crc, f[0], requant_ok);
    } else {
        packet_fields(in, r, length, crc, f); /* length <= 2 checked above */
    }
    if (r.status != SCNN_OK) return;
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    crc ^= 0xFFFFFFFFu;
    if (crc != crc_sent) return fail(r, SCNN_ERR_CRC, crc);

    /* Effect: only now is anything in the packet used. */
    switch (opcode) {
    case SCNN_OP_CAPS:
        if (reserve(r, 1 + SCNN_CAP_COUNT)) cmds.write(command(CMD_CAPS, r));
        break;
    case SCNN_OP_INPUT: input_fields(r, f[0], length); break;
    case SCNN_OP_CONV:
    case SCNN_OP_FC:
        check_layer(r, opcode, f);
        if (r.status == SCNN_OK && count_layer(r)) r.pending = true;
        break;
    case SCNN_OP_TILE: {
        tile_fields(r, f[0]);
        if (r.status != SCNN_OK) return;
        if (!requant_ok) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_REQUANT);
        Command c = command(CMD_TILE, r);
        c.first = r.layer.next_group;
        c.count = tile_count(r.layer);
        c.words = 1 + length;
        cmds.write(c);
        r.layer.next_group += c.count;
        if (r.layer.next_group == r.layer.out_groups) {
            r.pending = false;
            r.layers++;
            r.act = r.layer.out;
        }
        break;
    }
    case SCNN_OP_POOL: packet_pool(cmds, r, f[0]); break;
    case SCNN_OP_RELU: packet_relu(cmds, r, f[0]); break;
    case SCNN_OP_FLATTEN: packet_flatten(cmds, r, f[0]); break;
    case SCNN_OP_OUTPUT: {
        if (bits(f[0], SCNN_OUT_RSVD_SHIFT, SCNN_OUT_RSVD_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
        if (!reserve(r, 1 + SCNN_TENSOR_HEAD_WORDS + r.batch * image_words(r.act))) return;
        Command c = command(CMD_OUTPUT, r);
        c.layer.in = r.act;
        c.tag = bits(f[0], SCNN_OUT_TAG_SHIFT, SCNN_OUT_TAG_BITS);
        cmds.write(c);
        break;
    }
    case SCNN_OP_END:
        r.ended = true;
        if (!r.last_seen) return fail(r, SCNN_ERR_TRAILING_DATA, r.words);
        if (r.words != r.total) return fail(r, SCNN_ERR_BAD_LENGTH, r.words);
        break;
    default: break;
    }
}

void header(scnn_stream_t& in, Run& r) {
    const uint64_t h0 = read_word(in, r);
    const uint64_t h1 = read_word(in, r);
    r.batch = bits(h0, SCNN_HDR_BATCH_SHIFT, SCNN_HDR_BATCH_BITS);
    r.total = bits(h1, SCNN_HDR_TOTAL_SHIFT, SCNN_HDR_TOTAL_BITS);
    r.resp_cap = bits(h1, SCNN_HDR_RESPCAP_SHIFT, SCNN_HDR_RESPCAP_BITS);
    const uint32_t magic = bits(h0, SCNN_HDR_MAGIC_SHIFT, SCNN_HDR_MAGIC_BITS);
    const uint32_t version = bits(h0, SCNN_HDR_VERSION_SHIFT, SCNN_HDR_VERSION_BITS);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    if (magic != SCNN_PROGRAM_MAGIC) return fail(r, SCNN_ERR_BAD_MAGIC, magic);
    if (version != SCNN_FORMAT_VERSION) return fail(r, SCNN_ERR_BAD_VERSION, version);
    if (r.total < SCNN_HDR_WORDS + 1 || r.total > SCNN_CFG_MAX_PROGRAM_WORDS) return fail(r, SCNN_ERR_BAD_LENGTH, r.total);
    if (r.batch == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_BATCH);
    if (r.batch > SCNN_CFG_MAX_BATCH) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_BATCH);
    if (r.resp_cap < MIN_RESPONSE_WORDS) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESP_CAPACITY);
}

/* Read to TLAST, however long the garbage; the DMA length bounds it. */
void drain(scnn_stream_t& in, Run& r) {
drain_word:
    for (uint32_t i = 0; i < SCNN_CFG_MAX_PROGRAM_WORDS; i++) {
#pragma HLS PIPELINE II = 1
        if (r.last_seen) break;
        read_word(in, r);
    }
}

/* The decode process: header, packets until END or the first failure, the
 * rest of the stream drained, and one END command with the verdict. */
void decode(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, pixel_fifo_t& pixels,
            uint32_t& hw_version) {
    /* The CRC ROMs: eight tables read in one cycle, as LUT ROM (latency 1: a BRAM's clock-to-out
     * plus the 8-way XOR would take most of the 10 ns cycle), one copy shared by every packet. */
#pragma HLS ARRAY_PARTITION variable = SCNN_CRC32_TABLE complete dim = 1
#pragma HLS BIND_STORAGE variable = SCNN_CRC32_TABLE type = rom_1p impl = lutram latency = 1
#pragma HLS ALLOCATION function instances = crc32_word limit = 1
#pragma HLS ALLOCATION function instances = crc32_half limit = 1
    hw_version = HW_VERSION;

    Run r = Run(); /* all zeros and false */
    r.status = SCNN_OK;
    r.packet = SCNN_NO_PACKET;

    header(in, r);
packet_loop:
    for (uint32_t p = 0; p < SCNN_CFG_MAX_PROGRAM_WORDS; p++) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        if (r.status != SCNN_OK || r.ended) break;
        r.packet = p;
        packet(in, cmds, entries, pixels, r);
    }
    if (r.status == SCNN_OK) r.packet = SCNN_NO_PACKET;
    drain(in, r);

    Command end = command(CMD_END, r);
    end.status = r.status;
    end.detail = r.detail;
    end.packet = r.packet;
    end.words = r.words;
    end.records = r.records;
    cmds.write(end);
}

/* ------------------------------------------------------------------------- */
/* Execute: commands in, records and the status trailer out                   */

void emit_caps(scnn_stream_t& out) {
    record_header(out, SCNN_REC_CAPS, SCNN_CAP_COUNT);
    const uint32_t caps[SCNN_CAP_COUNT] = {
        HW_VERSION,
        SCNN_FORMAT_VERSION,
        SCNN_CFG_LANES,
        SCNN_CFG_PE_OUT,
        SCNN_CFG_ACT_WORDS,
        SCNN_CFG_WEIGHT_ENTRIES,
        SCNN_CFG_TILE_CHANNELS,
        SCNN_CFG_MAX_CHANNELS,
        SCNN_CFG_MAX_DIM,
        SCNN_CFG_MAX_KERNEL,
        SCNN_CFG_MAX_STRIDE,
        SCNN_CFG_MAX_PAD,
        SCNN_CFG_MAX_POOL_KERNEL,
        SCNN_CFG_MAX_POOL_STRIDE,
        SCNN_CFG_MAX_FC_IN,
        SCNN_CFG_MAX_FC_OUT,
        SCNN_CFG_MAX_BATCH,
        SCNN_CFG_MAX_LAYERS,
        SCNN_CFG_MAX_PROGRAM_WORDS,
        SCNN_CFG_PREFETCH_ENTRIES,
    };
caps_word:
    for (unsigned i = 0; i < SCNN_CAP_COUNT; i++) {
#pragma HLS PIPELINE II = 1
        write_word(out, caps[i], false);
    }
}

void emit_tensor(scnn_stream_t& out, const Command& c, uint32_t layers, const act_bank_t& act) {
    const uint32_t n = c.batch * image_words(c.layer.in);
    const Shape& s = c.layer.in;
    record_header(out, SCNN_REC_TENSOR, SCNN_TENSOR_HEAD_WORDS + n);
    write_word(out,
               (uint64_t)s.channels | ((uint64_t)s.height << 16) | ((uint64_t)s.width << 32) |
                   ((uint64_t)c.batch << 48),
               false);
    write_word(out, (uint64_t)c.tag | ((uint64_t)layers << SCNN_TAG_LAYERS_SHIFT), false);
tensor_word:
    for (uint32_t a = 0; a < n; a++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        write_word(out, act[a], false);
    }
}

void load_input(pixel_fifo_t& pixels, uint32_t words, act_bank_t& act) {
input_copy:
    for (uint32_t a = 0; a < words; a++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        act[a] = pixels.read();
    }
}

/* A tile's requantization words and weight blocks, one entry per cycle. */
void load_tile(entry_fifo_t& entries, uint32_t groups, uint32_t blocks, weight_mem_t& weight_buf,
               requant_mem_t& requant_buf) {
tile_copy:
    for (uint32_t k = 0; k < groups + blocks; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 576
#pragma HLS PIPELINE II = 1
        const Entry e = entries.read();
        for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
            if (k < groups)
                requant_buf[k][o] = e.word[o];
            else
                weight_buf[k - groups][o] = e.word[o];
        }
    }
}

void discard(entry_fifo_t& entries, uint32_t n) {
discard_entry:
    for (uint32_t k = 0; k < n; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 512
#pragma HLS PIPELINE II = 1
        entries.read();
    }
}

void trailer(scnn_stream_t& out, const Command& end, uint32_t layers, const uint64_t cnt_head[SCNN_CFG_MAX_LAYERS],
             const uint64_t cnt_iters[SCNN_CFG_MAX_LAYERS]) {
    write_word(out,
               (uint64_t)SCNN_STATUS_MAGIC | ((uint64_t)end.status << SCNN_ST_STATUS_SHIFT) |
                   ((uint64_t)layers << SCNN_ST_LAYERS_SHIFT),
               false);
    write_word(out, (uint64_t)end.packet | ((uint64_t)end.detail << SCNN_ST_DETAIL_SHIFT), false);
    write_word(out, (uint64_t)end.words | ((uint64_t)end.records << SCNN_ST_RECORDS_SHIFT), layers == 0);
trailer_layer:
    for (uint32_t i = 0; i < layers; i++) {
#pragma HLS LOOP_TRIPCOUNT max = 32
#pragma HLS PIPELINE II = 2
        write_word(out, cnt_head[i], false);
        write_word(out, cnt_iters[i], i + 1 == layers);
    }
}

/* The execute process: one command at a time, in program order, until END. */
void execute(command_fifo_t& cmds, entry_fifo_t& entries, pixel_fifo_t& pixels, scnn_stream_t& out,
             uint32_t& status, uint32_t& packet_index, uint32_t& words) {
    act_bank_t act_a, act_b; /* the ping-pong activations */
    weight_mem_t weight_buf;
    requant_mem_t requant_buf;
    /* True dual-port: pooling reads two taps of its source per cycle. */
#pragma HLS BIND_STORAGE variable = act_a type = ram_t2p impl = bram
#pragma HLS BIND_STORAGE variable = act_b type = ram_t2p impl = bram
    /* Each engine is called from two branches (a to b, b to a): one instance serves both. */
#pragma HLS ALLOCATION function instances = conv_tile limit = 1
#pragma HLS ALLOCATION function instances = pool limit = 1
#pragma HLS ALLOCATION function instances = relu limit = 1
#pragma HLS ALLOCATION function instances = flatten limit = 1
#pragma HLS ALLOCATION function instances = emit_tensor limit = 1
#pragma HLS ALLOCATION function instances = load_input limit = 1
#pragma HLS ARRAY_PARTITION variable = weight_buf complete dim = 2
#pragma HLS ARRAY_PARTITION variable = requant_buf complete dim = 2
    uint32_t cur = 0;     /* buffer holding the current activations */
    uint32_t layers = 0;  /* layers completed */
    uint32_t pending = 0; /* weight entries a LOAD left in the FIFO for its TILE */
    /* Per layer: opcode, stream words and tiles (head), and compute-loop trip counts. */
    uint64_t cnt_head[SCNN_CFG_MAX_LAYERS];
    uint64_t cnt_iters[SCNN_CFG_MAX_LAYERS];
command_loop:
    for (uint32_t i = 0; i < MAX_COMMANDS; i++) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const Command c = cmds.read();
        if (c.op == CMD_END) {
            discard(entries, pending); /* a TILE that failed its checks */
            trailer(out, c, layers, cnt_head, cnt_iters);
            status = c.status | (layers << 16);
            packet_index = c.packet;
            words = c.words;
            break;
        }
        switch (c.op) {
        case CMD_CAPS: emit_caps(out); break;
        case CMD_INPUT:
            if (cur == 0)
                load_input(pixels, c.words, act_a);
            else
                load_input(pixels, c.words, act_b);
            break;
        case CMD_LOAD:
            load_tile(entries, c.groups, c.stream ? 0 : c.blocks, weight_buf, requant_buf);
            pending = c.stream ? c.blocks : 0;
            break;
        case CMD_TILE:
            if (c.first == 0) {
                cnt_head[layers] = c.layer.opcode | ((uint64_t)(1 + SCNN_LAYER_FIELD_WORDS) << SCNN_CNT_WORDS_SHIFT);
                cnt_iters[layers] = 0;
            }
            cnt_iters[layers] += (cur == 0)
                ? conv_tile(c.layer, c.first, c.count, c.batch, entries, pending != 0, act_a, act_b, weight_buf,
                            requant_buf)
                : conv_tile(c.layer, c.first, c.count, c.batch, entries, pending != 0, act_b, act_a, weight_buf,
                            requant_buf);
            pending = 0;
            cnt_head[layers] += (1ull << SCNN_CNT_TILES_SHIFT) + ((uint64_t)c.words << SCNN_CNT_WORDS_SHIFT);
            if (c.first + c.count == c.layer.out_groups) {
                layers++;
                cur = 1 - cur;
            }
            break;
        case CMD_POOL:
            cnt_head[layers] = c.layer.opcode | ((uint64_t)c.words << SCNN_CNT_WORDS_SHIFT);
            cnt_iters[layers] = (cur == 0)
                ? pool(c.layer.in, c.layer.out, c.layer.kernel_h, c.layer.stride_h, c.layer.relu != 0, c.batch, act_a, act_b)
                : pool(c.layer.in, c.layer.out, c.layer.kernel_h, c.layer.stride_h, c.layer.relu != 0, c.batch, act_b, act_a);
            layers++;
            cur = 1 - cur;
            break;
        case CMD_RELU:
            cnt_head[layers] = c.layer.opcode | ((uint64_t)c.words << SCNN_CNT_WORDS_SHIFT);
            cnt_iters[layers] = (cur == 0) ? relu(c.batch * image_words(c.layer.in), act_a)
                                           : relu(c.batch * image_words(c.layer.in), act_b);
            layers++;
            break;
        case CMD_FLATTEN:
            cnt_head[layers] = c.layer.opcode | ((uint64_t)c.words << SCNN_CNT_WORDS_SHIFT);
            cnt_iters[layers] = (cur == 0) ? flatten(c.layer.in, c.batch, act_a, act_b)
                                           : flatten(c.layer.in, c.batch, act_b, act_a);
            layers++;
            cur = 1 - cur;
            break;
        case CMD_OUTPUT:
            if (cur == 0)
                emit_tensor(out, c, layers, act_a);
            else
                emit_tensor(out, c, layers, act_b);
            break;
        default: break;
        }
    }
}

}  // namespace

void streamcnn_top(scnn_stream_t& prog_in, scnn_stream_t& resp_out, uint32_t& status, uint32_t& packet_index,
                   uint32_t& words, uint32_t& hw_version) {
#pragma HLS INTERFACE mode = axis port = prog_in
#pragma HLS INTERFACE mode = axis port = resp_out
#pragma HLS INTERFACE mode = s_axilite port = status
#pragma HLS INTERFACE mode = s_axilite port = packet_index
#pragma HLS INTERFACE mode = s_axilite port = words
#pragma HLS INTERFACE mode = s_axilite port = hw_version
#pragma HLS INTERFACE mode = s_axilite port = return
#pragma HLS DATAFLOW
    command_fifo_t cmds("cmds");
    entry_fifo_t entries("entries");
    pixel_fifo_t pixels("pixels");
    /* Commands are wide and few: shift registers.  Entries are the prefetch
     * buffer: 512 bits x SCNN_CFG_PREFETCH_ENTRIES in block RAM. */
#pragma HLS BIND_STORAGE variable = cmds type = fifo impl = srl
#pragma HLS BIND_STORAGE variable = entries type = fifo impl = bram
#pragma HLS BIND_STORAGE variable = pixels type = fifo impl = srl
    decode(prog_in, cmds, entries, pixels, hw_version);
    execute(cmds, entries, pixels, resp_out, status, packet_index, words);
}
