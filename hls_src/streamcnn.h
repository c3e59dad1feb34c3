/*
 * streamcnn accelerator: top-level interface.
 *
 * prog_in   AXI4-Stream, 64-bit, from AXI DMA MM2S: one program (docs/protocol.md)
 * resp_out  AXI4-Stream, 64-bit, to AXI DMA S2MM: records, then the status trailer;
 *           TKEEP all ones, TLAST on the last word
 * (not "in"/"out": "in" is a VHDL keyword, which Vitis HLS would rename)
 * status, packet, words, hw_version   s_axilite registers written at the end of
 *      every run (hw_version also at its start), for register dumps when a
 *      DMA transfer goes wrong.
 *
 * Compiled by Vitis HLS for the overlay, and by g++ (with host_shim/ on the
 * include path) for the simulator and the testbench.
 */
#ifndef STREAMCNN_H
#define STREAMCNN_H

#include <stdint.h>

#include <ap_axi_sdata.h>
#include <hls_stream.h>

#include "streamcnn_config.h"
#include "streamcnn_protocol.h"

typedef ap_axiu<64, 0, 0, 0> scnn_beat_t;
typedef hls::stream<scnn_beat_t> scnn_stream_t;

void streamcnn_top(scnn_stream_t& prog_in, scnn_stream_t& resp_out, uint32_t& status, uint32_t& packet_index,
                   uint32_t& words, uint32_t& hw_version);

#endif
