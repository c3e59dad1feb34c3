/*
 * Host-only stand-in for Vitis HLS's hls::stream, used when the accelerator is
 * compiled by g++ for the simulator and the testbench (never by Vitis HLS,
 * which brings its own header).  It is a plain FIFO; reading an empty stream
 * is recorded instead of blocking, because on the board that read would hang
 * the AXI DMA, and the simulator must report it.
 */
#ifndef STREAMCNN_HOST_HLS_STREAM_H
#define STREAMCNN_HOST_HLS_STREAM_H

#ifdef __SYNTHESIS__
#error "host_shim/hls_stream.h must not be used for synthesis"
#endif

#include <cstddef>
#include <deque>

/* Loop labels name the accelerator's loops in Vitis HLS reports; g++ sees them
 * as unused.  (#pragma HLS lines need -Wno-unknown-pragmas on the command line:
 * GCC before 13 ignores that warning's diagnostic pragma, GCC bug 53431.) */
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hls {

namespace shim {
/* Thrown by a read of an empty stream set to block_when_empty(): the read that
 * would wait forever on hardware, for the simulator's stuck-accelerator model. */
struct blocked {};

/* Internal FIFO faults on this thread since the last reset. */
inline unsigned long& internal_faults() {
    static thread_local unsigned long faults = 0;
    return faults;
}
}  // namespace shim

/* DEPTH is the hardware FIFO's depth; the host model does not bound it. */
template <typename T, int DEPTH = 2>
class stream {
public:
    stream() : underflows_(0), internal_(false), block_(false) {}
    explicit stream(const char*) : underflows_(0), internal_(true), block_(false) {}
    ~stream() {
        if (internal_ && !q_.empty()) ++shim::internal_faults();
    }
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    bool empty() const { return q_.empty(); }
    std::size_t size() const { return q_.size(); }

    void write(const T& v) { q_.push_back(v); }
    stream& operator<<(const T& v) { write(v); return *this; }

    T read() {
        if (q_.empty()) {
            if (block_) throw shim::blocked();
            ++underflows_;
            if (internal_) ++shim::internal_faults();
            return T();
        }
        T v = q_.front();
        q_.pop_front();
        return v;
    }
    void read(T& v) { v = read(); }
    stream& operator>>(T& v) { v = read(); return *this; }

    /* Reads attempted on an empty stream: each one is a hang on hardware. */
    std::size_t underflows() const { return underflows_; }
    /* From now on a read of the empty stream blocks (throws shim::blocked). */
    void block_when_empty() { block_ = true; }

private:
    std::deque<T> q_;
    std::size_t underflows_;
    bool internal_;
    bool block_;
};

}  // namespace hls

#endif
