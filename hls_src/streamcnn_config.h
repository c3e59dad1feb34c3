/*
 * Compile-time maxima and parallelism of the streamcnn accelerator.
 *
 * These are fixed at synthesis; everything else (geometry, weights, images)
 * arrives at run time.  The accelerator reports every value here in its
 * capabilities record, and the driver validates networks against what the
 * overlay reports, not against this file.  docs/resources.md derives the
 * PYNQ-Z2 (xc7z020) resource estimate of each configuration from these numbers.
 *
 * The array and its buffers come from one file of config/, chosen at compile time:
 *   config/mac256.h  256 MACs a cycle (the shipped overlay; the default)
 *   config/mac64.h   64 MACs a cycle (-DSCNN_CONFIG_MAC64)
 * The geometry limits below are the same for every configuration.
 *
 * Between the cdef markers: plain C, read by the Python driver through cffi.
 */
#ifndef STREAMCNN_CONFIG_H
#define STREAMCNN_CONFIG_H

#if defined(SCNN_CONFIG_MAC64)
#include "config/mac64.h"
#else
#include "config/mac256.h"
#endif

/* cdef-begin */
enum scnn_config {
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
