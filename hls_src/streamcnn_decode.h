/*
 * streamcnn accelerator: the decode process (packets in, checked, commands out): the program
 * header, the INPUT and SEGMENT packets, the dispatch of every packet, the drain to TLAST.
 * Layer packets: streamcnn_decode_layers.h; run state, CRC and stream access:
 * streamcnn_decode_run.h; the engines' schedules: streamcnn_schedule.h.
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_DECODE_H
#define STREAMCNN_DECODE_H

#include "streamcnn_decode_layers.h"
#include "streamcnn_decode_run.h"

namespace {

/* INPUT: the field word, then the images into the entry FIFO, eight words to an entry.  Only
 * the packet's length is used before the CRC: it bounds what is read.  The fields are checked
 * against it once the CRC has matched (input_fields).
 *
 * After a SEGMENT, the images come in its chunks (the SEGMENT packet and its body, checked
 * before, say how many and how large: the length must match), and after each chunk the body's
 * commands compute it while the next chunk streams in.  They compute on images whose CRC is
 * not checked yet: images are data, and a corrupted packet still ends the run with ERR_CRC
 * before any record of what they computed is written. */
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
    /* where the chunk's outputs go, and how far the next chunk's are on (<= ACT_WORDS: layer_done) */
    uint32_t out = segment ? g.region : 0;
    const uint32_t out_step = segment ? (uint32_t)mul(g.out_words, g.chunk) : 0;
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
input_body:
        for (uint32_t i = 0; i < (segment ? g.count : 0u); i++) {
#pragma HLS LOOP_TRIPCOUNT max = 4
            Command b = g.body[i];
            if (j != 0) {
                b.first = false; /* counted with the first chunk */
                b.words = 0;
            }
            if (i + 1 == g.count) b.s.dst_base = out;
            cmds.write(b);
        }
        out += out_step;
    }
}

/* The images' shape of INPUT or SEGMENT: none zero, all within the maxima.  False (and the run
 * failed) otherwise. */
bool image_shape_ok(Run& r, const Shape& s) {
    if (s.channels == 0) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_CHANNELS);
    if (s.height == 0) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_HEIGHT);
    if (s.width == 0) return failed(r, SCNN_ERR_BAD_FIELD, SCNN_F_WIDTH);
    if (s.channels > SCNN_CFG_MAX_CHANNELS) return failed(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_CHANNELS);
    if (s.height > SCNN_CFG_MAX_DIM || s.width > SCNN_CFG_MAX_DIM) return failed(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    return true;
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
    if (!image_shape_ok(r, s)) return;
    const uint64_t n = mul(image_words(s), batch);
    if (n > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    if (length != SCNN_IN_FIELD_WORDS + n) return fail(r, SCNN_ERR_LENGTH, length);
    r.act = s;
    r.have_act = true;
    r.batch_inner = false;
    r.images = r.batch;
    r.act_base = 0;
    r.unpackable = true;
}

/* UNPACK, after the CRC: right after an INPUT of one channel group, the images' bytes spread
 * into words of `channels` lanes, a word every `step` bytes of each row (docs/protocol.md). */
void packet_unpack(command_fifo_t& cmds, Run& r, uint64_t f, bool after_input) {
#pragma HLS INLINE
    if (!after_input) return fail(r, SCNN_ERR_SEQUENCE, SCNN_OP_UNPACK);
    const uint32_t channels = bits(f, SCNN_UNPACK_C_SHIFT, SCNN_UNPACK_SMALL_BITS);
    const uint32_t step = bits(f, SCNN_UNPACK_STEP_SHIFT, SCNN_UNPACK_SMALL_BITS);
    const uint32_t width = bits(f, SCNN_UNPACK_W_SHIFT, SCNN_UNPACK_W_BITS);
    if (bits(f, SCNN_UNPACK_RSVD0_SHIFT, SCNN_UNPACK_RSVD0_BITS) || bits(f, SCNN_UNPACK_RSVD1_SHIFT, SCNN_UNPACK_RSVD1_BITS))
        return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (r.act.channels != LANES) return fail(r, SCNN_ERR_SHAPE, SCNN_F_CHANNELS); /* one group of bytes */
    if (channels == 0 || channels > LANES) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_CHANNELS);
    if (step == 0 || step > LANES) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_STRIDE);
    if (width == 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_WIDTH);
    if (width > SCNN_CFG_MAX_DIM) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_DIM);
    /* every kept lane within its row's bytes (the word read past it is cut off) */
    if (mul(width - 1, step) + channels > LANES * r.act.width) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_OUT_SIZE);
    Shape out;
    out.channels = channels;
    out.height = r.act.height;
    out.width = width;
    const uint64_t words = mul((uint32_t)mul(out.height, out.width), r.images);
    if (words > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
    Command c = command(CMD_UNPACK);
    /* PIX words of a row a step */
    c.s = schedule_words((uint32_t)mul((uint32_t)mul(out.height, (width + PIX - 1) >> log2_of(PIX)), r.images));
    c.s.src_base = r.act_base;
    c.s.in_w = r.act.width;
    c.s.out_w = width;
    c.s.last_lanes = channels;
    c.s.step = step;
    c.s.zero = (int8_t)bits(f, SCNN_UNPACK_ZERO_SHIFT, SCNN_ZERO_BITS);
    cmds.write(c);
    r.act = out;
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
    if (!image_shape_ok(r, s)) return;
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
    case SCNN_OP_UNPACK: length = SCNN_UNPACK_FIELD_WORDS; return true;
    case SCNN_OP_SEGMENT: length = SCNN_SEG_FIELD_WORDS; return true;
    default: return false;
    }
}

bool known_opcode(uint32_t opcode) {
    uint32_t unused;
    return fixed_length(opcode, unused) || opcode == SCNN_OP_INPUT || opcode == SCNN_OP_TILE;
}

/* One packet: header, payload (CRC folded in), CRC check, then its command. */
void packet(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r, Tap taps[SCNN_CFG_WEIGHT_ENTRIES],
            MapWord list[MAP_LIST_MAX]) {
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
                           opcode == SCNN_OP_RELU || opcode == SCNN_OP_FLATTEN || opcode == SCNN_OP_OUTPUT ||
                           opcode == SCNN_OP_UNPACK;
    const bool after_input = r.unpackable; /* UNPACK must follow its INPUT at once */
    r.unpackable = false;
    if (needs_act && !r.have_act) return fail(r, SCNN_ERR_SEQUENCE, opcode);
    /* A segment: first its body's convolutions, pools and ReLUs (TILE packets: r.pending), then
     * its INPUT, nothing else; and no segment inside another. */
    if (r.seg.open && !r.pending) {
        const bool body_layer = opcode == SCNN_OP_CONV || opcode == SCNN_OP_POOL || opcode == SCNN_OP_RELU;
        if (recording(r) ? !body_layer : opcode != SCNN_OP_INPUT) return fail(r, SCNN_ERR_SEQUENCE, opcode);
    }

    /* Payload. */
    uint64_t f[2] = {0, 0};
    TileSeen tile = TileSeen();
    if (opcode == SCNN_OP_INPUT) {
        r.have_act = false; /* the old activations are gone either way */
        packet_input(in, cmds, entries, r, length, crc, f[0]);
    } else if (opcode == SCNN_OP_TILE) {
        packet_tile(in, cmds, entries, r, length, crc, taps, list, tile);
        f[0] = tile.field;
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
        if (r.status == SCNN_OK && count_layer(r)) {
            r.pending = true;
            layer_taps(r.layer, r.images, taps);
        }
        break;
    case SCNN_OP_SEGMENT: segment_fields(r, f); break;
    case SCNN_OP_TILE: {
        tile_fields(r, f[0]);
        if (r.status != SCNN_OK) return;
        if (!tile.requant_ok) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_REQUANT);
        if (!tile.map_ok) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_OCCUPANCY);
        const uint32_t count = tile_count(r.layer);
        Command c = command(CMD_TILE);
        c.opcode = r.layer.opcode;
        c.layer = r.layers;
        c.s = r.layer.opcode == SCNN_OP_FC
                  ? schedule_fc(r.layer, r.layer.next_group, count, r.images, tile.span_sum)
                  : schedule_conv(r.layer, r.layer.next_group, count, r.images, tile.span_sum);
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
    case SCNN_OP_UNPACK: packet_unpack(cmds, r, f[0], after_input); break;
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

    /* The current layer's block taps, and a sparse tile's map: written before they are read. */
    Tap taps[SCNN_CFG_WEIGHT_ENTRIES];
    MapWord list[MAP_LIST_MAX];

    header(in, r);
packet_loop:
    for (uint32_t p = 0; p < SCNN_CFG_MAX_PROGRAM_WORDS; p++) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        if (r.status != SCNN_OK || r.ended) break;
        r.packet = p;
        packet(in, cmds, entries, r, taps, list);
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
