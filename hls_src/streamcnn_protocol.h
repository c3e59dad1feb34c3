/*
 * streamcnn wire format: the one source of truth.
 *
 * Everything between the cdef markers is plain C declarations that the Python
 * driver feeds to cffi's cdef() (streamcnn/protocol.py), so opcodes, status
 * codes, field positions and capability indices are defined here only.
 * docs/protocol.md explains the layout in prose.
 *
 * All words are 64 bits, little-endian on the AXI4-Stream (byte 0 = bits 7:0).
 * A field named F is at bits [F_SHIFT + F_BITS - 1 : F_SHIFT] of its word.
 */
#ifndef STREAMCNN_PROTOCOL_H
#define STREAMCNN_PROTOCOL_H

/* cdef-begin */

/* Versions.  The format version changes whenever a layout below changes. */
enum scnn_version {
    SCNN_FORMAT_VERSION = 8,
    SCNN_HW_VERSION_MAJOR = 2,
    SCNN_HW_VERSION_MINOR = 4,
    SCNN_HW_VERSION_PATCH = 0
};

/* Magic numbers (ASCII, little-endian in the low 32 bits of a word). */
enum scnn_magic {
    SCNN_PROGRAM_MAGIC = 0x4E4E4353, /* "SCNN": program header word 0 */
    SCNN_RECORD_MAGIC = 0x44524353,  /* "SCRD": a result record      */
    SCNN_STATUS_MAGIC = 0x54534353   /* "SCST": the status trailer    */
};

/* Program header: two words.
 *   word 0: magic[31:0] | format version[47:32] | batch size[63:48]
 *   word 1: total program words incl. header[31:0] | response capacity words[63:32]
 * The response capacity is the size of the receive buffer; the accelerator
 * never emits more words than that, so S2MM can never stall. */
enum scnn_header_fields {
    SCNN_HDR_WORDS = 2,
    SCNN_HDR_MAGIC_SHIFT = 0, SCNN_HDR_MAGIC_BITS = 32,
    SCNN_HDR_VERSION_SHIFT = 32, SCNN_HDR_VERSION_BITS = 16,
    SCNN_HDR_BATCH_SHIFT = 48, SCNN_HDR_BATCH_BITS = 16,
    SCNN_HDR_TOTAL_SHIFT = 0, SCNN_HDR_TOTAL_BITS = 32,
    SCNN_HDR_RESPCAP_SHIFT = 32, SCNN_HDR_RESPCAP_BITS = 32
};

/* Packet header: one word, then `length` payload words.
 *   opcode[7:0] | payload words[31:8] | crc32[63:32]
 * The CRC-32 (IEEE 802.3, as zlib.crc32) covers the 4 low bytes of the packet
 * header word followed by every payload byte, so opcode and length are
 * protected too.  Nothing in a packet is used before its CRC has matched,
 * except its length, which only bounds what is read: it is checked against the
 * program's remaining words and, for INPUT and TILE, against the activation
 * buffer and the tile the (already verified) layer expects next. */
enum scnn_packet_fields {
    SCNN_PKT_OPCODE_SHIFT = 0, SCNN_PKT_OPCODE_BITS = 8,
    SCNN_PKT_LENGTH_SHIFT = 8, SCNN_PKT_LENGTH_BITS = 24,
    SCNN_PKT_CRC_SHIFT = 32, SCNN_PKT_CRC_BITS = 32
};

enum scnn_opcode {
    SCNN_OP_CAPS = 0x01,   /* answer with a capabilities record; no payload  */
    SCNN_OP_INPUT = 0x10,  /* the batch of input images                       */
    SCNN_OP_UNPACK = 0x11, /* right after INPUT: its images were bytes; spread them into lanes */
    SCNN_OP_CONV = 0x20,   /* conv2d layer geometry; its TILE packets follow  */
    SCNN_OP_FC = 0x21,     /* fully-connected layer; its TILE packets follow  */
    SCNN_OP_TILE = 0x22,   /* requant parameters + weights of some out groups */
    SCNN_OP_POOL = 0x30,   /* max or average pooling                          */
    SCNN_OP_RELU = 0x31,   /* standalone ReLU (conv/fc fuse theirs)           */
    SCNN_OP_FLATTEN = 0x32, /* pack the valid lanes densely, before an FC     */
    SCNN_OP_SEGMENT = 0x40, /* the next layers run image chunk by image chunk */
    SCNN_OP_OUTPUT = 0x50, /* emit the current activations as a record        */
    SCNN_OP_END = 0x7F     /* end of program; must carry TLAST                */
};

/* A "group" is 8 channels: one 64-bit word holds 8 int8 lanes.
 * Activations on chip, in INPUT payloads and in tensor records are laid out
 * per image as [channel group][y][x] words, lane l of group g = channel 8g+l;
 * lanes beyond the channel count carry no value (no layer reads them: their
 * weights are zero and FLATTEN skips them); images one after another.  The
 * output of FLATTEN and of FC layers (and of a RELU on one) is batch-innermost
 * instead: word k of image b at k * batch + b.  Above batch 1, FC takes only
 * batch-innermost activations, and CONV, POOL and FLATTEN only the other kind
 * (ERR_SEQUENCE, the opcode); at batch 1 the two layouts are the same. */
enum scnn_layout { SCNN_LANES = 8 };

/* INPUT payload: 1 field word, then batch * groups(C) * H * W data words.
 *   channels[15:0] | height[31:16] | width[47:32] | batch[63:48] (= header batch) */
enum scnn_input_fields {
    SCNN_IN_FIELD_WORDS = 1,
    SCNN_IN_C_SHIFT = 0, SCNN_IN_H_SHIFT = 16, SCNN_IN_W_SHIFT = 32, SCNN_IN_B_SHIFT = 48,
    SCNN_IN_FIELD_BITS = 16
};

/* UNPACK payload: 1 field word; right after an INPUT (not after a SEGMENT) of one channel group
 * (8 lanes), whose words are the images as bytes, row by row: byte k of row y of an image is
 * byte k % 8 of its word (y, k / 8).  The images become (channels, height, width), in the other
 * buffer: word (y, x) of an image = the 8 bytes from byte x * step of row y on, its lanes from
 * `channels` on the zero point.  Not a layer: it has no counters.
 *   channels[3:0] (1..8) | step[7:4] (1..8) | zero point int8[15:8] | reserved[31:16] = 0 |
 *   width[47:32] | reserved[63:48] = 0     (height: the INPUT's; (width - 1) x step + channels
 *   must be within the row's 8 x INPUT-width bytes) */
enum scnn_unpack_fields {
    SCNN_UNPACK_FIELD_WORDS = 1,
    SCNN_UNPACK_C_SHIFT = 0, SCNN_UNPACK_STEP_SHIFT = 4, SCNN_UNPACK_SMALL_BITS = 4,
    SCNN_UNPACK_ZERO_SHIFT = 8, SCNN_UNPACK_RSVD0_SHIFT = 16, SCNN_UNPACK_RSVD0_BITS = 16,
    SCNN_UNPACK_W_SHIFT = 32, SCNN_UNPACK_W_BITS = 16, SCNN_UNPACK_RSVD1_SHIFT = 48, SCNN_UNPACK_RSVD1_BITS = 16
};

/* CONV payload: 2 field words.
 *   w0: in_channels[15:0] | in_height[31:16] | in_width[47:32] | out_channels[63:48]
 *   w1: kernel_h[3:0] | kernel_w[7:4] | stride_h[11:8] | stride_w[15:12] |
 *       pad_h[19:16] | pad_w[23:20] | relu[24] | weight width[26:25] | sparse[27] |
 *       reserved[31:28] = 0 | groups per tile[47:32] | input zero point int8[55:48] |
 *       output zero point int8[63:56]
 *   Padding takes the input's zero point (it stands for a real 0); the output zero point is
 *   added after rounding, and a ReLU clamps at it (docs/numerics.md).  The weight width says
 *   how the TILE packets carry the weights: SCNN_WBITS_8, _4 or _2 (signed 8-, 4- or 2-bit
 *   values; 3 is not a width).  Sparse: every TILE carries an occupancy map, and only the
 *   weight blocks it marks present.
 * FC payload: 2 field words; it flattens the current activations first.
 *   w0: in_features[31:0] (= 8 * groups * H * W of the current activations) |
 *       out_features[47:32] | reserved[63:48] = 0
 *   w1: as CONV w1 with kernel and stride 1, pad 0 and input zero point 0 (no padding). */
enum scnn_layer_fields {
    SCNN_LAYER_FIELD_WORDS = 2,
    SCNN_CONV_INC_SHIFT = 0, SCNN_CONV_INH_SHIFT = 16, SCNN_CONV_INW_SHIFT = 32,
    SCNN_CONV_OUTC_SHIFT = 48, SCNN_CONV_DIM_BITS = 16,
    SCNN_FC_IN_SHIFT = 0, SCNN_FC_IN_BITS = 32, SCNN_FC_OUT_SHIFT = 32, SCNN_FC_OUT_BITS = 16,
    SCNN_FC_RSVD_SHIFT = 48, SCNN_FC_RSVD_BITS = 16,
    SCNN_L1_KH_SHIFT = 0, SCNN_L1_KW_SHIFT = 4, SCNN_L1_SH_SHIFT = 8, SCNN_L1_SW_SHIFT = 12,
    SCNN_L1_PH_SHIFT = 16, SCNN_L1_PW_SHIFT = 20, SCNN_L1_GEOM_BITS = 4,
    SCNN_L1_RELU_SHIFT = 24, SCNN_L1_WBITS_SHIFT = 25, SCNN_L1_WBITS_BITS = 2, SCNN_L1_SPARSE_SHIFT = 27,
    SCNN_L1_RSVD0_SHIFT = 28, SCNN_L1_RSVD0_BITS = 4,
    SCNN_WBITS_8 = 0, SCNN_WBITS_4 = 1, SCNN_WBITS_2 = 2,
    SCNN_L1_TILE_SHIFT = 32, SCNN_L1_TILE_BITS = 16,
    SCNN_L1_IN_ZERO_SHIFT = 48, SCNN_L1_OUT_ZERO_SHIFT = 56, SCNN_ZERO_BITS = 8
};

/* TILE payload: 1 field word, the occupancy map (sparse layers only), 8 * groups requant
 * words, then the weights.
 *   field: first out group[15:0] | group count[31:16] | reserved[63:32] = 0
 *   occupancy map, sparse layers: per output group of the tile, ceil(blocks / 64) words, where
 *     blocks = in groups x kernel_h x kernel_w is the group's blocks in the order below; bit
 *     b % 64 of the group's word b / 64 is set when block b is present (bits past the last
 *     block are 0).  An absent block is all zeros: it is neither sent nor computed.
 *   requant word per output channel c (8 per group, padding channels all zero):
 *     bias int32[31:0] | multiplier uint24[55:32] | shift[61:56] | reserved[63:62] = 0
 *   weights: for out group g, in group i, ky < kernel_h, kx < kernel_w (kx fastest), the
 *     blocks present (all of them in a dense layer): 64 weights w[o][l], out channel 8g+o,
 *     in channel 8i+l, weight t = 8o + l at bits [n(t+1)-1 : nt] of the block's n-bit words
 *     (n = the width: 8, 4 or 2, so a block is n words), two's complement.  At 8 bits word o
 *     holds out channel o, lane l in byte l. */
enum scnn_tile_fields {
    SCNN_TILE_FIELD_WORDS = 1,
    SCNN_TILE_FIRST_SHIFT = 0, SCNN_TILE_COUNT_SHIFT = 16, SCNN_TILE_FIELD_BITS = 16,
    SCNN_TILE_RSVD_SHIFT = 32, SCNN_TILE_RSVD_BITS = 32,
    SCNN_MAP_BITS = 64, /* blocks per occupancy-map word */
    SCNN_RQ_BIAS_SHIFT = 0, SCNN_RQ_BIAS_BITS = 32,
    SCNN_RQ_MULT_SHIFT = 32, SCNN_RQ_MULT_BITS = 24,
    SCNN_RQ_SHIFT_SHIFT = 56, SCNN_RQ_SHIFT_BITS = 6,
    SCNN_RQ_RSVD_SHIFT = 62, SCNN_RQ_RSVD_BITS = 2
};

/* POOL payload: 1 field word.
 *   channels[15:0] | in_height[31:16] | in_width[47:32] | kernel[51:48] |
 *   stride[55:52] | mode[56] (0 max, 1 average) | reserved[63:57] = 0
 * RELU payload: 1 field word: channels[15:0] | height[31:16] | width[47:32] |
 *   zero point int8[55:48] (the clamp: max(x, zero point)) | reserved[63:56] = 0
 * FLATTEN payload: 1 field word: channels[15:0] | height[31:16] | width[47:32] |
 *   reserved[63:48] = 0.  (C, H, W) becomes (C*H*W, 1, 1): per
 *   image, the valid lanes of its words, in memory order ([group][y][x], lanes
 *   0 .. min(8, C - 8g) - 1 of group g), packed 8 to a word; the image's last word
 *   zero-padded, written batch-innermost.  C*H*W is at most SCNN_CAP_MAX_FC_IN: it
 *   is a dense layer's input. */
enum scnn_pool_fields {
    SCNN_POOL_FIELD_WORDS = 1,
    SCNN_POOL_C_SHIFT = 0, SCNN_POOL_H_SHIFT = 16, SCNN_POOL_W_SHIFT = 32, SCNN_POOL_DIM_BITS = 16,
    SCNN_POOL_KERNEL_SHIFT = 48, SCNN_POOL_STRIDE_SHIFT = 52, SCNN_POOL_GEOM_BITS = 4,
    SCNN_POOL_MODE_SHIFT = 56, SCNN_POOL_RSVD_SHIFT = 57, SCNN_POOL_RSVD_BITS = 7,
    SCNN_POOL_MAX = 0, SCNN_POOL_AVG = 1,
    SCNN_RELU_FIELD_WORDS = 1, SCNN_RELU_ZERO_SHIFT = 48, SCNN_RELU_RSVD_SHIFT = 56, SCNN_RELU_RSVD_BITS = 8,
    SCNN_FLATTEN_FIELD_WORDS = 1, SCNN_FLATTEN_RSVD_SHIFT = 48, SCNN_FLATTEN_RSVD_BITS = 16
};

/* SEGMENT payload: 2 field words.  The next `layers` layers (1 to SCNN_SEG_MAX_LAYERS: at most
 * one CONV, in a single tile, and POOL or RELU; the last a CONV or POOL whose output lands in
 * the buffer INPUT writes, after an even number of layers that change buffers) are its
 * body; then comes one INPUT packet with the whole batch, `chunks` chunks of `chunk` images
 * (chunk x chunks = the header's batch), and the body runs on each chunk in turn as soon as
 * its images are in, its weights loaded once.  The chunks' outputs are kept side by side (the
 * batch's, images one after another) after the words a chunk needs, in the buffer INPUT
 * writes, and the layers after the INPUT take them as the batch's activations.
 *   w0: channels[15:0] | height[31:16] | width[47:32] | chunk[63:48] (the images' shape)
 *   w1: chunks[15:0] | layers[23:16] | reserved[63:24] = 0 */
enum scnn_segment_fields {
    SCNN_SEG_FIELD_WORDS = 2,
    SCNN_SEG_C_SHIFT = 0, SCNN_SEG_H_SHIFT = 16, SCNN_SEG_W_SHIFT = 32, SCNN_SEG_CHUNK_SHIFT = 48,
    SCNN_SEG_DIM_BITS = 16,
    SCNN_SEG_CHUNKS_SHIFT = 0, SCNN_SEG_LAYERS_SHIFT = 16, SCNN_SEG_LAYERS_BITS = 8,
    SCNN_SEG_RSVD_SHIFT = 24, SCNN_SEG_RSVD_BITS = 40,
    SCNN_SEG_MAX_LAYERS = 4
};

/* OUTPUT payload: 1 field word: tag[31:0] (echoed in the record) | reserved[63:32] = 0 */
enum scnn_output_fields {
    SCNN_OUT_FIELD_WORDS = 1,
    SCNN_OUT_TAG_SHIFT = 0, SCNN_OUT_TAG_BITS = 32,
    SCNN_OUT_RSVD_SHIFT = 32, SCNN_OUT_RSVD_BITS = 32
};

/* Response stream: records, then the status trailer; TLAST on its last word.
 * Record header: magic[31:0] | kind[35:32] | payload words[63:36]. */
enum scnn_record_fields {
    SCNN_REC_MAGIC_SHIFT = 0, SCNN_REC_MAGIC_BITS = 32,
    SCNN_REC_KIND_SHIFT = 32, SCNN_REC_KIND_BITS = 4,
    SCNN_REC_LENGTH_SHIFT = 36, SCNN_REC_LENGTH_BITS = 28,
    SCNN_REC_CAPS = 1,
    SCNN_REC_TENSOR = 2,
    /* tensor payload: 1 shape word, 1 tag word, then batch * groups * H * W words
     *   shape: channels[15:0] | height[31:16] | width[47:32] | batch[63:48]
     *   tag:   tag[31:0] | layers executed so far[47:32] | reserved[63:48] */
    SCNN_TENSOR_HEAD_WORDS = 2,
    SCNN_TAG_LAYERS_SHIFT = 32
};

/* Capabilities record payload: SCNN_CAP_COUNT words, word i = value of index i. */
enum scnn_cap_index {
    SCNN_CAP_HW_VERSION = 0,       /* major << 16 | minor << 8 | patch */
    SCNN_CAP_FORMAT_VERSION,
    SCNN_CAP_LANES,                /* int8 lanes per word (input-channel parallelism) */
    SCNN_CAP_PE_OUT,               /* output channels computed in parallel */
    SCNN_CAP_ACT_WORDS,            /* words in each of the two activation buffers */
    SCNN_CAP_WEIGHT_ENTRIES,       /* 8x8 weight blocks per tile */
    SCNN_CAP_TILE_CHANNELS,        /* output channels per tile (requant buffer) */
    SCNN_CAP_MAX_CHANNELS,
    SCNN_CAP_MAX_DIM,              /* height and width */
    SCNN_CAP_MAX_KERNEL,
    SCNN_CAP_MAX_STRIDE,
    SCNN_CAP_MAX_PAD,
    SCNN_CAP_MAX_POOL_KERNEL,
    SCNN_CAP_MAX_POOL_STRIDE,
    SCNN_CAP_MAX_FC_IN,
    SCNN_CAP_MAX_FC_OUT,
    SCNN_CAP_MAX_BATCH,
    SCNN_CAP_MAX_LAYERS,
    SCNN_CAP_MAX_PROGRAM_WORDS,     /* the DMA length register's limit / 8 */
    SCNN_CAP_PREFETCH_ENTRIES,      /* 8-word entries of weights the accelerator buffers ahead */
    SCNN_CAP_PIXELS,                /* output pixels computed in parallel (sharing each weight block) */
    SCNN_CAP_COUNT
};

/* Status trailer: SCNN_TRAILER_HEAD_WORDS words, then 2 counter words per layer.
 *   w0: magic[31:0] | status[47:32] | layers executed[63:48]
 *   w1: failing packet index[31:0] (SCNN_NO_PACKET: none / the program header) |
 *       detail[63:32] (status-specific, see docs/protocol.md)
 *   w2: input words consumed, drain included[31:0] | records emitted[63:32]
 *   per layer: opcode[7:0] | tiles[31:8] | stream words of the layer[63:32],
 *              then the iterations of the layer's pipelined inner loop (64 bits) */
enum scnn_trailer_fields {
    SCNN_TRAILER_HEAD_WORDS = 3,
    SCNN_COUNTER_WORDS = 2,
    SCNN_ST_STATUS_SHIFT = 32, SCNN_ST_LAYERS_SHIFT = 48,
    SCNN_ST_DETAIL_SHIFT = 32,
    SCNN_ST_RECORDS_SHIFT = 32,
    SCNN_CNT_TILES_SHIFT = 8, SCNN_CNT_WORDS_SHIFT = 32
};
#define SCNN_NO_PACKET 0xFFFFFFFF

/* Status codes.  detail is given in parentheses. */
enum scnn_status {
    SCNN_OK = 0,
    SCNN_ERR_BAD_MAGIC = 1,       /* header word 0 is not a program (the low 32 bits seen) */
    SCNN_ERR_BAD_VERSION = 2,     /* format version not spoken (the version seen) */
    SCNN_ERR_BAD_LENGTH = 3,      /* header total length impossible (the length seen) */
    SCNN_ERR_TRUNCATED = 4,       /* TLAST came before the program ended (words read) */
    SCNN_ERR_TRAILING_DATA = 5,   /* END was not the last word before TLAST (words read) */
    SCNN_ERR_UNKNOWN_OPCODE = 6,  /* (the opcode) */
    SCNN_ERR_CRC = 7,             /* packet CRC mismatch (the CRC computed) */
    SCNN_ERR_BAD_FIELD = 8,       /* a field is zero, out of its range or a reserved bit set (field id) */
    SCNN_ERR_LIMIT = 9,           /* a dimension exceeds a compile-time maximum (SCNN_CAP_* index) */
    SCNN_ERR_SHAPE = 10,          /* layer input shape differs from the current activations (field id) */
    SCNN_ERR_SEQUENCE = 11,       /* packet not allowed here, e.g. a layer before INPUT (opcode) */
    SCNN_ERR_RESPONSE_FULL = 12,  /* a record would not fit the response capacity (words needed) */
    SCNN_ERR_NO_END = 13,         /* total length reached without an END packet (words read) */
    SCNN_ERR_LENGTH = 14          /* payload length wrong for the opcode and fields (length seen) */
};

/* Field ids reported as the detail of BAD_FIELD and SHAPE. */
enum scnn_field_id {
    SCNN_F_BATCH = 1, SCNN_F_RESERVED, SCNN_F_CHANNELS, SCNN_F_HEIGHT, SCNN_F_WIDTH,
    SCNN_F_OUT_CHANNELS, SCNN_F_KERNEL, SCNN_F_STRIDE, SCNN_F_PAD, SCNN_F_TILE_GROUPS,
    SCNN_F_TILE_FIRST, SCNN_F_TILE_COUNT, SCNN_F_REQUANT, SCNN_F_POOL_MODE, SCNN_F_IN_FEATURES,
    SCNN_F_OUT_SIZE, SCNN_F_RESP_CAPACITY, SCNN_F_SEGMENT_LAYERS,
    SCNN_F_WEIGHT_BITS,   /* a CONV/FC weight width that is not one */
    SCNN_F_OCCUPANCY      /* a TILE's map: bits past the blocks, or not the blocks it carries */
};

/* cdef-end */

#endif
