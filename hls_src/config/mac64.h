/*
 * The large-buffer array: 64 int8 multiply-accumulates a cycle, one product per DSP48E1, and
 * activation buffers twice the shipped array's (a tensor of 8 channels at 128 x 128 or 16 at
 * 90 x 90, bigger batches).  The other variant of the accelerator library: mac256 is fast on
 * LeNet-sized networks, this one takes what does not fit it.
 *
 * One 8x8 weight block (8 output channels x 8 input lanes) meets one output pixel a cycle.
 * Build it with -DSCNN_CONFIG_MAC64 (the simulator: config="mac64"; the overlay:
 * make -C overlay CONFIG=mac64).
 *
 * Between the cdef markers: plain C, read by the Python driver through cffi.
 */
#ifndef STREAMCNN_CONFIG_ARRAY_H
#define STREAMCNN_CONFIG_ARRAY_H

/* cdef-begin */
enum scnn_array_config {
    /* Parallelism: 8 input lanes x 8 output channels x 1 output pixel, 64 MACs per cycle. */
    SCNN_CFG_LANES = 8,
    SCNN_CFG_PE_OUT = 8,
    SCNN_CFG_PIXELS = 1,

    /* Two activation buffers (ping-pong) of 16384 words (128 KiB) each, twice the shipped
     * array's: 64 of the chip's 140 BRAM36 (docs/resources.md). */
    SCNN_CFG_ACT_WORDS = 16384,

    /* One weight tile: 512 blocks of 8x8 int8 (32 KiB), and the requantization words of up to
     * 512 output channels. */
    SCNN_CFG_WEIGHT_ENTRIES = 512,
    SCNN_CFG_TILE_CHANNELS = 512,

    /* The prefetch FIFO between decode and execute: 1024 entries of 8 words (64 KiB). */
    SCNN_CFG_PREFETCH_ENTRIES = 1024
};
/* cdef-end */

#endif
