/*
 * The shipped array: 256 int8 multiply-accumulates a cycle on 128 DSP48E1.
 *
 * One 8x8 weight block (8 output channels x 8 input lanes) meets 4 output pixels a cycle; each
 * DSP48E1 multiplies one weight by two pixels' activations at once (docs/resources.md).
 * Selected by streamcnn_config.h unless another configuration is asked for.
 *
 * Between the cdef markers: plain C, read by the Python driver through cffi.
 */
#ifndef STREAMCNN_CONFIG_ARRAY_H
#define STREAMCNN_CONFIG_ARRAY_H

/* cdef-begin */
enum scnn_array_config {
    /* Parallelism: 8 input lanes (one 64-bit word of activations) x 8 output channels x 4
     * output pixels, 256 MACs per cycle. */
    SCNN_CFG_LANES = 8,
    SCNN_CFG_PE_OUT = 8,
    SCNN_CFG_PIXELS = 4,

    /* Two activation buffers (ping-pong) of 8192 words (64 KiB) each. */
    SCNN_CFG_ACT_WORDS = 8192,

    /* One weight tile: 512 blocks of 8x8 int8 (32 KiB), and the requantization words of up to
     * 512 output channels. */
    SCNN_CFG_WEIGHT_ENTRIES = 512,
    SCNN_CFG_TILE_CHANNELS = 512,

    /* The prefetch FIFO between decode and execute: 1024 entries of 8 words (64 KiB). */
    SCNN_CFG_PREFETCH_ENTRIES = 1024
};
/* cdef-end */

#endif
