/*
 * streamcnn accelerator: a generic int8 CNN engine driven by a program stream.
 *
 * Two processes run side by side (a DATAFLOW region), joined by FIFOs:
 *
 *   decode   reads the program (docs/protocol.md) packet by packet at the DMA's
 *            rate, folds every payload word into the packet's CRC-32, checks
 *            every field, and hands the execute process commands and 512-bit
 *            entries of requantization words, weights and image words.
 *   execute  owns the on-chip memories: copies a tile's entries into the
 *            weight buffer (one entry, 64 weights, per cycle), and computes.
 *            A layer that uses each weight once (a fully-connected layer at
 *            batch 1) computes straight from the FIFO instead.
 *
 * While execute computes a layer, decode is already streaming the next
 * layers' weights (or the next images of a segment) into the entry FIFO
 * (SCNN_CFG_PREFETCH_ENTRIES deep), so streaming overlaps compute.  A tile is only computed with after its
 * packet's CRC has matched: decode issues the TILE command after the check,
 * and on a failure issues END instead, so execute merely discards the copied
 * entries.  Activations stay on chip in two ping-pong buffers; each layer
 * reads one and writes the other.  The arithmetic is defined by
 * docs/numerics.md and by the NumPy golden model (driver/streamcnn/golden.py),
 * which this must equal bit for bit.
 *
 * Whatever arrives, decode reads its input up to TLAST (never past it) and
 * always ends with one END command; execute answers with records and a status
 * trailer that ends in TLAST.  Every command announces exactly the FIFO words
 * that follow it, and decode always writes them all (zeros past a truncation),
 * so the FIFOs are empty when a run ends and nothing leaks into the next.
 */
#include "streamcnn.h"

#include "streamcnn_decode.h"
#include "streamcnn_engines.h"
#include "streamcnn_types.h"

namespace {

void write_word(scnn_stream_t& out, uint64_t data, bool last) {
    scnn_beat_t beat;
    beat.data = data;
    beat.keep = 0xFF;
    beat.strb = 0xFF;
    beat.last = last ? 1 : 0;
    out.write(beat);
}


void record_header(scnn_stream_t& out, uint32_t kind, uint32_t length) {
    write_word(out,
               (uint64_t)SCNN_RECORD_MAGIC | ((uint64_t)kind << SCNN_REC_KIND_SHIFT) |
                   ((uint64_t)length << SCNN_REC_LENGTH_SHIFT),
               false);
}

/* ------------------------------------------------------------------------- */
/* Execute: commands in, records and the status trailer out                   */

void emit_caps(scnn_stream_t& out) {
    record_header(out, SCNN_REC_CAPS, SCNN_CAP_COUNT);
    const uint32_t caps[SCNN_CAP_COUNT] = {
        HW_VERSION,
        SCNN_FORMAT_VERSION,
        SCNN_CFG_LANES,
        SCNN_CFG_PE_OUT,
        SCNN_CFG_ACT_WORDS,
        SCNN_CFG_WEIGHT_ENTRIES,
        SCNN_CFG_TILE_CHANNELS,
        SCNN_CFG_MAX_CHANNELS,
        SCNN_CFG_MAX_DIM,
        SCNN_CFG_MAX_KERNEL,
        SCNN_CFG_MAX_STRIDE,
        SCNN_CFG_MAX_PAD,
        SCNN_CFG_MAX_POOL_KERNEL,
        SCNN_CFG_MAX_POOL_STRIDE,
        SCNN_CFG_MAX_FC_IN,
        SCNN_CFG_MAX_FC_OUT,
        SCNN_CFG_MAX_BATCH,
        SCNN_CFG_MAX_LAYERS,
        SCNN_CFG_MAX_PROGRAM_WORDS,
        SCNN_CFG_PREFETCH_ENTRIES,
        SCNN_CFG_PIXELS,
    };
caps_word:
    for (unsigned i = 0; i < SCNN_CAP_COUNT; i++) {
#pragma HLS PIPELINE II = 1
        write_word(out, caps[i], false);
    }
}

void emit_tensor(scnn_stream_t& out, const Command& c, uint32_t layers, const act_mem_t& act) {
    record_header(out, SCNN_REC_TENSOR, SCNN_TENSOR_HEAD_WORDS + (uint32_t)c.s.steps);
    write_word(out, c.head[0], false);
    write_word(out, c.head[1] | ((uint64_t)layers << SCNN_TAG_LAYERS_SHIFT), false);
    addr_t a = c.s.src_base;
tensor_word:
    for (steps_t step = 0; step < c.s.steps; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 8192
#pragma HLS PIPELINE II = 1
        write_word(out, load(act, a), false);
        ++a;
    }
}

/* s.steps image words from the entry FIFO, an entry of 8 a cycle, to the buffer's start: entry
 * e is words 8e..8e+7, one in each bank at row e (the last entry's words past s.steps are
 * padding, not stored). */
void load_input(entry_fifo_t& entries, const Schedule& s, act_mem_t& act) {
    static_assert(ACT_BANKS == PE, "an entry's word k goes to bank k (its address is 8e + k)");
    addr_t a = 0;
    const steps_t n = (s.steps + (PE - 1u)) >> log2_of(PE);
input_copy:
    for (steps_t e = 0; e < n; e++) {
#pragma HLS LOOP_TRIPCOUNT max = 1024
#pragma HLS PIPELINE II = 1
        const Entry entry = entries.read();
        for (unsigned k = 0; k < PE; k++) {
#pragma HLS UNROLL
            if (a + k < s.steps) act[k][row_of(a)] = entry.word[k];
        }
        a += PE;
    }
}

/* A tile's requantization words and weight blocks (with their taps), one entry per cycle. */
void load_tile(entry_fifo_t& entries, group_t groups, entry_t blocks, weight_mem_t& weight_buf,
               tap_mem_t& tap_buf, requant_mem_t& requant_buf) {
    /* The requantization entries, then the weight blocks: one counter each, no subtraction. */
    group_t g = 0;
    entry_t k = 0;
    const ap_uint<bits_for(TILE_GROUPS_MAX + SCNN_CFG_WEIGHT_ENTRIES)> n = groups + blocks;
tile_copy:
    for (ap_uint<bits_for(TILE_GROUPS_MAX + SCNN_CFG_WEIGHT_ENTRIES)> step = 0; step < n; step++) {
#pragma HLS LOOP_TRIPCOUNT max = 576
#pragma HLS PIPELINE II = 1
        const Entry e = entries.read();
        const bool requant = g < groups;
        for (unsigned o = 0; o < PE; o++) {
#pragma HLS UNROLL
            if (requant)
                requant_buf[g][o] = e.word[o];
            else
                weight_buf[k][o] = e.word[o];
        }
        if (requant) {
            ++g;
        } else {
            tap_buf[k] = e.tap;
            ++k;
        }
    }
}

void discard(entry_fifo_t& entries, entry_t n) {
discard_entry:
    for (entry_t k = 0; k < n; k++) {
#pragma HLS LOOP_TRIPCOUNT max = 512
#pragma HLS PIPELINE II = 1
        entries.read();
    }
}

void trailer(scnn_stream_t& out, const Command& end, uint32_t layers, const uint64_t cnt_head[SCNN_CFG_MAX_LAYERS],
             const uint64_t cnt_iters[SCNN_CFG_MAX_LAYERS]) {
    write_word(out,
               (uint64_t)SCNN_STATUS_MAGIC | ((uint64_t)end.status << SCNN_ST_STATUS_SHIFT) |
                   ((uint64_t)layers << SCNN_ST_LAYERS_SHIFT),
               false);
    write_word(out, (uint64_t)end.packet | ((uint64_t)end.detail << SCNN_ST_DETAIL_SHIFT), false);
    write_word(out, (uint64_t)end.words | ((uint64_t)end.records << SCNN_ST_RECORDS_SHIFT), layers == 0);
trailer_layer:
    for (uint32_t i = 0; i < layers; i++) {
#pragma HLS LOOP_TRIPCOUNT max = 32
#pragma HLS PIPELINE II = 2
        write_word(out, cnt_head[i], false);
        write_word(out, cnt_iters[i], i + 1 == layers);
    }
}

/* A layer's counters: its first command starts them (opcode, and its geometry packet's words
 * in `words`), every command adds its stream words (a TILE also a tile: replays of a segment's
 * layers add neither) and its engine's trip count. */
void count(uint64_t cnt_head[SCNN_CFG_MAX_LAYERS], uint64_t cnt_iters[SCNN_CFG_MAX_LAYERS], const Command& c,
           bool tile, uint64_t iterations) {
    if (c.first) {
        cnt_head[c.layer] = (uint64_t)c.opcode;
        cnt_iters[c.layer] = 0;
    }
    cnt_head[c.layer] += ((tile && c.words != 0) ? (1ull << SCNN_CNT_TILES_SHIFT) : 0) +
                         ((uint64_t)c.words << SCNN_CNT_WORDS_SHIFT);
    cnt_iters[c.layer] += iterations;
}

/* The execute process: one command at a time, in program order, until END. */
void execute(command_fifo_t& cmds, entry_fifo_t& entries, scnn_stream_t& out, uint32_t& status,
             uint32_t& packet_index, uint32_t& words) {
    act_mem_t act_a, act_b; /* the ping-pong activations */
    weight_mem_t weight_buf;
    tap_mem_t tap_buf;
    requant_mem_t requant_buf;
    /* ACT_BANKS memories each, true dual-port: the convolution reads one word of every bank a
     * cycle, INPUT writes one to every bank, pooling reads two taps of its source. */
#pragma HLS ARRAY_PARTITION variable = act_a complete dim = 1
#pragma HLS ARRAY_PARTITION variable = act_b complete dim = 1
#pragma HLS BIND_STORAGE variable = act_a type = ram_t2p impl = bram
#pragma HLS BIND_STORAGE variable = act_b type = ram_t2p impl = bram
    /* Each engine is called from two branches (a to b, b to a): one instance serves both. */
#pragma HLS ALLOCATION function instances = conv_tile limit = 1
#pragma HLS ALLOCATION function instances = pool limit = 1
#pragma HLS ALLOCATION function instances = relu limit = 1
#pragma HLS ALLOCATION function instances = flatten limit = 1
#pragma HLS ALLOCATION function instances = transpose limit = 1
#pragma HLS ALLOCATION function instances = unpack limit = 1
#pragma HLS ALLOCATION function instances = emit_tensor limit = 1
#pragma HLS ALLOCATION function instances = load_input limit = 1
#pragma HLS ARRAY_PARTITION variable = weight_buf complete dim = 2
#pragma HLS ARRAY_PARTITION variable = requant_buf complete dim = 2
    uint32_t cur = 0;     /* buffer holding the current activations */
    uint32_t layers = 0;  /* layers completed */
    entry_t pending = 0;  /* weight entries a LOAD left in the FIFO for its TILE */
    /* Per layer: opcode, stream words and tiles (head), and compute-loop trip counts. */
    uint64_t cnt_head[SCNN_CFG_MAX_LAYERS];
    uint64_t cnt_iters[SCNN_CFG_MAX_LAYERS];
command_loop:
    for (uint32_t i = 0; i < MAX_COMMANDS; i++) {
#pragma HLS LOOP_TRIPCOUNT max = 64
        const Command c = cmds.read();
        if (c.op == CMD_END) {
            discard(entries, pending); /* a TILE that failed its checks */
            trailer(out, c, layers, cnt_head, cnt_iters);
            status = c.status | (layers << 16);
            packet_index = c.packet;
            words = c.words;
            break;
        }
        uint64_t iterations = 0;
        bool swap = false; /* the layer's output is in the other buffer */
        switch (c.op) {
        case CMD_CAPS: emit_caps(out); break;
        case CMD_INPUT:
            if (cur == 0)
                load_input(entries, c.s, act_a);
            else
                load_input(entries, c.s, act_b);
            break;
        case CMD_LOAD:
            load_tile(entries, c.groups, c.stream ? entry_t(0) : c.blocks, weight_buf, tap_buf, requant_buf);
            pending = c.stream ? c.blocks : entry_t(0);
            break;
        case CMD_TILE:
            iterations = (cur == 0)
                             ? conv_tile(c.s, entries, pending != 0, act_a, act_b, weight_buf, tap_buf, requant_buf)
                             : conv_tile(c.s, entries, pending != 0, act_b, act_a, weight_buf, tap_buf, requant_buf);
            pending = 0;
            swap = true;
            break;
        case CMD_POOL:
            iterations = (cur == 0) ? pool(c.s, act_a, act_b) : pool(c.s, act_b, act_a);
            swap = true;
            break;
        case CMD_RELU: iterations = (cur == 0) ? relu(c.s, act_a) : relu(c.s, act_b); break;
        case CMD_FLATTEN:
            if (c.s.transpose) /* whole words */
                iterations = (cur == 0) ? transpose(c.s, act_a, act_b) : transpose(c.s, act_b, act_a);
            else
                iterations = (cur == 0) ? flatten(c.s, act_a, act_b) : flatten(c.s, act_b, act_a);
            swap = true;
            break;
        case CMD_UNPACK: /* not a layer: no counters, but the images move to the other buffer */
            if (cur == 0)
                unpack(c.s, act_a, act_b);
            else
                unpack(c.s, act_b, act_a);
            cur = 1 - cur;
            break;
        case CMD_OUTPUT:
            if (cur == 0)
                emit_tensor(out, c, layers, act_a);
            else
                emit_tensor(out, c, layers, act_b);
            break;
        default: break;
        }
        if (c.op == CMD_TILE || c.op == CMD_POOL || c.op == CMD_RELU || c.op == CMD_FLATTEN) {
            count(cnt_head, cnt_iters, c, c.op == CMD_TILE, iterations);
            if (c.last) {
                layers = c.layer + 1u;
                if (swap) cur = 1 - cur;
            }
        }
    }
}

}  // namespace

void streamcnn_top(scnn_stream_t& prog_in, scnn_stream_t& resp_out, uint32_t& status, uint32_t& packet_index,
                   uint32_t& words, uint32_t& hw_version) {
#pragma HLS INTERFACE mode = axis port = prog_in
#pragma HLS INTERFACE mode = axis port = resp_out
#pragma HLS INTERFACE mode = s_axilite port = status
#pragma HLS INTERFACE mode = s_axilite port = packet_index
#pragma HLS INTERFACE mode = s_axilite port = words
#pragma HLS INTERFACE mode = s_axilite port = hw_version
#pragma HLS INTERFACE mode = s_axilite port = return
#pragma HLS DATAFLOW
    command_fifo_t cmds("cmds");
    entry_fifo_t entries("entries");
    /* Commands are wide and few: shift registers.  Entries are the prefetch
     * buffer: 512 bits x SCNN_CFG_PREFETCH_ENTRIES in block RAM. */
#pragma HLS BIND_STORAGE variable = cmds type = fifo impl = srl
#pragma HLS BIND_STORAGE variable = entries type = fifo impl = bram
    decode(prog_in, cmds, entries, hw_version);
    execute(cmds, entries, resp_out, status, packet_index, words);
}
