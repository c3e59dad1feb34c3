/*
 * C interface of the simulator: the accelerator compiled for the host.
 * Host-only.  The Python driver declares what is between the cdef markers
 * through cffi and calls it with its send and receive buffers.
 */
#ifndef STREAMCNN_SIM_BRIDGE_H
#define STREAMCNN_SIM_BRIDGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
/* What one transfer did, as the AXI DMA and the IP's registers would see it. */
struct scnn_sim_result {
    uint32_t status_reg;     /* the IP's status register: status | layers << 16 */
    uint32_t packet_reg;     /* failing packet index register */
    uint32_t words_reg;      /* input words consumed register */
    uint32_t hw_version_reg;
    uint64_t in_consumed;    /* MM2S beats the IP accepted */
    uint64_t in_underflows;  /* reads past the last beat: the IP would block */
    uint64_t out_beats;      /* beats the IP produced */
    uint64_t out_copied;     /* beats that fit the receive buffer */
    uint64_t first_tlast;    /* index of the first output beat with TLAST, or ~0 */
    uint64_t keep_errors;    /* output beats whose TKEEP or TSTRB was not all ones */
    uint64_t internal_faults; /* reads of an empty internal FIFO, FIFOs left holding data */
    uint64_t stalled;        /* 1: the accelerator waited for a beat MM2S never sent (stall_after) */
};

/* Send `in_words` words (TLAST on the last) and collect the response into
 * `out` (room for `out_capacity` words).  Returns 0.
 * `stall_after` < `in_words` injects a fault: the accelerator stops taking
 * input after that many beats, as a hung IP would; the run ends at the read
 * that would wait forever, with `stalled` set and no response. */
int scnn_sim_transfer(const uint64_t* in, uint64_t in_words, uint64_t* out, uint64_t out_capacity,
                      uint64_t stall_after, struct scnn_sim_result* result);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif
