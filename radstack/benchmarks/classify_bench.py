"""Classify throughput: raw model forward vs the worker's own path, per image and batched."""

from __future__ import annotations

import time

import torch

from radstack.benchmarks.report import Report
from radstack.benchmarks.workspace import make_studies, use_fresh_workspace


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run(report: Report, *, images: int = 32, batch: int = 8) -> None:
    use_fresh_workspace({"RADSTACK_HEATMAPS": "false"})
    from shared.config import get_settings
    from shared.db import session_scope
    from shared.ingest import decode_png8
    from shared.models import Image
    from shared.storage import default_store
    from workers import runtime
    from workers.stages import classify

    section = f"classify ({get_settings().model} model, DenseNet121 224 px, {torch.get_num_threads()} threads)"
    classifier = runtime.get_classifier()
    warm_ids = make_studies(batch)
    classify.run_batch(warm_ids)  # first-call costs (allocator, lazy init) out of the timings

    with session_scope() as session:
        digests = [i.pixels_sha256 for i in session.query(Image).limit(5)]
    store = default_store()
    pixels = [decode_png8(store.get(d)) for d in digests]
    tensors = [classifier.preprocess(pixels[i % len(pixels)]) for i in range(images)]

    started = time.perf_counter()
    for tensor in tensors:
        classifier.forward_batch(tensor[None])
    raw_single = _rate(images, time.perf_counter() - started)

    started = time.perf_counter()
    for offset in range(0, images, batch):
        classifier.forward_batch(torch.stack(tensors[offset:offset + batch]))
    raw_batched = _rate(images, time.perf_counter() - started)

    ids = make_studies(images)
    started = time.perf_counter()
    for study_id in ids:
        classify.run_batch([study_id])
    worker_single = _rate(images, time.perf_counter() - started)

    ids = make_studies(images)
    started = time.perf_counter()
    for offset in range(0, images, batch):
        classify.run_batch(ids[offset:offset + batch])
    worker_batched = _rate(images, time.perf_counter() - started)

    report.add(section, "raw model forward, batch 1", raw_single, "img/s")
    report.add(section, f"raw model forward, batch {batch}", raw_batched, "img/s")
    report.add(section, "worker path, one study at a time (DB, blobs, decode)", worker_single, "img/s")
    report.add(section, f"worker path, micro-batched (B={batch})", worker_batched, "img/s")
    report.add(section, "batched worker / per-image worker", worker_batched / worker_single, "x", at_least=1.8)
    report.add(section, "batched worker / per-image raw forward loop", worker_batched / raw_single, "x")
    report.add(section, f"batched worker / raw forward at B={batch}", worker_batched / raw_batched, "ratio",
               at_least=0.85)

    # Heat maps and reduced precision, on the same batch size.
    import os

    from shared.config import reset_settings_cache

    os.environ["RADSTACK_HEATMAPS"] = "true"
    reset_settings_cache()
    ids = make_studies(images)
    started = time.perf_counter()
    for offset in range(0, images, batch):
        classify.run_batch(ids[offset:offset + batch])
    with_maps = _rate(images, time.perf_counter() - started)
    report.add(section, f"worker path, micro-batched, with Grad-CAM heat maps", with_maps, "img/s")

    batch_tensor = torch.stack(tensors[:batch])
    reference = classifier.forward_batch(batch_tensor)
    classifier.autocast_dtype = torch.bfloat16
    try:
        classifier.forward_batch(batch_tensor)
        started = time.perf_counter()
        for offset in range(0, images, batch):
            classifier.forward_batch(torch.stack(tensors[offset:offset + batch]))
        bf16_rate = _rate(images, time.perf_counter() - started)
        bf16 = classifier.forward_batch(batch_tensor)
    finally:
        classifier.autocast_dtype = None
    difference = max(abs(a[k] - b[k]) for a, b in zip(reference, bf16) for k in a)
    report.add(section, f"raw forward, batch {batch}, bf16 autocast", bf16_rate, "img/s")
    report.add(section, "max |score bf16 - fp32|", difference, "prob")
