"""The sweeper re-sends studies stuck past their deadline, gives up after max attempts, and an
admin can retry a FAILED study (API and CLI)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shared.db import session_scope
from shared.models import AuditEvent, Study, utcnow
from shared.status import StudyStatus
from tests.conftest import SAMPLES, auth
from workers import sweeper


def _submit(client, key: str) -> str:
    response = client.post("/v1/studies", files={"files": ("x.png", (SAMPLES / "h0001.png").read_bytes())},
                           data={"accession_number": "SWEEP"}, headers=auth(key))
    return response.json()["id"]


def _age(study_id: str, status: StudyStatus, *, minutes: int = 30, attempts: int = 0) -> None:
    with session_scope() as session:
        study = session.get(Study, study_id)
        study.status = status
        study.updated_at = utcnow() - timedelta(minutes=minutes)
        study.attempts = attempts


def _messages(data_dir) -> list[bytes]:
    return [p.read_bytes() for p in sorted((data_dir / "broker" / "messages").iterdir())]


def test_stuck_study_is_resent_from_its_own_stage(client, api_keys, data_dir) -> None:
    study_id = _submit(client, api_keys["submitter"])
    for path in (data_dir / "broker" / "messages").iterdir():
        path.unlink()  # the message was lost (a Redis restart, say)
    _age(study_id, StudyStatus.RETRIEVING)
    assert sweeper.sweep() == {"stuck": 1, "resent": 1, "failed": 0}
    messages = _messages(data_dir)
    assert len(messages) == 1 and b"studies.retrieve" in messages[0] and b"studies.classify" not in messages[0]
    # Fresh again: the next sweep leaves it alone for a whole deadline.
    assert sweeper.sweep() == {"stuck": 0, "resent": 0, "failed": 0}
    with session_scope() as session:
        assert session.get(Study, study_id).attempts == 1


def test_recent_and_finished_studies_are_left_alone(client, api_keys) -> None:
    fresh = _submit(client, api_keys["submitter"])
    done = _submit(client, api_keys["submitter"])
    _age(done, StudyStatus.AWAITING_REVIEW)
    assert sweeper.sweep()["stuck"] == 0
    with session_scope() as session:
        assert session.get(Study, fresh).status == StudyStatus.QUEUED


def test_gives_up_after_max_attempts_then_admin_retries(client, api_keys, data_dir) -> None:
    study_id = _submit(client, api_keys["submitter"])
    _age(study_id, StudyStatus.CLASSIFYING, attempts=3)
    assert sweeper.sweep() == {"stuck": 1, "resent": 0, "failed": 1}
    body = client.get(f"/v1/studies/{study_id}", headers=auth(api_keys["submitter"])).json()
    assert body["status"] == "FAILED" and "re-sends" in body["error"]
    with session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study_id)).all()
    assert "sweeper.gave_up" in actions

    for role in ("submitter", "radiologist"):
        assert client.post(f"/v1/studies/{study_id}/retry", headers=auth(api_keys[role])).status_code == 403
    retried = client.post(f"/v1/studies/{study_id}/retry", headers=auth(api_keys["admin"]))
    assert retried.status_code == 200 and retried.json()["status"] == "QUEUED"
    assert client.post(f"/v1/studies/{study_id}/retry", headers=auth(api_keys["admin"])).status_code == 409


def test_cli_retry(client, api_keys, capsys) -> None:
    from radstack.cli import main

    study_id = _submit(client, api_keys["submitter"])
    _age(study_id, StudyStatus.CLASSIFYING, attempts=3)
    sweeper.sweep()
    assert main(["studies", "retry", study_id]) == 0
    assert "QUEUED" in capsys.readouterr().out
    with session_scope() as session:
        study = session.get(Study, study_id)
        assert study.status == StudyStatus.QUEUED and study.attempts == 0 and study.error is None
    assert main(["studies", "retry", "no-such-study"]) == 1
