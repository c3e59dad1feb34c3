/*
 * The fuzz harness's pieces (host-only), shared by the libFuzzer build and by
 * fuzz_main.cpp, the replay and plain-mutation driver for builds without
 * libFuzzer (g++).
 */
#ifndef STREAMCNN_FUZZ_H
#define STREAMCNN_FUZZ_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim_bridge.h"

/* One DMA round trip as the board would see it: the simulator's own (sim_bridge). */
struct Transfer {
    std::vector<uint64_t> in;   /* the words sent, TLAST on the last */
    std::vector<uint64_t> out;  /* the response beats that fit the receive buffer */
    scnn_sim_result res;        /* registers, beats consumed and produced, TLAST, TKEEP, faults */
};

/* Run the accelerator on a program. */
Transfer scnn_fuzz_run(const uint64_t* words, size_t n);
/* What the board needs of every answer; nullptr when all holds, else the broken rule. */
const char* scnn_fuzz_check(const Transfer& t);
/* Words of an input that are sent (whole words, at most the harness's cap). */
size_t scnn_fuzz_words(size_t size);
/* The header's length set to `total` (0: the words present) and every complete
 * packet's CRC recomputed, in place; returns the packets sealed. */
size_t scnn_fuzz_reseal(uint8_t* data, size_t size, uint32_t total);
/* One mutation (byte-level by byte_mutate, or packet-level), mostly resealed. */
size_t scnn_fuzz_mutate(uint8_t* data, size_t size, size_t max_size, unsigned seed,
                        size_t (*byte_mutate)(uint8_t*, size_t, size_t));

#endif
