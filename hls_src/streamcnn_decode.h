/*
 * streamcnn accelerator: the decode process (packets in, checked, commands out).
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_DECODE_H
#define STREAMCNN_DECODE_H

#include "streamcnn_arith.h"
#include "streamcnn_crc32_table.h"
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
 * max(blocks, PIX) steps, and PIX steps at the end store the last group (conv_tile). */
Schedule schedule_conv(const Layer& L, uint32_t first, uint32_t count, uint32_t batch) {
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
    s.count = count;
    s.blocks = L.blocks;
    const uint32_t span = L.blocks > PIX ? L.blocks : PIX;
    s.span = span;
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
     * shift.  That x batch <= out_plane x batch <= ACT_WORDS, x count <= ACT_WORDS (both
     * check_layer), x span <= WEIGHT_ENTRIES / count (count x blocks <= WEIGHT_ENTRIES, count x
     * PIX <= TILE_GROUPS_MAX x PIX) */
    const uint32_t plane_groups = s.wrap ? (out_plane + PIX - 1) >> log2_of(PIX)
                                         : (uint32_t)mul(L.out.height, (L.out.width + PIX - 1) >> log2_of(PIX));
    const uint32_t groups = (uint32_t)mul((uint32_t)mul(plane_groups, batch), count);
    s.mac_steps = mul(groups, span);
    s.steps = (uint32_t)s.mac_steps + PIX;
    return s;
}

/* A dense layer's tile: a 1 x 1 convolution over one row of `batch` pixels, the batch's images
 * side by side (its input and output are batch-innermost), so the pixel slots take PIX images. */
Schedule schedule_fc(const Layer& L, uint32_t first, uint32_t count, uint32_t batch) {
#pragma HLS INLINE
    Layer row = L;
    row.in.width = row.out.width = batch;
    return schedule_conv(row, first, count, 1);
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
        s.wrap = true;
        s.count = batch;
        s.row_step = words << log2_of(PIX); /* PIX images on */
        const uint32_t per_word = (batch + PIX - 1) >> log2_of(PIX);
        s.steps = mul(words, per_word);
    }
    return s;
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

/* INPUT: the field word, then the images into the entry FIFO, eight words to an entry.  Only
 * the packet's length is used before the CRC: it bounds what is read.  The fields are checked
 * against it once the CRC has matched (input_fields).
 *
 * After a SEGMENT, the images come in its chunks (the SEGMENT packet and its body, checked
 * before, say how many and how large: the length must match), and after each chunk the body's
 * commands compute it while the next chunk streams in.  They compute on images whose CRC is
 * not checked yet: images are data, and a corrupted packet still ends the run with ERR_CRC
 * before any record is written (a segment's INPUT comes before every OUTPUT). */
void packet_input(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r, uint32_t length,
                  uint32_t& crc, uint64_t& f) {
    if (length <= SCNN_IN_FIELD_WORDS) return fail(r, SCNN_ERR_LENGTH, length);
    const uint32_t n = length - SCNN_IN_FIELD_WORDS;
    const bool segment = r.seg.open;
    Segment& g = r.seg;
    const uint32_t chunk_words = segment ? (uint32_t)mul(image_words(g.in), g.chunk) : n;
    const uint32_t chunks = segment ? g.chunks : 1;
    if (segment && n != mul(chunk_words, chunks)) return fail(r, SCNN_ERR_LENGTH, length);
    if (n > SCNN_CFG_ACT_WORDS && !segment) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    f = read_payload(in, r, crc);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
input_chunk:
    for (uint32_t j = 0; j < chunks; j++) {
#pragma HLS LOOP_TRIPCOUNT max = 256
        Command c = command(CMD_INPUT);
        c.s = schedule_words(chunk_words);
        cmds.write(c);
        /* All the chunk's words, zeros past a truncation: the command announced them. */
        Entry e;
#pragma HLS ARRAY_PARTITION variable = e.word complete
input_word:
        for (uint32_t k = 0; k < chunk_words; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
            e.word[k % PE] = read_payload(in, r, crc);
            if (k % PE == PE - 1 || k + 1 == chunk_words) {
                for (unsigned w = 0; w < PE; w++) {
#pragma HLS UNROLL
                    if (w > k % PE) e.word[w] = 0; /* the last entry's padding */
                }
                entries.write(e);
            }
        }
        /* the chunk's layers */
        const uint32_t out = segment ? (uint32_t)mul(mul(g.out_words, g.chunk), j) : 0;
input_body:
        for (uint32_t i = 0; i < (segment ? g.count : 0u); i++) {
#pragma HLS LOOP_TRIPCOUNT max = 4
            Command b = g.body[i];
            if (j != 0) {
                b.first = false; /* counted with the first chunk */
                b.words = 0;
            }
            if (i + 1 == g.count) b.s.dst_base = g.region + out;
            cmds.write(b);
        }
    }
}

/* INPUT's field word, after the CRC: the images' shape, which must account for exactly the
 * words the packet carried (after a SEGMENT: its shape, the batch in its chunks). */
void input_fields(Run& r, uint64_t f, uint32_t length) {
#pragma HLS INLINE
    Shape s;
    s.channels = bits(f, SCNN_IN_C_SHIFT, SCNN_IN_FIELD_BITS);
    s.height = bits(f, SCNN_IN_H_SHIFT, SCNN_IN_FIELD_BITS);
    s.width = bits(f, SCNN_IN_W_SHIFT, SCNN_IN_FIELD_BITS);
    const uint32_t batch = bits(f, SCNN_IN_B_SHIFT, SCNN_IN_FIELD_BITS);
    if (batch != r.batch) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_BATCH);
    if (r.seg.open) {
        if (s.channels != r.seg.in.channels) return fail(r, SCNN_ERR_SHAPE, SCNN_F_CHANNELS);
        if (s.height != r.seg.in.height) return fail(r, SCNN_ERR_SHAPE, SCNN_F_HEIGHT);
        if (s.width != r.seg.in.width) return fail(r, SCNN_ERR_SHAPE, SCNN_F_WIDTH);
        /* the chunks' outputs, the whole batch's, side by side after the scratch */
        r.seg.open = false;
        r.images = r.batch;
        r.act_base = r.seg.region;
        r.have_act = true;
        return;
    }
    if (s.channels == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_CHANNELS);
    if (s.height == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_HEIGHT);
    if (s.width == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_WIDTH);
    if (s.channels > SCNN_CFG_MAX_CHANNELS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_CHANNELS);
    if (s.height > SCNN_CFG_MAX_DIM || s.width > SCNN_CFG_MAX_DIM) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    const uint64_t n = mul(image_words(s), batch);
    if (n > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    if (length != SCNN_IN_FIELD_WORDS + n) return fail(r, SCNN_ERR_LENGTH, length);
    r.act = s;
    r.have_act = true;
    r.batch_inner = false;
    r.images = r.batch;
    r.act_base = 0;
}

/* SEGMENT's field words, after the CRC: the images' shape, the chunks, the body's layers. */
void segment_fields(Run& r, const uint64_t f[2]) {
#pragma HLS INLINE
    Segment& g = r.seg;
    Shape s;
    s.channels = bits(f[0], SCNN_SEG_C_SHIFT, SCNN_SEG_DIM_BITS);
    s.height = bits(f[0], SCNN_SEG_H_SHIFT, SCNN_SEG_DIM_BITS);
    s.width = bits(f[0], SCNN_SEG_W_SHIFT, SCNN_SEG_DIM_BITS);
    const uint32_t chunk = bits(f[0], SCNN_SEG_CHUNK_SHIFT, SCNN_SEG_DIM_BITS);
    const uint32_t chunks = bits(f[1], SCNN_SEG_CHUNKS_SHIFT, SCNN_SEG_DIM_BITS);
    const uint32_t layers = bits(f[1], SCNN_SEG_LAYERS_SHIFT, SCNN_SEG_LAYERS_BITS);
    if (bits(f[1], SCNN_SEG_RSVD_SHIFT, SCNN_SEG_RSVD_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (s.channels == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_CHANNELS);
    if (s.height == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_HEIGHT);
    if (s.width == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_WIDTH);
    if (s.channels > SCNN_CFG_MAX_CHANNELS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_CHANNELS);
    if (s.height > SCNN_CFG_MAX_DIM || s.width > SCNN_CFG_MAX_DIM) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    if (chunk == 0 || chunks == 0 || mul(chunk, chunks) != r.batch) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_BATCH);
    if (layers == 0 || layers > SEGMENT_MAX_LAYERS) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_SEGMENT_LAYERS);
    const uint64_t words = mul(image_words(s), chunk);
    if (words > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    g.open = true;
    g.layers_left = layers;
    g.chunk = chunk;
    g.chunks = chunks;
    g.in = s;
    g.count = 0;
    g.other = false;
    g.weighted = false;
    g.scratch = (uint32_t)words;
    r.act = s;
    r.have_act = true;
    r.batch_inner = false;
    r.images = chunk;
    r.act_base = 0;
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
#pragma HLS INLINE
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
    /* A dense layer takes batch-innermost activations, a convolution images one after another. */
    if (r.images > 1 && r.batch_inner != fc) return fail(r, SCNN_ERR_SEQUENCE, opcode);
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
    /* in_groups <= 512 and kernels <= 7 (checked above): blocks <= 25,088, x tile_groups <= 64 */
    L.blocks = (uint32_t)mul((uint32_t)mul(L.in_groups, L.kernel_h), L.kernel_w);
    if (mul(L.blocks, L.tile_groups) > SCNN_CFG_WEIGHT_ENTRIES) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_WEIGHT_ENTRIES);
    if (mul(image_words(L.out), r.images) > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
}

/* TILE: the field word, the requantization words and the weights, eight words
 * to an entry, into the entry FIFO.  Before the CRC only the packet's length is
 * used, checked against the tile the pending (already verified) layer expects
 * next; the field word is checked after the CRC (tile_fields).  Reserved
 * requantization bits are noted on the way and reported after the CRC too. */
void packet_tile(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r, uint32_t length,
                 uint32_t& crc, uint64_t& f, bool& requant_ok) {
#pragma HLS INLINE
    const Layer& L = r.layer;
    const uint32_t count = tile_count(L);
    const uint32_t blocks = (uint32_t)mul(L.blocks, count); /* <= WEIGHT_ENTRIES (check_layer) */
    if (length != SCNN_TILE_FIELD_WORDS + PE * count + PE * blocks) return fail(r, SCNN_ERR_LENGTH, length);
    f = read_payload(in, r, crc);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    Command c = command(CMD_LOAD);
    c.groups = count;
    c.blocks = blocks;
    /* each block used once (and not kept for a segment's later chunks) */
    c.stream = r.images == 1 && L.out.height == 1 && L.out.width == 1 && !recording(r);
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
    if (r.images > 1 && r.batch_inner) return failed(r, SCNN_ERR_SEQUENCE, SCNN_OP_POOL); /* images one after another */
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
#pragma HLS INLINE
    Layer L = Layer();
    if (!pool_geometry(r, f, L)) return;
    Command c = command(CMD_POOL);
    c.opcode = SCNN_OP_POOL;
    c.layer = r.layers;
    c.first = c.last = true;
    c.s = schedule_pool(L, r.images);
    c.s.src_base = r.act_base;
    c.words = 1 + SCNN_POOL_FIELD_WORDS;
    issue(cmds, r, c);
    layer_done(r, L.out, true);
    r.batch_inner = false;
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

/* A layer whose only field is the activations' shape: counted, then its command (RELU in
 * place, FLATTEN into the other buffer).  False (and the run failed) if the layer count is at
 * its maximum. */
bool shape_command(command_fifo_t& cmds, Run& r, uint32_t op, uint32_t opcode, uint32_t field_words) {
#pragma HLS INLINE
    if (!count_layer(r)) return false;
    Command c = command(op);
    c.opcode = opcode;
    c.layer = r.layers;
    c.first = c.last = true;
    c.s = (op == CMD_FLATTEN) ? schedule_flatten(r.act, r.images) : schedule_words((uint32_t)mul(image_words(r.act), r.images));
    c.s.src_base = r.act_base;
    c.words = 1 + field_words;
    issue(cmds, r, c);
    return true;
}

void packet_relu(command_fifo_t& cmds, Run& r, uint64_t f) {
    if (!shape_field_matches(r, f)) return;
    if (shape_command(cmds, r, CMD_RELU, SCNN_OP_RELU, SCNN_RELU_FIELD_WORDS)) layer_done(r, r.act, false);
}

/* FLATTEN: the activations' shape, checked; a dense layer's input follows. */
void packet_flatten(command_fifo_t& cmds, Run& r, uint64_t f) {
#pragma HLS INLINE
    if (!shape_field_matches(r, f)) return;
    if (r.images > 1 && r.batch_inner) return fail(r, SCNN_ERR_SEQUENCE, SCNN_OP_FLATTEN); /* already flat */
    const uint64_t features = mul((uint32_t)mul(r.act.channels, r.act.height), r.act.width);
    if (features > SCNN_CFG_MAX_FC_IN) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_FC_IN);
    if (!shape_command(cmds, r, CMD_FLATTEN, SCNN_OP_FLATTEN, SCNN_FLATTEN_FIELD_WORDS)) return;
    Shape flat;
    flat.channels = (uint32_t)features;
    flat.height = flat.width = 1;
    layer_done(r, flat, true);
    r.batch_inner = true;
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
    case SCNN_OP_SEGMENT: length = SCNN_SEG_FIELD_WORDS; return true;
    default: return false;
    }
}

bool known_opcode(uint32_t opcode) {
    uint32_t unused;
    return fixed_length(opcode, unused) || opcode == SCNN_OP_INPUT || opcode == SCNN_OP_TILE;
}

/* One packet: header, payload (CRC folded in), CRC check, then its command. */
void packet(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r) {
#pragma HLS INLINE
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
    /* A segment: first its body's convolutions, pools and ReLUs (TILE packets: r.pending), then
     * its INPUT, nothing else; and no segment inside another. */
    if (r.seg.open && !r.pending) {
        const bool body_layer = opcode == SCNN_OP_CONV || opcode == SCNN_OP_POOL || opcode == SCNN_OP_RELU;
        if (recording(r) ? !body_layer : opcode != SCNN_OP_INPUT) return fail(r, SCNN_ERR_SEQUENCE, opcode);
    }

    /* Payload. */
    uint64_t f[2] = {0, 0};
    bool requant_ok = true;
    if (opcode == SCNN_OP_INPUT) {
        r.have_act = false; /* the old activations are gone either way */
        packet_input(in, cmds, entries, r, length, crc, f[0]);
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
        if (reserve(r, 1 + SCNN_CAP_COUNT)) cmds.write(command(CMD_CAPS));
        break;
    case SCNN_OP_INPUT: input_fields(r, f[0], length); break;
    case SCNN_OP_CONV:
    case SCNN_OP_FC:
        check_layer(r, opcode, f);
        /* a segment keeps its CONV's weights for every chunk: one CONV, in one tile */
        if (r.status == SCNN_OK && recording(r)) {
            if (r.seg.weighted) return fail(r, SCNN_ERR_SEQUENCE, opcode);
            if (r.layer.tile_groups < r.layer.out_groups) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_TILE_GROUPS);
            r.seg.weighted = true;
        }
        if (r.status == SCNN_OK && count_layer(r)) r.pending = true;
        break;
    case SCNN_OP_SEGMENT: segment_fields(r, f); break;
    case SCNN_OP_TILE: {
        tile_fields(r, f[0]);
        if (r.status != SCNN_OK) return;
        if (!requant_ok) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_REQUANT);
        const uint32_t count = tile_count(r.layer);
        Command c = command(CMD_TILE);
        c.opcode = r.layer.opcode;
        c.layer = r.layers;
        c.s = r.layer.opcode == SCNN_OP_FC ? schedule_fc(r.layer, r.layer.next_group, count, r.images)
                                           : schedule_conv(r.layer, r.layer.next_group, count, r.images);
        c.s.src_base = r.act_base;
        c.first = r.layer.next_group == 0;
        c.last = r.layer.next_group + count == r.layer.out_groups;
        c.words = 1 + length + (c.first ? 1 + SCNN_LAYER_FIELD_WORDS : 0u); /* with the layer's own packet */
        issue(cmds, r, c);
        r.layer.next_group += count;
        if (c.last) {
            r.pending = false;
            layer_done(r, r.layer.out, true);
            r.batch_inner = r.layer.opcode == SCNN_OP_FC;
        }
        break;
    }
    case SCNN_OP_POOL: packet_pool(cmds, r, f[0]); break;
    case SCNN_OP_RELU: packet_relu(cmds, r, f[0]); break;
    case SCNN_OP_FLATTEN: packet_flatten(cmds, r, f[0]); break;
    case SCNN_OP_OUTPUT: {
        if (bits(f[0], SCNN_OUT_RSVD_SHIFT, SCNN_OUT_RSVD_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
        const uint32_t n = (uint32_t)mul(image_words(r.act), r.images); /* <= ACT_WORDS */
        if (!reserve(r, 1 + SCNN_TENSOR_HEAD_WORDS + n)) return;
        Command c = command(CMD_OUTPUT);
        c.s = schedule_words(n);
        c.s.src_base = r.act_base;
        c.head[0] = (uint64_t)r.act.channels | ((uint64_t)r.act.height << 16) | ((uint64_t)r.act.width << 32) |
                    ((uint64_t)r.images << 48);
        c.head[1] = bits(f[0], SCNN_OUT_TAG_SHIFT, SCNN_OUT_TAG_BITS); /* execute adds the layer count */
        cmds.write(c);
        break;
    }
    case SCNN_OP_END:
        r.ended = true;
        if (r.seg.open) return fail(r, SCNN_ERR_SEQUENCE, opcode);
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
void decode(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, uint32_t& hw_version) {
    /* The CRC ROMs: eight tables read in one cycle, as LUT ROM (latency 1: a BRAM's clock-to-out
     * plus the 8-way XOR would take most of the 10 ns cycle), one copy shared by every packet. */
#pragma HLS ARRAY_PARTITION variable = SCNN_CRC32_TABLE complete dim = 1
#pragma HLS BIND_STORAGE variable = SCNN_CRC32_TABLE type = rom_1p impl = lutram latency = 1
#pragma HLS ALLOCATION function instances = crc32_word limit = 1
#pragma HLS ALLOCATION function instances = crc32_half limit = 1
    /* One multiplier for every product (the packet functions that call it are inlined here). */
#pragma HLS ALLOCATION function instances = mul limit = 1
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
        packet(in, cmds, entries, r);
    }
    if (r.status == SCNN_OK) r.packet = SCNN_NO_PACKET;
    drain(in, r);

    Command end = command(CMD_END);
    end.status = r.status;
    end.detail = r.detail;
    end.packet = r.packet;
    end.words = r.words;
    end.records = r.records;
    cmds.write(end);
}

}  // namespace

#endif
