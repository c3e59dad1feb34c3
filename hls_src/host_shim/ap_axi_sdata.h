/*
 * Host-only stand-in for the AXI4-Stream side-channel type of Vitis HLS.
 * Only the shape streamcnn uses is provided: ap_axiu<64, 0, 0, 0>, i.e. TDATA,
 * TKEEP, TSTRB and TLAST with no TUSER/TID/TDEST.  Zero-width side channels
 * are simply absent (not zero-sized members), so the struct is what the
 * hardware port is.
 */
#ifndef STREAMCNN_HOST_AP_AXI_SDATA_H
#define STREAMCNN_HOST_AP_AXI_SDATA_H

#ifdef __SYNTHESIS__
#error "host_shim/ap_axi_sdata.h must not be used for synthesis"
#endif

#include <cstdint>

template <int D, int U, int TI, int TD>
struct ap_axiu;

template <>
struct ap_axiu<64, 0, 0, 0> {
    uint64_t data;
    uint8_t keep;
    uint8_t strb;
    uint8_t last;
    ap_axiu() : data(0), keep(0), strb(0), last(0) {}
};

#endif
