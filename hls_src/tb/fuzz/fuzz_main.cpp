/*
 * A main() for the fuzz harness where libFuzzer is not linked in (g++ builds,
 * and the corpus replay in the test suite).  Host-only.
 *
 *   fuzz_main FILE|DIR...                       replay every input once
 *   fuzz_main --fuzz SECONDS [--runs N] [--seed N] DIR...
 *                                               mutate the inputs at random (no
 *                                               coverage guidance) for a while, or N runs
 *   fuzz_main --self-test                       show that the checks catch each
 *                                               broken rule
 *
 * Exit status 0 when every input was answered as the board needs; 1 on the
 * first violation (the input is written to crash-*.bin with --fuzz).
 */
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <sanitizer/common_interface_defs.h>
#include <sys/stat.h>

#include "../../streamcnn.h"
#include "streamcnn_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::string current = "(none)";

void on_death() { std::fprintf(stderr, "streamcnn fuzz: the failing input is %s\n", current.c_str()); }

bool read_file(const std::string& path, std::vector<uint8_t>& bytes) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    bytes.clear();
    uint8_t buf[65536];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + got);
    std::fclose(f);
    return true;
}

/* The files named, and the files in the directories named (not recursive). */
std::vector<std::string> inputs(const std::vector<std::string>& args) {
    std::vector<std::string> files;
    for (const std::string& a : args) {
        struct stat st;
        if (stat(a.c_str(), &st) != 0) {
            std::fprintf(stderr, "no such file or directory: %s\n", a.c_str());
            std::exit(2);
        }
        if (!S_ISDIR(st.st_mode)) {
            files.push_back(a);
            continue;
        }
        DIR* d = opendir(a.c_str());
        std::vector<std::string> names;
        while (struct dirent* e = readdir(d))
            if (e->d_name[0] != '.') names.push_back(a + "/" + e->d_name);
        closedir(d);
        std::sort(names.begin(), names.end());
        files.insert(files.end(), names.begin(), names.end());
    }
    return files;
}

uint32_t rng_state = 1;
uint32_t next_random() {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Byte-level mutations in the manner of libFuzzer's, without its guidance. */
size_t byte_mutate(uint8_t* data, size_t size, size_t max_size) {
    static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x10, 0x7F, 0x80, 0xFF};
    if (size == 0) return 0;
    const size_t at = next_random() % size;
    switch (next_random() % 6) {
    case 0: data[at] ^= (uint8_t)(1u << (next_random() % 8)); break;
    case 1: data[at] = (uint8_t)next_random(); break;
    case 2: data[at] = interesting[next_random() % sizeof interesting]; break;
    case 3: /* drop a word (or the partial word at the end) */
        if (size >= 16) {
            const size_t w = (at / 8) * 8;
            const size_t n = size - w < 8 ? size - w : 8;
            std::memmove(data + w, data + w + n, size - w - n);
            size -= n;
        }
        break;
    case 4: /* insert a random word */
        if (size + 8 <= max_size) {
            const size_t w = (at / 8) * 8;
            std::memmove(data + w + 8, data + w, size - w);
            for (int b = 0; b < 8; b++) data[w + b] = (uint8_t)next_random();
            size += 8;
        }
        break;
    default: /* cut the program short */
        size = at + 1;
        break;
    }
    return size;
}

}  // namespace

/* libFuzzer's byte mutator, which the custom mutator calls, stands in here. */
extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size) {
    return byte_mutate(data, size, max_size);
}

namespace {

int replay(const std::vector<std::string>& args) {
    size_t count = 0, words = 0;
    for (const std::string& path : inputs(args)) {
        std::vector<uint8_t> bytes;
        if (!read_file(path, bytes)) {
            std::fprintf(stderr, "cannot read %s\n", path.c_str());
            return 2;
        }
        current = path;
        LLVMFuzzerTestOneInput(bytes.data(), bytes.size()); /* aborts on a violation */
        count++;
        words += scnn_fuzz_words(bytes.size());
    }
    std::printf("replayed %zu inputs (%zu words): 0 violations\n", count, words);
    return 0;
}

int fuzz(double seconds, size_t runs, uint32_t seed, const std::vector<std::string>& args) {
    std::vector<std::vector<uint8_t>> corpus;
    const std::vector<std::string> names = inputs(args);
    for (const std::string& path : names) {
        corpus.emplace_back();
        if (!read_file(path, corpus.back())) return 2;
    }
    if (corpus.empty()) {
        std::fprintf(stderr, "--fuzz needs at least one seed input\n");
        return 2;
    }
    rng_state = seed ? seed : 1;
    const auto start = std::chrono::steady_clock::now();
    size_t executions = 0;
    std::vector<uint8_t> data;
    while (executions < runs &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds) {
        const size_t pick = next_random() % corpus.size();
        data = corpus[pick];
        const size_t max_size = data.size() + 4096;
        data.resize(max_size);
        size_t size = max_size - 4096;
        /* A death in the mutator is the harness's own bug: name the input it was mutating. */
        current = "a mutation of " + names[pick] + " (--seed " + std::to_string(seed) + ", run " +
                  std::to_string(executions) + ")";
        for (unsigned k = 1 + next_random() % 4; k > 0; k--)
            size = scnn_fuzz_mutate(data.data(), size, max_size, next_random(), byte_mutate);
        data.resize(size);
        char name[64];
        std::snprintf(name, sizeof name, "crash-%u-%zu.bin", seed, executions);
        FILE* f = std::fopen(name, "wb"); /* kept only if the run dies */
        if (f) {
            std::fwrite(data.data(), 1, data.size(), f);
            std::fclose(f);
        }
        current = name;
        LLVMFuzzerTestOneInput(data.data(), data.size());
        std::remove(name);
        if (++executions % 1000 == 0) {
            std::printf("#%zu executions\n", executions); /* how far a run got, should it die */
            std::fflush(stdout);
        }
    }
    std::printf("stat::number_of_executed_units: %zu\nstat::corpus_size: %zu\n", executions, corpus.size());
    return 0;
}

/* The mutators on inputs of every size up to a few words, none a multiple of 8 among
 * them: under AddressSanitizer any access beside the buffer ends the run.  Returns the
 * mutations made. */
size_t mutator_self_test() {
    size_t made = 0;
    rng_state = 7;
    for (size_t size = 0; size <= 72; size++) {
        for (int k = 0; k < 400; k++) {
            std::vector<uint8_t> data(size + 16);
            for (uint8_t& b : data) b = (uint8_t)next_random();
            const size_t got = (k & 1) ? byte_mutate(data.data(), size, data.size())
                                       : scnn_fuzz_mutate(data.data(), size, data.size(), next_random(), byte_mutate);
            if (got > data.size()) {
                std::printf("self-test: a mutation of %zu bytes returned %zu, beyond its %zu-byte buffer\n", size,
                            got, data.size());
                std::exit(1);
            }
            made++;
        }
    }
    return made;
}

/* A transfer broken in one way must be flagged; returns the rules not caught. */
int self_test() {
    std::printf("self-test: %zu mutations of 0- to 72-byte inputs stayed in bounds\n", mutator_self_test());
    /* CAPS then END, sealed: a program the accelerator answers OK. */
    std::vector<uint64_t> prog(4, 0);
    prog[0] = (uint64_t)SCNN_PROGRAM_MAGIC | ((uint64_t)SCNN_FORMAT_VERSION << SCNN_HDR_VERSION_SHIFT) |
              (1ull << SCNN_HDR_BATCH_SHIFT);
    prog[1] = 4096ull << SCNN_HDR_RESPCAP_SHIFT;
    prog[2] = SCNN_OP_CAPS;
    prog[3] = SCNN_OP_END;
    scnn_fuzz_reseal(reinterpret_cast<uint8_t*>(prog.data()), prog.size() * 8, 0);
    const Transfer good = scnn_fuzz_run(prog.data(), prog.size());
    if (const char* v = scnn_fuzz_check(good)) {
        std::printf("self-test: a good CAPS program was flagged: %s\n", v);
        return 1;
    }
    if ((good.res.status_reg & 0xFFFF) != SCNN_OK || good.out.size() != 1 + SCNN_CAP_COUNT + SCNN_TRAILER_HEAD_WORDS) {
        std::printf("self-test: the CAPS program was not answered OK\n");
        return 1;
    }
    struct Case {
        const char* what;
        void (*breakit)(Transfer&);
    };
    const Case cases[] = {
        {"read past TLAST", [](Transfer& t) { t.res.in_underflows = 1; }},
        {"word left unread", [](Transfer& t) { t.res.in_consumed--; }},
        {"waited for input", [](Transfer& t) { t.res.stalled = 1; }},
        {"internal FIFO fault", [](Transfer& t) { t.res.internal_faults = 1; }},
        {"TLAST missing", [](Transfer& t) { t.res.first_tlast = ~0ull; }},
        {"TLAST early", [](Transfer& t) { t.res.first_tlast = 0; }},
        {"TKEEP not all ones", [](Transfer& t) { t.res.keep_errors = 1; }},
        {"response over capacity", [](Transfer& t) { t.res.out_beats += 5000; }},
        {"no response", [](Transfer& t) { t.out.clear(); t.res.out_beats = 0; }},
        {"record length wrong", [](Transfer& t) { t.out[0] += 1ull << SCNN_REC_LENGTH_SHIFT; }},
        {"trailer status undefined", [](Transfer& t) { t.out[t.out.size() - 3] |= 0xFFull << SCNN_ST_STATUS_SHIFT; }},
        {"records miscounted", [](Transfer& t) { t.out.back() += 1ull << SCNN_ST_RECORDS_SHIFT; }},
        {"words miscounted", [](Transfer& t) { t.out.back() += 1; }},
        {"status register", [](Transfer& t) { t.res.status_reg = SCNN_ERR_CRC; }},
        {"packet register", [](Transfer& t) { t.res.packet_reg = 0; }},
        {"words register", [](Transfer& t) { t.res.words_reg = 0; }},
        {"OK with a failing packet", [](Transfer& t) { t.out[t.out.size() - 2] = 0; t.res.packet_reg = 0; }},
    };
    int missed = 0;
    for (const Case& c : cases) {
        Transfer t = good;
        c.breakit(t);
        const char* v = scnn_fuzz_check(t);
        std::printf("self-test: %-26s %s\n", c.what, v ? v : "NOT CAUGHT");
        if (!v) missed++;
    }
    std::printf("self-test: %d of %zu broken rules caught\n", (int)(sizeof cases / sizeof cases[0]) - missed,
                sizeof cases / sizeof cases[0]);
    return missed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    __sanitizer_set_death_callback(on_death);
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 1 && args[0] == "--self-test") return self_test();
    if (args.size() >= 2 && args[0] == "--fuzz") {
        const double seconds = std::atof(args[1].c_str());
        size_t runs = (size_t)-1, first = 2;
        uint32_t seed = 1;
        while (first + 1 < args.size() && (args[first] == "--seed" || args[first] == "--runs")) {
            if (args[first] == "--seed") seed = (uint32_t)std::strtoul(args[first + 1].c_str(), nullptr, 10);
            else runs = (size_t)std::strtoull(args[first + 1].c_str(), nullptr, 10);
            first += 2;
        }
        return fuzz(seconds, runs, seed, std::vector<std::string>(args.begin() + first, args.end()));
    }
    if (args.empty() || args[0].rfind("--", 0) == 0) {
        std::fprintf(stderr, "usage: %s FILE|DIR... | --fuzz SECONDS [--runs N] [--seed N] DIR... | --self-test\n", argv[0]);
        return 2;
    }
    return replay(args);
}
