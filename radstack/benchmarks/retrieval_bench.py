"""Retrieval latency per query over the full prior-report index."""

from __future__ import annotations

import random
import time

from radstack.benchmarks.report import Report, percentile


def run(report: Report, *, queries: int = 400) -> None:
    from shared.labels import CRITICAL, VOCABULARY, is_chest_finding
    from workers import runtime

    retriever = runtime.get_retriever()
    labels = [label for label in VOCABULARY if is_chest_finding(label)]
    rng = random.Random(7)
    retriever.search(["Cardiomegaly"], ["Pneumothorax"], 5)
    timings = []
    for _ in range(queries):
        positive = rng.sample(labels, rng.randint(0, 3))
        negative = [label for label in sorted(CRITICAL) if label not in positive]
        started = time.perf_counter()
        retriever.search(positive, negative, 5)
        timings.append((time.perf_counter() - started) * 1000)
    section = f"retrieval ({queries} queries, top 5)"
    report.add(section, "p50 per query", percentile(timings, 50), "ms")
    report.add(section, "p95 per query", percentile(timings, 95), "ms", below=10)
