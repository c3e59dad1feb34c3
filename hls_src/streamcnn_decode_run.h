/*
 * streamcnn accelerator: decode's run state, and what every packet handler uses: failures, the
 * CRC, the stream, the response's room, commands (and a segment's body recorded).
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_DECODE_RUN_H
#define STREAMCNN_DECODE_RUN_H

#include "streamcnn_crc32_table.h"
#include "streamcnn_schedule.h"
#include "streamcnn_types.h"

namespace {

/* A segment (SEGMENT packet): the body, the layers after it, runs image chunk by image chunk,
 * its weights loaded once and kept, while the INPUT packet's later chunks stream in; the body's
 * commands are recorded as its packets are checked and issued after each chunk's images. */
struct Segment {
    bool open;             /* SEGMENT seen, its INPUT not yet through */
    uint32_t layers_left;  /* body layers still to come */
    uint32_t chunk, chunks; /* images per chunk, chunks (chunk x chunks = the batch) */
    Shape in;              /* the images' shape */
    uint32_t count;        /* body commands recorded */
    Command body[SEGMENT_MAX_LAYERS];
    bool other;            /* the body's current output is in the buffer INPUT does not write */
    bool weighted;         /* the body has its CONV (one: its weights stay in the tile buffer) */
    uint32_t scratch;      /* words of INPUT's buffer a chunk uses: its images, outputs there */
    uint32_t region;       /* where the chunks' outputs go in INPUT's buffer, after the scratch */
    uint32_t out_words;    /* words of one image of the body's output */
};

/* Decode's run state. */
struct Run {
    uint32_t status, detail, packet;
    uint32_t words, total, batch, resp_cap, resp_used, records;
    bool last_seen, overrun, ended;
    bool have_act, pending;
    bool unpackable; /* the last packet was an INPUT outside a segment: an UNPACK may follow */
    Shape act;   /* shape of the activations once every issued command has run */
    /* Their layout: images one after another ([image][group][y][x], after INPUT, CONV, POOL), or
     * batch-innermost ([group][image], after FLATTEN and FC, which dense layers need at a batch
     * above 1).  At batch 1 the two are the same. */
    bool batch_inner;
    uint32_t images;   /* images the current activations hold: the batch, or a segment's chunk */
    uint32_t act_base; /* where they start in their buffer */
    Layer layer; /* the CONV or FC layer whose TILE packets are still arriving */
    uint32_t layers;
    Segment seg;
};

/* A command with every field zero but its op. */
Command command(uint32_t op) {
    Command c = Command();
    c.op = op;
    return c;
}

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

/* ------------------------------------------------------------------------- */
/* Commands, and a segment's body recorded                                    */

/* Whether the layer packets being checked are a segment's body: their commands wait for
 * the images. */
inline bool recording(const Run& r) { return r.seg.open && r.seg.layers_left != 0; }

/* A layer's compute command: to execute now, or into the segment's body (layers_left <= the
 * free slots: SEGMENT checks it). */
void issue(command_fifo_t& cmds, Run& r, const Command& c) {
    if (recording(r)) {
        r.seg.body[r.seg.count] = c;
        r.seg.count++;
    } else {
        cmds.write(c);
    }
}

/* A layer is complete, its output of shape out in the other buffer (`swap`) or in place: its
 * activations start at the buffer's beginning now; in a segment's body, the words it leaves in
 * INPUT's buffer are the body's, and the last body layer's output goes after them all. */
void layer_done(Run& r, const Shape& out, bool swap) {
    r.layers++;
    r.act = out;
    if (swap) r.act_base = 0;
    if (!recording(r)) return;
    Segment& g = r.seg;
    if (swap) g.other = !g.other;
    g.layers_left--;
    const uint32_t words = (uint32_t)mul(image_words(out), g.chunk);
    if (g.layers_left != 0) {
        if (!g.other && words > g.scratch) g.scratch = words;
        return;
    }
    /* the body is complete: its last layer must write INPUT's buffer, after the scratch */
    if (g.other || !swap) return fail(r, SCNN_ERR_SEQUENCE, SCNN_OP_SEGMENT);
    g.region = g.scratch;
    g.out_words = image_words(out);
    if ((uint64_t)g.region + mul(g.out_words, r.batch) > SCNN_CFG_ACT_WORDS)
        return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
}

/* ------------------------------------------------------------------------- */
/* Layers counted, tiles sized                                                */

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

}  // namespace

#endif
