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
    L.next_group = 0;
    if (bits(f[1], SCNN_L1_RSVD0_SHIFT, SCNN_L1_RSVD0_BITS)) return fail(r, SCNN_ERR_BAD_FIELD, SCNN_F_RESERVED);
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
