/* The accelerator's arithmetic primitives: two int8 products on one DSP48E1, and division by
 * the few constants the accelerator needs, without a divider.
 *
 * Vitis HLS turns '/' or '%' of a run-time value into a divider core (a 36-stage pipeline
 * for 32 bits), even when the divisor is a constant that is not a power of two.  These are
 * shifts and reciprocal multiplies instead, each exact over the range its callers can give
 * it.  tb/streamcnn_tb.cpp checks every primitive here against plain arithmetic over every
 * input its callers can give it.
 */
#ifndef STREAMCNN_ARITH_H
#define STREAMCNN_ARITH_H

#include <ap_int.h>
#include <stdint.h>

#include "streamcnn_config.h"

/* Two products of one int8 weight on one DSP48E1: w x0 and w x1 from (x1 2^16 + x0) x w.
 *
 * The 25-bit A port takes both activations, x1 shifted by 16 bits (x1 2^16 + x0 is within
 * [-8388736, 8323199], inside the port's +-2^24; a shift of 17 would overflow it at x1 = -128,
 * x0 < 0), the 18-bit B port the
 * weight, and the 43-bit P = (x1 w) 2^16 + x0 w holds both products.  x0 w is within
 * [-16256, 16384], inside a signed 16-bit field, so it is P's low 16 bits sign-extended; when
 * it is negative it has borrowed one from the field above, so x1 w is P >> 16 plus P's bit 15.
 * Nothing accumulates inside P (two products of a 16-bit field side by side leave no guard
 * bits), so each is taken out every cycle and summed in the fabric.  The same holds for any
 * weight of at most 8 bits (4-bit weights leave the products smaller) and for unsigned
 * activations once offset into int8 (x - 128, the 128 x sum(w) folded into the bias). */
inline void mul_pair(int8_t w, int8_t x0, int8_t x1, int32_t& p0, int32_t& p1) {
#pragma HLS INLINE
    const ap_int<25> a = (int32_t)x1 * 65536 + (int32_t)x0; /* a constant shift and an add */
    const ap_int<18> b = w;
    const ap_int<43> p = a * b; /* one DSP48E1: 25 x 18 bits */
#pragma HLS BIND_OP variable = p op = mul impl = dsp
    const int64_t v = p;
    p0 = (int16_t)(uint16_t)(v & 0xFFFF);
    p1 = (int32_t)(v >> 16) + (int32_t)((v >> 15) & 1);
}

/* One int8 product on one DSP48E1 (the 64-MAC array's; bound to a DSP so that Vitis HLS does
 * not build it from LUTs, which would move the resource estimate). */
inline int32_t mul_one(int8_t w, int8_t x) {
#pragma HLS INLINE
    const ap_int<16> p = (ap_int<8>)w * (ap_int<8>)x;
#pragma HLS BIND_OP variable = p op = mul impl = dsp
    return (int32_t)p;
}

/* floor(n / stride) for the legal strides; exact for n < SCNN_DIV_STRIDE_LIMIT (callers pass
 * at most 128 + 2 x 3: an activation dimension plus its padding).  n / 3 = n x 0xAAAB / 2^17. */
const uint32_t SCNN_DIV_STRIDE_LIMIT = 98304; /* 3 x 2^15: n x 0xAAAB stays below 2^32 */
static_assert(SCNN_CFG_MAX_STRIDE <= 3 && SCNN_CFG_MAX_POOL_STRIDE <= 3, "div_by_stride covers strides 1 to 3");
static_assert(SCNN_CFG_MAX_DIM + 2 * SCNN_CFG_MAX_PAD < SCNN_DIV_STRIDE_LIMIT, "div_by_stride's range");

inline uint32_t div_by_stride(uint32_t n, uint32_t stride) {
    switch (stride) {
    case 1: return n;
    case 2: return n >> 1;
    default: return (n * 0xAAABu) >> 17;
    }
}

/* The mean of a k x k window of int8 values, rounded half to even (n = k^2).  Only k = 2 has
 * ties (2 sum = n (2j + 1) needs n even): sum / 4 rounds as (sum + 1 + bit 2 of sum) >> 2,
 * the extra 1 when the quotient below the tie is odd.  Adding n x 128 makes the dividend
 * non-negative (|sum| <= n x 128) without changing a parity, so the floor is a shift (k = 2)
 * or a reciprocal multiply (k = 3, where half up is half to even: u / 18 = u x 3641 / 2^16
 * for u < 4608). */
static_assert(SCNN_CFG_MAX_POOL_KERNEL == 3, "average() covers pooling kernels 1 to 3");
const int32_t SCNN_AVG_BIAS = 128;

inline int8_t average(int32_t sum, uint32_t kernel) {
    switch (kernel) {
    case 1: return (int8_t)sum;
    case 2: {
        const uint32_t u = (uint32_t)(sum + 4 * SCNN_AVG_BIAS);
        return (int8_t)((int32_t)((u + 1u + ((u >> 2) & 1u)) >> 2) - SCNN_AVG_BIAS);
    }
    default: return (int8_t)((int32_t)(((uint32_t)(2 * sum + 9 + 18 * SCNN_AVG_BIAS) * 3641u) >> 16) - SCNN_AVG_BIAS);
    }
}

#endif
