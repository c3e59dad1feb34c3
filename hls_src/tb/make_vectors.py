#!/usr/bin/env python3
"""Write the testbench's vectors: NAME.in.bin (a program) and NAME.out.bin (the
response the accelerator must give), 64-bit little-endian words.

Responses come from the simulator, and every result record in them is first
checked against the NumPy golden model, so the vectors are golden-verified
references for Vitis HLS C simulation and co-simulation of the same C++.

OUT_DIR/cosim/ holds the small ones again for C/RTL co-simulation, whose RTL
simulation is thousands of times slower than C: the capabilities request, a
truncated program, a CRC error and LeNet-5 at batch 1.

Usage: python make_vectors.py [OUT_DIR]   (default: vectors/ beside this file)
"""
import sys
from pathlib import Path

import numpy as np

import streamcnn
from streamcnn import compiler, datasets, golden, models, protocol as P, zoo


#: What C/RTL co-simulation runs: one of each kind of run, LeNet-5 at batch 1 the largest,
#: LeNet-5 at batch 3, whose first layers are a segment (two chunks) and whose dense layers take
#: the images side by side, and the shipped compressed LeNet-5 (4-bit weights, occupancy maps,
#: the digit sent as bytes).
COSIM = ("caps", "truncated", "lenet5_crc_error", "lenet5", "lenet5_batch3", "lenet5_compressed")


def main(out: Path, config: str = P.CONFIGS[0]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    device = streamcnn.open_device("sim", config=config)
    caps = device.caps
    rng = np.random.default_rng(2024)
    vectors = {"caps": (compiler.compile_caps_request().words, compiler.CAPS_RESPONSE_WORDS)}
    nets = {"lenet5": (zoo.lenet5(1), 1), "svhn": (zoo.svhn_cnn(1), 1),
            "random": (zoo.random_network(rng, caps, 2, name="random"), 2),
            "lenet5_batch3": (zoo.lenet5(2), 3),
            "lenet5_compressed": (models.load("lenet5-mnist-compressed"), 1)}
    digits, _ = datasets.test_set("mnist")
    for name, (net, batch) in nets.items():
        x = (digits[:batch] if name == "lenet5_compressed"  # a trained model: real digits
             else rng.uniform(-1, 1, (batch,) + net.input_shape).astype(np.float32))
        prog = compiler.compile_network(net, caps, batch)
        prog.set_images(net.quantize_input(x))
        resp = device.execute(prog.words, prog.response_words)
        got = compiler.tensor_from_record(resp.records[-1][1], prog.outputs[-1], batch)
        if resp.status != P.Status.OK or not np.array_equal(got, golden.run(net, x)):
            raise SystemExit(f"{name}: the simulator disagrees with the golden model; no vectors written")
        vectors[name] = (prog.words, prog.response_words)
    bad = vectors["lenet5"][0].copy()
    bad[40] ^= np.uint64(1 << 17)  # a flipped bit: the accelerator must answer ERR_CRC
    vectors["lenet5_crc_error"] = (bad, vectors["lenet5"][1])
    vectors["truncated"] = (vectors["svhn"][0][:100].copy(), vectors["svhn"][1])
    (out / "cosim").mkdir(exist_ok=True)
    for name, (words, response_words) in vectors.items():
        recv = device.allocate(response_words)
        n = device.transfer(np.ascontiguousarray(words, dtype=np.uint64), recv)
        for where in [out] + ([out / "cosim"] if name in COSIM else []):
            np.asarray(words, dtype="<u8").tofile(where / f"{name}.in.bin")
            recv[:n].astype("<u8").tofile(where / f"{name}.out.bin")
        print(f"{name}: {len(words)} words in, {n} out, status {P.Status(compiler.parse_response(recv[:n]).status).name}")


if __name__ == "__main__":
    # make_vectors.py [OUT_DIR [CONFIG]]: CONFIG is the accelerator configuration (hls_src/config/)
    # the testbench is compiled with, whose capabilities the answers carry
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "vectors",
         sys.argv[2] if len(sys.argv) > 2 else P.CONFIGS[0])
