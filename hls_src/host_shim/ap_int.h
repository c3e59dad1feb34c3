/*
 * Host-only stand-in for Vitis HLS's ap_uint<W> and ap_int<W>, used when the accelerator is
 * compiled by g++ for the simulator, the testbench and the fuzz harness (never by Vitis HLS,
 * which brings its own header).
 *
 * Only what the accelerator uses: unsigned W-bit values (1 <= W <= 64) that wrap modulo 2^W on
 * every assignment, increment, decrement and compound addition, exactly as the hardware register does, and
 * convert to unsigned long long for arithmetic and comparison; and signed W-bit values that
 * keep the low W bits of what is assigned, sign-extended, and convert to long long (the MAC
 * array's multiplier operands: a product of two of them is formed in long long, which holds
 * it exactly for the widths the kernel uses, as ap_int's W1 + W2-bit product type does).  The kernel relies on the wrap
 * (a coordinate of -1 is 2^W - 1, which an unsigned bounds check rejects), so the stand-in must
 * wrap too; it does not model ap_uint's widened intermediate types, and the kernel never
 * depends on them: every value it computes is assigned to a variable of its width before use.
 */
#ifndef STREAMCNN_HOST_AP_INT_H
#define STREAMCNN_HOST_AP_INT_H

#ifdef __SYNTHESIS__
#error "host_shim/ap_int.h must not be used for synthesis"
#endif

template <int W>
class ap_uint {
    static_assert(W >= 1 && W <= 64, "the host stand-in holds 1 to 64 bits");

public:
    static const int width = W;

    ap_uint() : v_(0) {}
    ap_uint(unsigned long long v) : v_(v & mask()) {}
    ap_uint(long long v) : v_((unsigned long long)v & mask()) {}
    ap_uint(unsigned long v) : v_((unsigned long long)v & mask()) {}
    ap_uint(long v) : v_((unsigned long long)v & mask()) {}
    ap_uint(unsigned v) : v_((unsigned long long)v & mask()) {}
    ap_uint(int v) : v_((unsigned long long)v & mask()) {}
    ap_uint(bool v) : v_(v ? 1 : 0) {}
    template <int V>
    ap_uint(const ap_uint<V>& o) : v_((unsigned long long)o & mask()) {}

    operator unsigned long long() const { return v_; }

    ap_uint& operator++() {
        v_ = (v_ + 1) & mask();
        return *this;
    }
    ap_uint operator++(int) {
        ap_uint old = *this;
        ++*this;
        return old;
    }
    ap_uint& operator--() {
        v_ = (v_ - 1) & mask();
        return *this;
    }
    ap_uint& operator+=(unsigned long long d) {
        v_ = (v_ + d) & mask();
        return *this;
    }
    ap_uint& operator-=(unsigned long long d) {
        v_ = (v_ - d) & mask();
        return *this;
    }

private:
    static unsigned long long mask() { return W == 64 ? ~0ull : ((1ull << (W % 64)) - 1); }
    unsigned long long v_;
};

template <int W>
class ap_int {
    static_assert(W >= 2 && W <= 64, "the host stand-in holds 2 to 64 bits");

public:
    static const int width = W;

    ap_int() : v_(0) {}
    ap_int(long long v) : v_(wrap(v)) {}
    ap_int(int v) : v_(wrap(v)) {}
    template <int V>
    ap_int(const ap_int<V>& o) : v_(wrap((long long)o)) {}

    operator long long() const { return v_; }

private:
    static long long wrap(long long v) {
        const int unused = 64 - W;
        return unused == 0 ? v : (long long)((unsigned long long)v << (unused % 64)) >> (unused % 64);
    }
    long long v_;
};

#endif
