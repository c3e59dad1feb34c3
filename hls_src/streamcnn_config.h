/*
 * Compile-time maxima and parallelism of the streamcnn accelerator.
 *
 * These are fixed at synthesis; everything else (geometry, weights, images)
 * arrives at run time.  The accelerator reports every value here in its
 * capabilities record, and the driver validates networks against what the
 * overlay reports, not against this file.  docs/resources.md derives the
 * PYNQ-Z2 (xc7z020) resource estimate from these numbers.
 *
 * Between the cdef markers: plain C, read by the Python driver through cffi.
 */
#ifndef STREAMCNN_CONFIG_H
#define STREAMCNN_CONFIG_H

/* cdef-begin */
enum scnn_config {
    /* Parallelism: an 8x8 array of int8 multipliers, 8 input lanes (one
     * 64-bit word of activations) times 8 output channels, 64 MACs per cycle. */
    SCNN_CFG_LANES = 8,
    SCNN_CFG_PE_OUT = 8,

    /* Two activation buffers (ping-pong) of 8192 words (64 KiB) each: a whole
     * batch's activations of one layer live in one buffer. */
    SCNN_CFG_ACT_WORDS = 8192,

    /* One weight tile: 512 blocks of 8x8 int8 (32 KiB), and the requantization
     * words of up to 512 output channels. */
    SCNN_CFG_WEIGHT_ENTRIES = 512,
    SCNN_CFG_TILE_CHANNELS = 512,

    /* The prefetch FIFO between decode and execute: 1024 entries of 8 words
     * (64 KiB).  While a layer computes, the next layers' weights stream into
     * it at the DMA's rate; execute copies a tile out at one entry a cycle. */
    SCNN_CFG_PREFETCH_ENTRIES = 1024,

    /* Geometry limits. */
    SCNN_CFG_MAX_CHANNELS = 4096,
    SCNN_CFG_MAX_DIM = 128,
    SCNN_CFG_MAX_KERNEL = 7,
    SCNN_CFG_MAX_STRIDE = 2,
    SCNN_CFG_MAX_PAD = 3,
    SCNN_CFG_MAX_POOL_KERNEL = 3,
    SCNN_CFG_MAX_POOL_STRIDE = 3,
    /* A fully-connected layer's inputs must fit one output group's weights in
     * a tile: 512 blocks x 8 lanes. */
    SCNN_CFG_MAX_FC_IN = 4096,
    SCNN_CFG_MAX_FC_OUT = 4096,
    SCNN_CFG_MAX_BATCH = 256,
    SCNN_CFG_MAX_LAYERS = 32,

    /* AXI DMA with a 26-bit length register moves at most 2^26 - 1 bytes. */
    SCNN_CFG_MAX_PROGRAM_WORDS = 8388607
};
/* cdef-end */

#endif
