"""The whole pipeline as deployed: real gateway, a real Celery worker per queue on the real
Redis broker, PostgreSQL, from submission to AWAITING_REVIEW to sign-off, audit chain checked."""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from radstack.stack import Stack, radstack_command
from tests.conftest import ARTIFACTS, SAMPLES, apply_env
from tests.integration.helpers import submit, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STAGE_ORDER = ["RECEIVED", "QUEUED", "CLASSIFYING", "RETRIEVING", "DRAFTING", "AWAITING_REVIEW", "SIGNED_OFF"]


def test_submit_to_signoff_on_redis_and_postgres(tmp_path, postgres_url, redis_url) -> None:
    env = {
        "RADSTACK_DATA_DIR": str(tmp_path / "data"),
        "RADSTACK_DATABASE_URL": postgres_url,
        "RADSTACK_BROKER_URL": redis_url,
        "RADSTACK_MODEL": "demo",
        "RADSTACK_ENVIRONMENT": "test",
    }
    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    stack = Stack(env=env, log_dir=ARTIFACTS / "logs" / "redis-postgres")
    try:
        stack.start()
        apply_env(env)
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, pacs = create_key(session, name="pacs", role=Role.SUBMITTER)
            _, doctor = create_key(session, name="dr-who", role=Role.RADIOLOGIST)

        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            ids = [
                submit(client, pacs, [SAMPLES / "rsna_cr_pa_monochrome1.dcm"], "INT-DICOM", "stat"),
                submit(client, pacs, [SAMPLES / "00000001_000.png", SAMPLES / "16747_3_1.jpg"], "INT-MULTI"),
            ]
            results = wait_for(client, pacs, ids)
            for study_id, body in results.items():
                assert body["status"] == "AWAITING_REVIEW", body.get("error")
                assert body["findings"], "classify wrote findings"
                for finding in body["findings"]:
                    assert finding["model"]["id"] == "demo" and len(finding["model"]["weights_sha256"]) == 64
                    assert 0.0 <= finding["probability"] <= 1.0 and finding["threshold"] > 0
                assert body["is_demo"] and body["warning"] == "DEMO MODEL, NOT FOR CLINICAL USE"
                assert body["evidence"], "retrieve stored evidence"
                assert all(e["source_id"] and e["retriever"] for e in body["evidence"])
                report = body["report"]["text"]
                assert "FINDINGS" in report and "IMPRESSION" in report and "DEMO MODEL" in report
            assert len(results[ids[1]]["images"]) == 2

            worklist = client.get("/v1/worklist", headers={"Authorization": f"Bearer {doctor}"}).json()["studies"]
            assert worklist[0]["id"] == ids[0], "the STAT study comes first"

            signed = client.post(f"/v1/studies/{ids[0]}/signoff",
                                 json={"decision": "amend", "report_text": "FINDINGS: reviewed.\nIMPRESSION: no acute disease.",
                                       "version": results[ids[0]]["version"]},
                                 headers={"Authorization": f"Bearer {doctor}"})
            assert signed.status_code == 200, signed.text
            assert signed.json()["status"] == "SIGNED_OFF"

            trail = client.get(f"/v1/studies/{ids[0]}/audit", headers={"Authorization": f"Bearer {pacs}"}).json()["events"]
            statuses = [e["to_status"] for e in trail if e["to_status"]]
            assert statuses == STAGE_ORDER
            assert {e["actor"] for e in trail} >= {"submitter:pacs", "worker:classify", "worker:retrieve",
                                                   "worker:generate", "radiologist:dr-who"}

        verify = subprocess.run(radstack_command("audit", "verify"), env=os.environ | env,
                                capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "audit chain OK" in verify.stdout
    finally:
        stack.stop()
        apply_env(saved)
