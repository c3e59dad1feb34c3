/*
 * streamcnn accelerator: decode's checks of the layer packets (CONV, FC, TILE, POOL, RELU,
 * FLATTEN), after their CRC, and the commands they issue.
 *
 * Part of streamcnn.cpp's translation unit (included once, inside its anonymous namespace's
 * scope): Vitis HLS, the simulator and the testbench compile streamcnn.cpp alone.
 */
#ifndef STREAMCNN_DECODE_LAYERS_H
#define STREAMCNN_DECODE_LAYERS_H

#include "streamcnn_decode_run.h"
#include "streamcnn_weights.h"

namespace {

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
    L.in_zero = (int8_t)bits(f[1], SCNN_L1_IN_ZERO_SHIFT, SCNN_ZERO_BITS);
    L.out_zero = (int8_t)bits(f[1], SCNN_L1_OUT_ZERO_SHIFT, SCNN_ZERO_BITS);
    L.weight_bits = bits(f[1], SCNN_L1_WBITS_SHIFT, SCNN_L1_WBITS_BITS);
    L.sparse = bits(f[1], SCNN_L1_SPARSE_SHIFT, 1) != 0;
    L.next_group = 0;
    if (bits(f[1], SCNN_L1_RSVD0_SHIFT, SCNN_L1_RSVD0_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
    if (L.weight_bits > SCNN_WBITS_2) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_WEIGHT_BITS);
    /* a dense layer has no padding, so no use for the input's zero point */
    if (fc && L.in_zero != 0) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
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
    L.map_words = (L.blocks + MAP_BITS - 1) / MAP_BITS; /* a shift */
    if (mul(image_words(L.out), r.images) > SCNN_CFG_ACT_WORDS) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_ACT_WORDS);
}

/* The taps of a CONV/FC layer's blocks b < blocks (input group, ky, kx; kx fastest), after
 * check_layer, for the geometry its schedule walks (a dense layer: one row of `images`
 * pixels): a table that turns a present block's index into its tap without a multiplier,
 * filled once per layer, one block a cycle. */
void layer_taps(const Layer& L, uint32_t images, Tap taps[SCNN_CFG_WEIGHT_ENTRIES]) {
    const bool fc = L.opcode == SCNN_OP_FC;
    const addr_t row = fc ? images : L.in.width;
    const addr_t plane = fc ? images : (uint32_t)mul(L.in.height, L.in.width);
    addr_t plane_off = 0, row_off = 0;
    kernel_t ky = 0, kx = 0;
tap_table:
    for (entry_t b = 0; b < L.blocks; b++) { /* blocks <= WEIGHT_ENTRIES: check_layer */
#pragma HLS LOOP_TRIPCOUNT max = 512
#pragma HLS PIPELINE II = 1
        Tap t;
        t.offset = plane_off + row_off; /* < the input's words: the activations fit the buffer */
        t.ky = ky;
        t.kx = kx;
        t.last = false;
        taps[b] = t;
        if (++kx == L.kernel_w) {
            kx = 0;
            row_off += row;
            if (++ky == L.kernel_h) {
                ky = 0;
                row_off = 0;
                plane_off += plane;
            }
        }
    }
}

/* A non-zero word of a tile's occupancy map (or, for an output group with no block present, a
 * marker: one block of zeros stands for it, so that every group has a block to start its sums
 * with): its bits, its word index in the group, whether it is the group's first entry. */
struct MapWord {
    uint64_t bits;
    ap_uint<bits_for(SCNN_CFG_WEIGHT_ENTRIES / SCNN_MAP_BITS)> word;
    bool first, empty;
};
/* A tile's map words: count x ceil(blocks / 64) <= count x (blocks / 64 + 1), with count x blocks
 * <= WEIGHT_ENTRIES and count <= TILE_GROUPS_MAX; each group adds at most one marker. */
const uint32_t MAP_WORDS_MAX = SCNN_CFG_WEIGHT_ENTRIES / SCNN_MAP_BITS + TILE_GROUPS_MAX;
const uint32_t MAP_LIST_MAX = MAP_WORDS_MAX + TILE_GROUPS_MAX;
static_assert((SCNN_CFG_WEIGHT_ENTRIES & (SCNN_CFG_WEIGHT_ENTRIES - 1)) == 0,
              "a block index is cut to the table's width (a power of two) before it addresses it");

/* What a TILE packet's payload showed before its CRC was checked, for the checks after. */
struct TileSeen {
    uint64_t field;
    bool requant_ok;   /* no reserved requantization bit set */
    bool map_ok;       /* the map marks only real blocks, as many as the packet carries */
    uint32_t span_sum; /* sum over the tile's output groups of max(their blocks, PIX) */
};

/* A sparse tile's map words into `list`, each group's blocks counted: the blocks' total (which
 * must be what the packet's length says, `present`), and the entries and steps they make. */
void tile_map(scnn_stream_t& in, Run& r, uint32_t& crc, uint32_t count, uint32_t present, MapWord list[MAP_LIST_MAX],
              uint32_t& listed, uint32_t& entries, TileSeen& t) {
#pragma HLS INLINE
    const Layer& L = r.layer;
    const uint64_t tail = map_tail_mask(L.blocks);
    const uint32_t words = (uint32_t)mul(L.map_words, count); /* <= MAP_WORDS_MAX */
    uint32_t j = 0, in_group = 0, seen = 0;
    listed = 0;
map_word:
    for (uint32_t k = 0; k < words; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 72
#pragma HLS PIPELINE II = 1
        const uint64_t w = read_payload(in, r, crc);
        const bool last_word = j + 1u == L.map_words;
        const uint64_t valid = last_word ? (w & tail) : w;
        if (valid != w) t.map_ok = false; /* a bit past the last block */
        const uint32_t n = in_group + popcount64(valid);
        /* one write a cycle: the word, or the marker of a group without blocks */
        MapWord m;
        m.bits = valid;
        m.word = j;
        m.first = in_group == 0u;
        m.empty = last_word && n == 0u;
        if (valid != 0u || m.empty) list[listed++] = m;
        if (last_word) {
            const uint32_t blocks = n == 0u ? 1u : n;
            entries += blocks;
            t.span_sum += blocks < PIX ? PIX : blocks;
            seen += n;
            in_group = 0;
            j = 0;
        } else {
            in_group = n;
            ++j;
        }
    }
    if (seen != present) t.map_ok = false;
}

/* TILE: the field word, the occupancy map (sparse layers), the requantization words and the
 * weights, eight words to an entry (a block's n-bit weights widened to int8, with its tap),
 * into the entry FIFO.  Before the CRC only the packet's length is used, checked against the
 * tile the pending (already verified) layer expects next; the field word, the map and the
 * reserved requantization bits are noted on the way and reported after the CRC.  A map that is
 * wrong makes the LOAD command announce no blocks, and none are written. */
void packet_tile(scnn_stream_t& in, command_fifo_t& cmds, entry_fifo_t& entries, Run& r, uint32_t length,
                 uint32_t& crc, const Tap taps[SCNN_CFG_WEIGHT_ENTRIES], MapWord list[MAP_LIST_MAX], TileSeen& t) {
#pragma HLS INLINE
    const Layer& L = r.layer;
    const uint32_t count = tile_count(L);
    const uint32_t dense = (uint32_t)mul(L.blocks, count); /* <= WEIGHT_ENTRIES (check_layer) */
    const uint32_t code = L.weight_bits, width = width_of(code); /* a block's words */
    const uint32_t head = SCNN_TILE_FIELD_WORDS + (L.sparse ? (uint32_t)mul(L.map_words, count) : 0u) + PE * count;
    if (length < head) return fail(r, SCNN_ERR_LENGTH, length);
    const uint32_t weight_words = length - head;
    const uint32_t present = weight_words >> (3u - code); /* weight_words / width */
    if ((weight_words & (width - 1u)) != 0u || (L.sparse ? present > dense : present != dense))
        return fail(r, SCNN_ERR_LENGTH, length);
    t.field = read_payload(in, r, crc);
    if (r.overrun) return fail(r, SCNN_ERR_TRUNCATED, r.words);
    t.requant_ok = true;
    t.map_ok = true;
    t.span_sum = 0;
    uint32_t listed = 0, blocks = 0;
    if (L.sparse) {
        tile_map(in, r, crc, count, present, list, listed, blocks, t);
    } else {
        blocks = dense;
        t.span_sum = (uint32_t)mul(count, L.blocks < PIX ? PIX : L.blocks);
    }
    if (!t.map_ok) blocks = 0; /* the TILE fails after the CRC: nothing to compute with */
    Command c = command(CMD_LOAD);
    c.groups = count;
    c.blocks = blocks;
    /* each block used once (and not kept for a segment's later chunks) */
    c.stream = r.images == 1 && L.out.height == 1 && L.out.width == 1 && !recording(r);
    cmds.write(c);
    /* The requantization words, then every block announced: read word by word (an empty group's
     * block of zeros reads none), zeros past a truncation. */
    const uint32_t requant_words = PE * count;
    const uint32_t steps = requant_words + weight_words + (t.map_ok ? blocks - present : 0u);
    const uint32_t rows_shift = code;     /* a word holds 1 << code rows (output channels) */
    const uint32_t row_bits = 64u >> code; /* of 8 x width bits */
    Entry e;
    /* Eight registers, each written by the words that hold its row: a memory here would be
     * written at a variable address and read whole in the same cycle. */
#pragma HLS ARRAY_PARTITION variable = e.word complete
    e.tap = Tap();
    uint32_t sub = 0;    /* word within the block */
    entry_t b = 0;       /* dense: block within the group */
    /* sparse: the list entry being taken (its bits not yet taken in `rest`) and the next one */
    uint32_t at = 0;
    MapWord cur = MapWord(), next = MapWord();
    if (listed > 0u) cur = list[0];
    if (listed > 1u) next = list[1];
    uint64_t rest = cur.bits;
tile_word:
    for (uint32_t k = 0; k < steps; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 4608
#pragma HLS PIPELINE II = 1
        if (k < requant_words) {
            const uint64_t w = read_payload(in, r, crc);
            if (bits(w, SCNN_RQ_RSVD_SHIFT, SCNN_RQ_RSVD_BITS)) t.requant_ok = false;
            e.word[k % PE] = w;
            if (k % PE == PE - 1) entries.write(e);
        } else {
            const bool empty = L.sparse && t.map_ok && sub == 0u && cur.empty;
            if (sub == 0u) { /* a block starts: which one, and its tap */
                Tap tap;
                if (!L.sparse) {
                    tap = taps[b];
                    tap.last = b + 1u == L.blocks;
                    b = tap.last ? entry_t(0) : entry_t(b + 1u);
                } else if (empty) {
                    tap = Tap();
                    tap.last = true;
                } else {
                    const uint64_t left = rest & (rest - 1u);
                    tap = taps[((uint32_t)cur.word * MAP_BITS + lowest_set(rest)) & (SCNN_CFG_WEIGHT_ENTRIES - 1u)];
                    tap.last = left == 0u && (at + 1u >= listed || next.first);
                    rest = left;
                }
                e.tap = tap;
                if (L.sparse && (empty || rest == 0u)) { /* this list entry is used up: the next */
                    ++at;
                    cur = next;
                    rest = next.bits;
                    next = at + 1u < listed ? list[at + 1u] : MapWord();
                }
            }
            const uint64_t w = empty ? 0u : read_payload(in, r, crc);
            for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
                if (empty)
                    e.word[o] = 0;
                else if ((o >> rows_shift) == sub)
                    e.word[o] = widen(w >> (row_bits * (o & ((1u << rows_shift) - 1u))), code);
            }
            if (empty || sub + 1u == width) {
                if (t.map_ok) entries.write(e);
                sub = 0;
            } else {
                ++sub;
            }
        }
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

/* The field word of RELU and FLATTEN: the activations' shape, and RELU's zero point, whose bits
 * FLATTEN reserves.  False (and the run failed) if a reserved bit is set or it is not today's
 * shape. */
bool shape_field_matches(Run& r, uint64_t f, bool relu) {
    uint32_t status = SCNN_ERR_SHAPE, field;
    const bool reserved = relu ? bits(f, SCNN_RELU_RSVD_SHIFT, SCNN_RELU_RSVD_BITS) != 0
                               : bits(f, SCNN_FLATTEN_RSVD_SHIFT, SCNN_FLATTEN_RSVD_BITS) != 0;
    if (reserved) {
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
bool shape_command(command_fifo_t& cmds, Run& r, uint32_t op, uint32_t opcode, uint32_t field_words,
                   int8_t zero) {
#pragma HLS INLINE
    if (!count_layer(r)) return false;
    Command c = command(op);
    c.opcode = opcode;
    c.layer = r.layers;
    c.first = c.last = true;
    c.s = (op == CMD_FLATTEN) ? schedule_flatten(r.act, r.images) : schedule_words((uint32_t)mul(image_words(r.act), r.images));
    c.s.src_base = r.act_base;
    c.s.zero = zero;
    c.words = 1 + field_words;
    issue(cmds, r, c);
    return true;
}

void packet_relu(command_fifo_t& cmds, Run& r, uint64_t f) {
    if (!shape_field_matches(r, f, true)) return;
    const int8_t zero = (int8_t)bits(f, SCNN_RELU_ZERO_SHIFT, SCNN_ZERO_BITS);
    if (shape_command(cmds, r, CMD_RELU, SCNN_OP_RELU, SCNN_RELU_FIELD_WORDS, zero)) layer_done(r, r.act, false);
}

/* FLATTEN: the activations' shape, checked; a dense layer's input follows. */
void packet_flatten(command_fifo_t& cmds, Run& r, uint64_t f) {
#pragma HLS INLINE
    if (!shape_field_matches(r, f, false)) return;
    if (r.images > 1 && r.batch_inner) return fail(r, SCNN_ERR_SEQUENCE, SCNN_OP_FLATTEN); /* already flat */
    const uint64_t features = mul((uint32_t)mul(r.act.channels, r.act.height), r.act.width);
    if (features > SCNN_CFG_MAX_FC_IN) return fail(r, SCNN_ERR_LIMIT, SCNN_CAP_MAX_FC_IN);
    if (!shape_command(cmds, r, CMD_FLATTEN, SCNN_OP_FLATTEN, SCNN_FLATTEN_FIELD_WORDS, 0)) return;
    Shape flat;
    flat.channels = (uint32_t)features;
    flat.height = flat.width = 1;
    layer_done(r, flat, true);
    r.batch_inner = true;
}

}  // namespace

#endif
