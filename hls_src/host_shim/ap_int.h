/*
 * Host-only stand-in for Vitis HLS's ap_uint<W>, used when the accelerator is compiled by g++
 * for the simulator, the testbench and the fuzz harness (never by Vitis HLS, which brings its
 * own header).
 *
 * Only what the accelerator uses: unsigned W-bit values (1 <= W <= 64) that wrap modulo 2^W on
 * every assignment, increment and compound addition, exactly as the hardware register does, and
 * convert to unsigned long long for arithmetic and comparison.  The kernel relies on the wrap
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

#endif
