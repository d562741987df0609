"""Inference fast paths, chosen by settings and applied once after a model is loaded.

- precision: "fp32" (default), "bf16" or "fp16" autocast for the forward pass. Scores move a
  little; `radstack bench perf` and bench/gpu_check.py print the largest difference from fp32.
- channels-last memory layout: faster convolutions on CPUs with oneDNN and on tensor cores.
- torch.compile: optional; worth it on a GPU host that runs for days, not for a demo.
"""

from __future__ import annotations

import logging

import torch

from workers.models.base import Classifier

logger = logging.getLogger(__name__)

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def apply_fast_path(classifier: Classifier, *, precision: str = "fp32", channels_last: bool = False,
                    compile_model: bool = False) -> Classifier:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    classifier.autocast_dtype = PRECISIONS[precision]
    if channels_last:
        classifier.module = classifier.module.to(memory_format=torch.channels_last)
        classifier.channels_last = True
    if compile_model:
        classifier.module = torch.compile(classifier.module)  # type: ignore[assignment]
    logger.info("inference: precision %s, channels-last %s, compiled %s", precision, channels_last, compile_model)
    return classifier
