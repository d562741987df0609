"""The embedded default (SQLite + filesystem broker) with real processes: what `make demo` runs."""

from __future__ import annotations

import os

import httpx
import pytest

from radstack.stack import Stack
from tests.conftest import ARTIFACTS, SAMPLES, apply_env
from tests.integration.helpers import submit, wait_for

pytestmark = pytest.mark.slow


def test_embedded_stack_drafts_a_dicom_and_a_png(tmp_path) -> None:
    env = {"RADSTACK_DATA_DIR": str(tmp_path / "data"), "RADSTACK_MODEL": "demo", "RADSTACK_ENVIRONMENT": "test"}
    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    stack = Stack(env=env, log_dir=ARTIFACTS / "logs" / "embedded", with_sweeper=False)
    try:
        stack.start()
        apply_env(env)
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, pacs = create_key(session, name="pacs", role=Role.SUBMITTER)
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            ids = [submit(client, pacs, [SAMPLES / "rsna_cr_pa_monochrome2.dcm"], "EMB-1"),
                   submit(client, pacs, [SAMPLES / "h0001.png"], "EMB-2")]
            for body in wait_for(client, pacs, ids).values():
                assert body["status"] == "AWAITING_REVIEW", body.get("error")
                assert body["findings"] and body["report"]["text"]
            # The gateway's /metrics merges what the worker processes recorded.
            metrics = client.get("/metrics").text
            for stage in ("classify", "retrieve", "generate"):
                assert f'radstack_stage_duration_seconds_count{{stage="{stage}"}}' in metrics
            assert 'radstack_studies{status="AWAITING_REVIEW"} 2.0' in metrics
            assert "radstack_model_load_seconds" in metrics
    finally:
        stack.stop()
        apply_env(saved)
