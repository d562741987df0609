"""GPU check for a classify host: the CUDA path works, batched throughput at B = 1, 8, 32, 64
in fp32 and fp16 (and bf16), and the largest score difference of reduced precision from fp32.

    .venv/bin/python bench/gpu_check.py [--model demo] [--seconds 3]

Uses the same Classifier code the workers use (pinned memory, non-blocking copies, autocast,
channels-last), with the configured model (default: the demo DenseNet121, 224 px).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.models.fastpath import apply_fast_path  # noqa: E402
from workers.models.registry import load_classifier  # noqa: E402


def throughput(classifier, batch: torch.Tensor, seconds: float) -> float:  # type: ignore[no-untyped-def]
    classifier.forward_batch(batch)
    torch.cuda.synchronize()
    images, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.forward_batch(batch)  # returns host floats: includes the copy back
        images += batch.shape[0]
    return images / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--weights-dir", type=Path, default=Path(".radstack/weights"))
    parser.add_argument("--seconds", type=float, default=3.0, help="timing window per configuration")
    parser.add_argument("--batches", default="1,8,32,64")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        print("CUDA is not available on this machine: nothing to check")
        return 1
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {torch.cuda.get_device_name(0)}")
    classifier = load_classifier(args.model, weights_dir=args.weights_dir, device="cuda")
    apply_fast_path(classifier, precision="fp32", channels_last=True)
    rng = np.random.default_rng(0)
    images = [rng.random((512, 512), dtype=np.float32) for _ in range(64)]
    tensors = torch.stack([classifier.preprocess(image) for image in images])
    print(f"model {classifier.info.model_id} ({classifier.info.version}), input {tuple(tensors.shape[1:])}")
    print(f"{'batch':>5s} {'fp32 img/s':>11s} {'fp16 img/s':>11s} {'bf16 img/s':>11s} "
          f"{'max|fp16-fp32|':>15s} {'max|bf16-fp32|':>15s}")
    for size in [int(b) for b in args.batches.split(",")]:
        batch = tensors[:size]
        row, reference = [], None
        differences = []
        for name, dtype in (("fp32", None), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
            classifier.autocast_dtype = dtype
            row.append(throughput(classifier, batch, args.seconds))
            scores = classifier.forward_batch(batch)
            if reference is None:
                reference = scores
            else:
                differences.append(max(abs(a[k] - b[k]) for a, b in zip(reference, scores) for k in a))
        print(f"{size:5d} {row[0]:11.1f} {row[1]:11.1f} {row[2]:11.1f} {differences[0]:15.5f} {differences[1]:15.5f}")
    classifier.autocast_dtype = None
    print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
