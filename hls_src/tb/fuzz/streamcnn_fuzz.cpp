/*
 * Fuzz harness of the streamcnn accelerator (host-only C++, like the testbench).
 *
 * Every input is a program: its bytes, as 64-bit little-endian words, go to
 * streamcnn_top exactly as AXI DMA MM2S would send them (TLAST on the last
 * word).  After the call, check_transfer() holds the answer to what the board
 * needs from the IP, whatever it was sent:
 *
 *   - it consumed every word up to TLAST and never read past it (on the board
 *     either mistake hangs the DMA);
 *   - no internal FIFO was read empty or left holding words;
 *   - the response is records then one status trailer, every beat with TKEEP
 *     and TSTRB all ones and TLAST on the last beat only, and no longer than
 *     the receive buffer the header declared (or a bare trailer without one):
 *     a bounded number of beats, so S2MM always completes;
 *   - the trailer agrees with the AXI-Lite registers, counts the records it
 *     follows and every word sent, and OK comes with no failing packet.
 *
 * A violation aborts, so libFuzzer (or fuzz_main.cpp's replay) reports it as
 * a crash; AddressSanitizer and UndefinedBehaviorSanitizer catch the rest.
 *
 * Mutations: random bytes would almost never get past the packet CRCs, so the
 * custom mutator follows each byte-level or packet-level mutation by resealing
 * the program most of the time: the header's length and every complete
 * packet's CRC recomputed, so the field checks, the sequencing and the layer
 * engines behind them are reached.  Unsealed mutants keep the CRC path tested.
 */
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../../streamcnn.h"
#include "streamcnn_fuzz.h"

namespace {

const uint32_t MIN_RESPONSE_WORDS = SCNN_TRAILER_HEAD_WORDS + SCNN_COUNTER_WORDS * SCNN_CFG_MAX_LAYERS;
const uint32_t HW_VERSION = (SCNN_HW_VERSION_MAJOR << 16) | (SCNN_HW_VERSION_MINOR << 8) | SCNN_HW_VERSION_PATCH;
const uint32_t STATUS_CODES = SCNN_ERR_LENGTH + 1;
/* Programs longer than this are cut: the accelerator bounds nothing on the
 * number of words (the DMA's length register does), and long inputs only slow
 * the fuzzer down. */
const size_t MAX_FUZZ_WORDS = 1 << 17;
/* Response words the harness keeps to parse; a program may declare up to 2^32. */
const uint64_t MAX_RESPONSE_WORDS = 1 << 20;

uint32_t field(uint64_t w, unsigned shift, unsigned bits) {
    return (uint32_t)((w >> shift) & ((bits >= 32) ? 0xFFFFFFFFull : ((1ull << bits) - 1)));
}

/* CRC-32 (IEEE 802.3, as zlib), from a table built here: independent of the
 * accelerator's slice-by-8 tables. */
struct Crc32 {
    uint32_t table[256];
    Crc32() {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
            table[i] = c;
        }
    }
    uint32_t update(uint32_t crc, const uint8_t* p, size_t n) const {
        for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
        return crc;
    }
};

uint32_t crc32_bytes(uint32_t crc, const uint8_t* p, size_t n) {
    static const Crc32 crc32;
    return crc32.update(crc, p, n);
}

/* The receive buffer a program declares (at least room for a bare trailer). */
uint64_t declared_capacity(const std::vector<uint64_t>& in) {
    uint64_t cap = MIN_RESPONSE_WORDS;
    if (in.size() >= SCNN_HDR_WORDS) {
        const uint32_t declared = field(in[1], SCNN_HDR_RESPCAP_SHIFT, SCNN_HDR_RESPCAP_BITS);
        if (declared > cap) cap = declared;
    }
    return cap;
}

}  // namespace

const char* scnn_fuzz_check(const Transfer& t) {
    const scnn_sim_result& r = t.res;
    const size_t n = t.in.size();
    if (r.stalled) return "the accelerator waited for input that never came";
    if (r.in_underflows) return "the accelerator read past TLAST";
    if (r.in_consumed != n) return "the accelerator did not consume every word up to TLAST";
    if (r.internal_faults) return "an internal FIFO was read empty or left holding words";
    const size_t m = r.out_beats;
    if (m < SCNN_TRAILER_HEAD_WORDS) return "the response is shorter than a status trailer";
    if (r.keep_errors) return "a response beat has TKEEP or TSTRB not all ones";
    if (r.first_tlast != m - 1) return "TLAST is not on the response's last beat alone";
    if (m > declared_capacity(t.in)) return "the response is longer than the receive buffer the program declared";
    /* A legal answer longer than the harness keeps (MAX_RESPONSE_WORDS): all but its records checked. */
    if (t.out.size() != m) return nullptr;

    /* Records, by their lengths, then the trailer. */
    size_t pos = 0;
    uint32_t records = 0;
    while (pos < m && field(t.out[pos], SCNN_REC_MAGIC_SHIFT, SCNN_REC_MAGIC_BITS) == SCNN_RECORD_MAGIC) {
        const uint32_t kind = field(t.out[pos], SCNN_REC_KIND_SHIFT, SCNN_REC_KIND_BITS);
        const uint64_t length = field(t.out[pos], SCNN_REC_LENGTH_SHIFT, SCNN_REC_LENGTH_BITS);
        if (kind != SCNN_REC_CAPS && kind != SCNN_REC_TENSOR) return "a record of an unknown kind";
        if (kind == SCNN_REC_CAPS && length != SCNN_CAP_COUNT) return "a capabilities record of the wrong length";
        if (kind == SCNN_REC_TENSOR && length < SCNN_TENSOR_HEAD_WORDS) return "a tensor record without its head";
        pos += 1 + length;
        records++;
    }
    if (pos + SCNN_TRAILER_HEAD_WORDS > m) return "the records run into the end of the response";
    const uint64_t w0 = t.out[pos], w1 = t.out[pos + 1], w2 = t.out[pos + 2];
    if (field(w0, 0, 32) != SCNN_STATUS_MAGIC) return "no status trailer after the records";
    const uint32_t status = field(w0, SCNN_ST_STATUS_SHIFT, 16);
    const uint32_t layers = field(w0, SCNN_ST_LAYERS_SHIFT, 16);
    const uint32_t packet = field(w1, 0, 32);
    if (status >= STATUS_CODES) return "an undefined status code";
    if (layers > SCNN_CFG_MAX_LAYERS) return "more layers than the maximum";
    if (pos + SCNN_TRAILER_HEAD_WORDS + SCNN_COUNTER_WORDS * layers != m) return "the trailer's length is wrong";
    if (field(w2, SCNN_ST_RECORDS_SHIFT, 32) != records) return "the trailer miscounts the records";
    if (field(w2, 0, 32) != n) return "the trailer's word count is not the words sent";
    if (status == SCNN_OK && packet != SCNN_NO_PACKET) return "status OK with a failing packet";
    if (status != SCNN_OK && packet == SCNN_NO_PACKET && records) return "a header error after records";
    if (r.status_reg != (status | (layers << 16))) return "the status register disagrees with the trailer";
    if (r.packet_reg != packet) return "the packet register disagrees with the trailer";
    if (r.words_reg != n) return "the words register is not the words sent";
    if (r.hw_version_reg != HW_VERSION) return "the hw_version register is wrong";
    return nullptr;
}

Transfer scnn_fuzz_run(const uint64_t* words, size_t n) {
    Transfer t;
    t.in.assign(words, words + n);
    /* The declared buffer, up to a bound: the bridge counts every beat, kept or not. */
    const uint64_t room = declared_capacity(t.in) < MAX_RESPONSE_WORDS ? declared_capacity(t.in) : MAX_RESPONSE_WORDS;
    t.out.resize(room);
    scnn_sim_transfer(words, n, t.out.data(), room, ~0ull, &t.res);
    t.out.resize(t.res.out_copied);
    return t;
}

size_t scnn_fuzz_reseal(uint8_t* data, size_t size, uint32_t total) {
    const size_t n = size / 8;
    if (n < SCNN_HDR_WORDS) return 0;
    std::vector<uint64_t> w(n);
    std::memcpy(w.data(), data, n * 8);
    w[1] = (w[1] & ~0xFFFFFFFFull) | (uint64_t)(total ? total : n);
    size_t pos = SCNN_HDR_WORDS, sealed = 0;
    while (pos < n) {
        const uint64_t head = w[pos];
        const size_t length = field(head, SCNN_PKT_LENGTH_SHIFT, SCNN_PKT_LENGTH_BITS);
        if (pos + 1 + length > n) break; /* a truncated packet stays as it is */
        uint8_t low[4];
        for (int b = 0; b < 4; b++) low[b] = (uint8_t)(head >> (8 * b));
        uint32_t crc = crc32_bytes(0xFFFFFFFFu, low, 4);
        crc = crc32_bytes(crc, reinterpret_cast<const uint8_t*>(&w[pos + 1]), 8 * length) ^ 0xFFFFFFFFu;
        w[pos] = (head & 0xFFFFFFFFull) | ((uint64_t)crc << SCNN_PKT_CRC_SHIFT);
        pos += 1 + length;
        sealed++;
    }
    std::memcpy(data, w.data(), n * 8);
    return sealed;
}

/* Packet boundaries (word offsets of complete packets' headers) of a program. */
static std::vector<size_t> packet_starts(const uint64_t* w, size_t n) {
    std::vector<size_t> starts;
    size_t pos = SCNN_HDR_WORDS;
    while (pos < n) {
        const size_t length = field(w[pos], SCNN_PKT_LENGTH_SHIFT, SCNN_PKT_LENGTH_BITS);
        if (pos + 1 + length > n) break;
        starts.push_back(pos);
        pos += 1 + length;
    }
    return starts;
}

/* INPUT and TILE payloads grown (zeros) or cut to the length their fields and
 * the layer before them imply, so that a mutated dimension reaches the checks
 * and engines behind the length check instead of stopping at it.  A rough
 * model of decode's shape tracking is enough: a wrong guess only costs depth. */
static void fix_lengths(std::vector<uint64_t>& w, size_t max_words) {
    if (w.size() < SCNN_HDR_WORDS) return;
    uint64_t c = 0, h = 0, wd = 0;                   /* current activations */
    uint64_t in_groups = 0, kernel = 0;              /* the pending layer's, per output group */
    size_t pos = SCNN_HDR_WORDS;
    while (pos < w.size()) {
        const uint64_t head = w[pos];
        const uint32_t op = field(head, SCNN_PKT_OPCODE_SHIFT, SCNN_PKT_OPCODE_BITS);
        const size_t len = field(head, SCNN_PKT_LENGTH_SHIFT, SCNN_PKT_LENGTH_BITS);
        if (pos + 1 + len > w.size()) return;
        const uint64_t f0 = len >= 1 ? w[pos + 1] : 0, f1 = len >= 2 ? w[pos + 2] : 0;
        uint64_t want = len;
        if (op == SCNN_OP_INPUT && len >= 1) {
            c = field(f0, SCNN_IN_C_SHIFT, 16), h = field(f0, SCNN_IN_H_SHIFT, 16), wd = field(f0, SCNN_IN_W_SHIFT, 16);
            want = 1 + field(f0, SCNN_IN_B_SHIFT, 16) * ((c + 7) / 8) * h * wd;
        } else if (op == SCNN_OP_CONV && len == 2) {
            const uint64_t kh = field(f1, SCNN_L1_KH_SHIFT, 4), kw = field(f1, SCNN_L1_KW_SHIFT, 4);
            const uint64_t sh = field(f1, SCNN_L1_SH_SHIFT, 4), sw = field(f1, SCNN_L1_SW_SHIFT, 4);
            const uint64_t ph = field(f1, SCNN_L1_PH_SHIFT, 4), pw = field(f1, SCNN_L1_PW_SHIFT, 4);
            in_groups = (c + 7) / 8, kernel = kh * kw;
            c = field(f0, SCNN_CONV_OUTC_SHIFT, 16);
            h = (sh && h + 2 * ph >= kh) ? (h + 2 * ph - kh) / sh + 1 : 0;
            wd = (sw && wd + 2 * pw >= kw) ? (wd + 2 * pw - kw) / sw + 1 : 0;
        } else if (op == SCNN_OP_FC && len == 2) {
            in_groups = (field(f0, SCNN_FC_IN_SHIFT, 32) + 7) / 8, kernel = 1;
            c = field(f0, SCNN_FC_OUT_SHIFT, 16), h = wd = 1;
        } else if (op == SCNN_OP_TILE && len >= 1) {
            const uint64_t count = field(f0, SCNN_TILE_COUNT_SHIFT, 16);
            want = 1 + 8 * count + 8 * count * in_groups * kernel;
        } else if (op == SCNN_OP_POOL && len == 1) {
            const uint64_t k = field(f0, SCNN_POOL_KERNEL_SHIFT, 4), st = field(f0, SCNN_POOL_STRIDE_SHIFT, 4);
            h = (st && h >= k) ? (h - k) / st + 1 : 0;
            wd = (st && wd >= k) ? (wd - k) / st + 1 : 0;
        } else if (op == SCNN_OP_FLATTEN && len == 1) {
            c = c * h * wd, h = wd = 1;
        }
        if (want != len && w.size() - len + want <= max_words) {
            if (want > len)
                w.insert(w.begin() + pos + 1 + len, want - len, 0);
            else
                w.erase(w.begin() + pos + 1 + want, w.begin() + pos + 1 + len);
            w[pos] = (head & ~(0xFFFFFFull << SCNN_PKT_LENGTH_SHIFT)) | (want << SCNN_PKT_LENGTH_SHIFT);
        } else {
            want = len;
        }
        pos += 1 + want;
    }
}

size_t scnn_fuzz_mutate(uint8_t* data, size_t size, size_t max_size, unsigned seed,
                        size_t (*byte_mutate)(uint8_t*, size_t, size_t)) {
    /* xorshift: libFuzzer hands us the seed and expects determinism from it. */
    uint32_t s = seed ? seed : 0x9E3779B9u;
    auto next = [&s]() { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; };
    const size_t n = size / 8;
    std::vector<uint64_t> w(n + 1); /* + 1: never a null data() for memcpy */
    std::memcpy(w.data(), data, n * 8);
    w.pop_back();
    const std::vector<size_t> starts = packet_starts(w.data(), n);
    const unsigned op = next() % 8;
    if (op < 4 || starts.empty()) {
        size = byte_mutate(data, size, max_size);
    } else {
        const size_t k = starts[next() % starts.size()];
        const size_t len = 1 + field(w[k], SCNN_PKT_LENGTH_SHIFT, SCNN_PKT_LENGTH_BITS);
        std::vector<uint64_t> out(w.begin(), w.begin() + k);
        if (op == 4) {                                   /* drop a packet */
            out.insert(out.end(), w.begin() + k + len, w.end());
        } else if (op == 5) {                            /* repeat a packet */
            out.insert(out.end(), w.begin() + k, w.begin() + k + len);
            out.insert(out.end(), w.begin() + k, w.end());
        } else {                                         /* poke a payload field */
            out.insert(out.end(), w.begin() + k, w.end());
            /* Mostly a field word (the first one or two of the payload), at a field
             * boundary (every field starts on a multiple of 4 bits), to a value
             * beside one of the device's limits. */
            const size_t fields = len > 2 ? 2 : len - 1;
            const size_t at = k + (len == 1 ? 0 : (next() % 4 || len == 2) ? 1 + next() % fields : 1 + next() % (len - 1));
            static const unsigned widths[] = {1, 4, 7, 8, 16, 24, 32};
            const unsigned shift = (next() % 4) ? 4 * (next() % 16) : next() % 64;
            const unsigned bits = widths[next() % 7];
            const uint64_t mask = (bits >= 64 - shift ? ~0ull : ((1ull << bits) - 1)) << shift;
            static const uint64_t values[] = {0,   1,   2,   3,   4,    7,    8,    9,    15,   16,   31,
                                              32,  33,  64,  127, 128,  129,  255,  256,  257,  511,  512,
                                              513, 576, 577, 1023, 1024, 4095, 4096, 4097, 8191, 8192, 8193,
                                              0xFFFF, 0xFFFFFF, 0xFFFFFFFF};
            uint64_t v = (op == 6) ? values[next() % (sizeof values / sizeof values[0])] : (uint64_t)next();
            if (op == 7 && (next() & 1)) v = (field(out[at], shift, bits) + ((next() & 1) ? 1 : -1));
            out[at] = (out[at] & ~mask) | ((v << shift) & mask);
            if (next() & 1) fix_lengths(out, max_size / 8);
        }
        if (out.size() * 8 > max_size) out.resize(max_size / 8);
        if (!out.empty()) std::memcpy(data, out.data(), out.size() * 8);
        size = out.size() * 8;
    }
    /* Mostly sealed, to reach past the CRCs; sometimes sealed but cut short of the
     * length the header declares (decode pads what is missing with zeros); now
     * and then left as it is, for the CRC and header checks. */
    const unsigned seal = next() % 8;
    if (seal < 5)
        scnn_fuzz_reseal(data, size, 0);
    else if (seal < 7)
        scnn_fuzz_reseal(data, size, (uint32_t)(size / 8 + 1 + next() % 20000));
    return size;
}

size_t scnn_fuzz_words(size_t size) {
    size_t n = size / 8;
    return n > MAX_FUZZ_WORDS ? MAX_FUZZ_WORDS : n;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const size_t n = scnn_fuzz_words(size);
    if (n == 0) return 0; /* the DMA refuses an empty transfer */
    std::vector<uint64_t> words(n);
    std::memcpy(words.data(), data, n * 8);
    const Transfer t = scnn_fuzz_run(words.data(), n);
    if (const char* violation = scnn_fuzz_check(t)) {
        std::fprintf(stderr, "streamcnn fuzz: %s (%zu words in, %llu out, status register %#x)\n", violation, n,
                     (unsigned long long)t.res.out_beats, t.res.status_reg);
        std::abort();
    }
    return 0;
}

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    return scnn_fuzz_mutate(data, size, max_size, seed, LLVMFuzzerMutate);
}
