/*
 * The simulator's entry point (host-only): one AXI DMA round trip through the
 * accelerator.  MM2S becomes an input stream whose last beat carries TLAST;
 * the output stream is copied into the receive buffer the way S2MM would, and
 * everything that would hang or corrupt a real transfer is counted so the
 * driver can refuse it (streamcnn/devices/sim.py).
 */
#include "sim_bridge.h"

#include "../streamcnn.h"

int scnn_sim_transfer(const uint64_t* in, uint64_t in_words, uint64_t* out, uint64_t out_capacity,
                      uint64_t stall_after, struct scnn_sim_result* result) {
    scnn_stream_t in_stream, out_stream;
    const uint64_t delivered = stall_after < in_words ? stall_after : in_words;
    for (uint64_t i = 0; i < delivered; i++) {
        scnn_beat_t beat;
        beat.data = in[i];
        beat.keep = 0xFF;
        beat.strb = 0xFF;
        beat.last = (i + 1 == in_words) ? 1 : 0;
        in_stream.write(beat);
    }

    if (delivered < in_words) in_stream.block_when_empty();

    hls::shim::internal_faults() = 0;
    result->stalled = 0;
    try {
        streamcnn_top(in_stream, out_stream, result->status_reg, result->packet_reg, result->words_reg,
                      result->hw_version_reg);
    } catch (const hls::shim::blocked&) {
        /* Stuck for good: nothing completes, nothing reaches the receive buffer.  The
         * FIFOs unwound mid-run; their leftovers are the stall's, not faults. */
        result->stalled = 1;
        hls::shim::internal_faults() = 0;
        while (!out_stream.empty()) out_stream.read();
    }

    result->internal_faults = hls::shim::internal_faults();
    result->in_consumed = delivered - in_stream.size();
    result->in_underflows = in_stream.underflows();
    result->out_beats = out_stream.size();
    result->out_copied = 0;
    result->first_tlast = ~(uint64_t)0;
    result->keep_errors = 0;
    for (uint64_t i = 0; !out_stream.empty(); i++) {
        scnn_beat_t beat = out_stream.read();
        if (beat.keep != 0xFF || beat.strb != 0xFF) result->keep_errors++;
        if (beat.last && result->first_tlast == ~(uint64_t)0) result->first_tlast = i;
        if (i < out_capacity) {
            out[i] = beat.data;
            result->out_copied++;
        }
    }
    return 0;
}
