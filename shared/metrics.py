"""Prometheus metrics recorded by the workers (see shared/metrics_setup.py for where they go).
Gauges that describe the present (studies by status, queue depth) are computed by the gateway
at scrape time instead (api_gateway/routes/metrics.py)."""

from __future__ import annotations

from prometheus_client import Gauge, Histogram

STAGE_SECONDS = Histogram(
    "radstack_stage_duration_seconds", "Compute time of one pipeline stage run (a batch for classify)",
    ["stage"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
BATCH_SIZE = Histogram(
    "radstack_classify_batch_size", "Studies per classify forward pass", buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
MODEL_LOAD_SECONDS = Gauge(
    "radstack_model_load_seconds", "Time to load the classifier in a worker process", ["model"],
    multiprocess_mode="max",
)
