/*
 * Testbench of the streamcnn accelerator (host-only C++: file I/O, containers).
 *
 * For every NAME.in.bin in the vector directory, streams its 64-bit words into
 * streamcnn_top (TLAST on the last), and checks that the accelerator
 *   - consumed every input word and never read past TLAST,
 *   - answered exactly NAME.out.bin, TKEEP/TSTRB all ones, TLAST on the last word only.
 * The vectors come from make_vectors.py, which checks every result in them
 * against the NumPy golden model first.  Used by g++ builds here and by
 * Vitis HLS C simulation and co-simulation (overlay/hls.tcl).
 *
 * Usage: streamcnn_tb [VECTOR_DIR]   (default: tb/vectors); exit 0 when all pass.
 */
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>

#include "../streamcnn.h"
#include "../streamcnn_arith.h"
#include "../streamcnn_weights.h"

static bool read_words(const std::string& path, std::vector<uint64_t>& words) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    uint64_t w;
    words.clear();
    while (std::fread(&w, sizeof w, 1, f) == 1) words.push_back(w);
    std::fclose(f);
    return true;
}

static bool run_vector(const std::string& dir, const std::string& name) {
    std::vector<uint64_t> in, expected;
    if (!read_words(dir + "/" + name + ".in.bin", in) || !read_words(dir + "/" + name + ".out.bin", expected)) {
        std::printf("FAIL %s: cannot read its vector files\n", name.c_str());
        return false;
    }
    scnn_stream_t in_stream, out_stream;
    for (size_t i = 0; i < in.size(); i++) {
        scnn_beat_t beat;
        beat.data = in[i];
        beat.keep = 0xFF;
        beat.strb = 0xFF;
        beat.last = (i + 1 == in.size());
        in_stream.write(beat);
    }
    uint32_t status = 0, packet = 0, words = 0, version = 0;
    streamcnn_top(in_stream, out_stream, status, packet, words, version);

    bool ok = true;
    if (!in_stream.empty()) {
        std::printf("FAIL %s: %zu input words left unread (the DMA would hang)\n", name.c_str(), in_stream.size());
        ok = false;
    }
    if (words != in.size()) {
        std::printf("FAIL %s: words register %u, sent %zu\n", name.c_str(), words, in.size());
        ok = false;
    }
    std::vector<uint64_t> got;
    bool tlast_ok = true, keep_ok = true;
    while (!out_stream.empty()) {
        scnn_beat_t beat = out_stream.read();
        got.push_back((uint64_t)beat.data);
        if ((beat.last != 0) != out_stream.empty()) tlast_ok = false;
        if (beat.keep != 0xFF || beat.strb != 0xFF) keep_ok = false;
    }
    if (!tlast_ok || !keep_ok) {
        std::printf("FAIL %s: TLAST must be on the last word only and TKEEP all ones\n", name.c_str());
        ok = false;
    }
    if (got != expected) {
        size_t i = 0;
        while (i < got.size() && i < expected.size() && got[i] == expected[i]) i++;
        std::printf("FAIL %s: response differs at word %zu (%zu words, expected %zu)\n", name.c_str(), i,
                    got.size(), expected.size());
        ok = false;
    }
    std::printf("%s %s: %zu words in, %zu out, status %u\n", ok ? "PASS" : "FAIL", name.c_str(), in.size(),
                got.size(), status & 0xFFFF);
    return ok;
}

/* floor(a / b) for b > 0: the plain division the accelerator's shifts and multiplies stand for. */
static int32_t floor_div(int32_t a, int32_t b) {
    const int32_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* sum / n rounded half to even (n > 0), by plain division. */
static int32_t mean_half_even(int32_t sum, int32_t n) {
    const int32_t q = floor_div(2 * sum + n, 2 * n); /* half up */
    const bool tie = (2 * sum + n) % (2 * n) == 0;
    return (tie && (q & 1)) ? q - 1 : q;
}

/* Every value streamcnn_arith.h's constant divisions can be given, against plain division. */
static bool check_arithmetic() {
    unsigned bad = 0, checked = 0;
    for (uint32_t stride = 1; stride <= 3; stride++)
        for (uint32_t n = 0; n < SCNN_DIV_STRIDE_LIMIT; n++, checked++)
            bad += div_by_stride(n, stride) != n / stride;
    for (uint32_t k = 1; k <= SCNN_CFG_MAX_POOL_KERNEL; k++) {
        const int32_t n = (int32_t)(k * k);
        for (int32_t sum = -128 * n; sum <= 127 * n; sum++, checked++)
            bad += average(sum, k) != mean_half_even(sum, n);
    }
    std::printf("%s: constant divisions, %u values, %u wrong\n", bad ? "FAIL" : "ok", checked, bad);
    return bad == 0;
}

/* The packed multiply, for every int8 weight and every pair of int8 activations (2^24 cases:
 * both signs in both halves, -128 x -128 among them). */
static bool check_packed_multiply() {
    unsigned bad = 0, checked = 0;
    for (int w = -128; w < 128; w++)
        for (int x0 = -128; x0 < 128; x0++)
            for (int x1 = -128; x1 < 128; x1++, checked++) {
                int32_t p0, p1;
                mul_pair((int8_t)w, (int8_t)x0, (int8_t)x1, p0, p1);
                bad += (p0 != w * x0) + (p1 != w * x1);
            }
    for (int w = -128; w < 128; w++)
        for (int x = -128; x < 128; x++) bad += mul_one((int8_t)w, (int8_t)x) != w * x;
    std::printf("%s: packed multiply, %u weight x activation pairs, %u wrong products\n", bad ? "FAIL" : "ok",
                checked, bad);
    return bad == 0;
}

/* The weight stream's decoding primitives (streamcnn_weights.h): widening every 2-bit field
 * pattern of a row (2^16), 2^20 rows of 4-bit fields and of bytes, against sign extension one
 * field at a time; the map word's popcount and lowest set bit on every single bit and 2^20
 * words. */
static bool check_weight_stream() {
    unsigned bad = 0, checked = 0;
    uint64_t state = 0x9E3779B97F4A7C15ull;
    auto next = [&state]() { /* splitmix64 */
        uint64_t z = (state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    };
    for (uint32_t code = SCNN_WBITS_8; code <= SCNN_WBITS_2; code++) {
        const uint32_t n = width_of(code);
        const uint32_t cases = code == SCNN_WBITS_2 ? (1u << 16) : (1u << 20);
        for (uint32_t c = 0; c < cases; c++, checked++) {
            const uint64_t x = code == SCNN_WBITS_2 ? c : next();
            const uint64_t got = widen(x, code);
            for (uint32_t l = 0; l < 8; l++) {
                const int64_t field = (int64_t)((x >> (n * l)) & ((1ull << n) - 1));
                const int64_t value = field >= (1 << (n - 1)) ? field - (1 << n) : field;
                bad += (int8_t)(got >> (8 * l)) != value;
            }
        }
    }
    for (uint32_t c = 0; c < (1u << 20) + 64; c++, checked++) {
        const uint64_t w = c < 64 ? (1ull << c) : next() & next(); /* single bits, then sparse words */
        uint32_t count = 0, low = 0;
        for (int b = 63; b >= 0; b--)
            if ((w >> b) & 1) {
                count++;
                low = (uint32_t)b;
            }
        bad += (popcount64(w) != count) + (lowest_set(w) != low);
    }
    std::printf("%s: weight stream decoding, %u values, %u wrong\n", bad ? "FAIL" : "ok", checked, bad);
    return bad == 0;
}

int main(int argc, char** argv) {
    if (!check_arithmetic() || !check_packed_multiply() || !check_weight_stream()) return 1;
    const std::string dir = argc > 1 ? argv[1] : "tb/vectors";
    DIR* d = opendir(dir.c_str());
    if (!d) {
        std::printf("FAIL: no vector directory %s (run tb/make_vectors.py)\n", dir.c_str());
        return 1;
    }
    std::vector<std::string> names;
    for (dirent* e = readdir(d); e; e = readdir(d)) {
        const std::string f = e->d_name;
        const std::string suffix = ".in.bin";
        if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
            names.push_back(f.substr(0, f.size() - suffix.size()));
    }
    closedir(d);
    if (names.empty()) {
        std::printf("FAIL: no vectors in %s\n", dir.c_str());
        return 1;
    }
    int failed = 0;
    for (const std::string& n : names) failed += run_vector(dir, n) ? 0 : 1;
    std::printf("%zu passed, %d failed\n", names.size() - failed, failed);
    return failed ? 1 : 0;
}
