"""Classify throughput: raw model forward vs the worker's own path, per image and batched."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from radstack.benchmarks.report import Report
from radstack.benchmarks.workspace import make_studies, use_fresh_workspace


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def run(report: Report, *, images: int = 32, batch: int = 8, rounds: int = 3) -> None:
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

    def raw_single() -> float:
        started = time.perf_counter()
        for tensor in tensors:
            classifier.forward_batch(tensor[None])
        return _rate(images, time.perf_counter() - started)

    def raw_batched() -> float:
        started = time.perf_counter()
        for offset in range(0, images, batch):
            classifier.forward_batch(torch.stack(tensors[offset:offset + batch]))
        return _rate(images, time.perf_counter() - started)

    def worker(size: int) -> Callable[[], float]:
        def measure() -> float:
            ids = make_studies(images)  # fresh QUEUED studies each round, made outside the timing
            started = time.perf_counter()
            for offset in range(0, images, size):
                classify.run_batch(ids[offset:offset + size])
            return _rate(images, time.perf_counter() - started)
        return measure

    # Interleaved rounds, best of each: a 2-core machine's background noise only ever slows a
    # round down, and interleaving keeps the ratios side by side in time.
    measures = {"raw1": raw_single, "rawB": raw_batched, "worker1": worker(1), "workerB": worker(batch)}
    best = {name: 0.0 for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    raw_single_rate, raw_batched_rate = best["raw1"], best["rawB"]
    worker_single, worker_batched = best["worker1"], best["workerB"]

    report.add(section, "raw model forward, batch 1", raw_single_rate, "img/s")
    report.add(section, f"raw model forward, batch {batch}", raw_batched_rate, "img/s")
    report.add(section, "worker path, one study at a time (DB, blobs, decode)", worker_single, "img/s")
    report.add(section, f"worker path, micro-batched (B={batch})", worker_batched, "img/s")
    report.add(section, "batched worker / per-image worker", worker_batched / worker_single, "x", at_least=1.8)
    report.add(section, "batched worker / per-image raw forward loop", worker_batched / raw_single_rate, "x")
    report.add(section, f"raw forward batch {batch} / raw forward batch 1 (what batching can give here)",
               raw_batched_rate / raw_single_rate, "x")
    report.add(section, f"batched worker / raw forward at B={batch}", worker_batched / raw_batched_rate, "ratio",
               at_least=0.85)

    # Heat maps and reduced precision, on the same batch size.
    import os

    from shared.config import reset_settings_cache

    os.environ["RADSTACK_HEATMAPS"] = "true"
    reset_settings_cache()
    with_maps = max(worker(batch)() for _ in range(rounds))
    report.add(section, f"worker path, micro-batched, with Grad-CAM heat maps", with_maps, "img/s")

    batch_tensor = torch.stack(tensors[:batch])
    reference = classifier.forward_batch(batch_tensor)
    classifier.autocast_dtype = torch.bfloat16
    try:
        classifier.forward_batch(batch_tensor)
        bf16_rate = max(raw_batched() for _ in range(rounds))
        bf16 = classifier.forward_batch(batch_tensor)
    finally:
        classifier.autocast_dtype = None
    difference = max(abs(a[k] - b[k]) for a, b in zip(reference, bf16) for k in a)
    report.add(section, f"raw forward, batch {batch}, bf16 autocast", bf16_rate, "img/s")
    report.add(section, "max |score bf16 - fp32|", difference, "prob")
