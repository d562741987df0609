"""Back-pressure (429 per key, 503 on a full classify queue) and the Prometheus endpoint."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from shared.config import reset_settings_cache
from tests.conftest import auth


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((32, 32), 128, dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _submit(client, key: str, accession: str):
    return client.post("/v1/studies", files={"files": ("x.png", _png())}, data={"accession_number": accession},
                       headers=auth(key))


def test_rate_limit_per_key_is_429_with_retry_after(client, api_keys, monkeypatch) -> None:
    monkeypatch.setenv("RADSTACK_SUBMIT_RATE_PER_MINUTE", "3")
    reset_settings_cache()
    answers = [_submit(client, api_keys["submitter"], f"R{i}").status_code for i in range(5)]
    assert answers[:3] == [202, 202, 202] and answers[3:] == [429, 429]
    limited = _submit(client, api_keys["submitter"], "R9")
    assert limited.json()["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    # Another key has its own budget.
    assert _submit(client, api_keys["other_submitter"], "OTHER").status_code == 202


def test_full_classify_queue_is_503(client, api_keys, monkeypatch) -> None:
    monkeypatch.setenv("RADSTACK_MAX_QUEUE_DEPTH", "2")
    reset_settings_cache()
    from shared import queue_depth

    answers = []
    for index in range(4):
        queue_depth._cache.clear()  # the depth is cached for a second; read it fresh here
        answers.append(_submit(client, api_keys["submitter"], f"Q{index}").status_code)
    assert answers == [202, 202, 503, 503]
    queue_depth._cache.clear()
    response = _submit(client, api_keys["submitter"], "Q9")
    assert response.json()["error"]["code"] == "queue_full" and response.headers["Retry-After"]


def test_metrics_report_studies_and_queues(client, api_keys) -> None:
    _submit(client, api_keys["submitter"], "M1")
    from shared import queue_depth

    queue_depth._cache.clear()
    text = client.get("/metrics").text
    assert 'radstack_studies{status="QUEUED"} 1.0' in text
    assert 'radstack_queue_depth{queue="classify"} 1.0' in text

    import shared.metrics  # noqa: F401  (the worker-side metrics, as a worker process registers them)

    shared.metrics.BATCH_SIZE.observe(4)
    text = client.get("/metrics").text
    assert "radstack_classify_batch_size_bucket" in text and "radstack_stage_duration_seconds" in text
