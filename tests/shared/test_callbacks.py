"""Integrator callbacks against a real HTTP receiver on loopback: signed, retried with back-off
after a 500, given up after the last attempt with an audit row, never sent without a URL."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from shared import callbacks
from shared.callbacks import RetryPolicy
from shared.config import get_settings
from shared.db import session_scope
from shared.models import AuditEvent, CallbackDelivery, as_utc, utcnow
from tests.conftest import auth
from tests.review_helpers import make_reviewable, submit


class Receiver:
    """Answers the queued status codes in turn (then 200) and keeps every request it got."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?site=a"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver([500]) as running:
        yield running


def _row(study_id: str, event: str) -> CallbackDelivery:
    with session_scope() as session:
        return session.scalar(select(CallbackDelivery).where(CallbackDelivery.study_id == study_id,
                                                             CallbackDelivery.event == event))


def test_retried_after_a_500_with_back_off_and_signed(client, api_keys, receiver) -> None:
    study_id = submit(client, api_keys["submitter"], "ACC-CB", callback_url=receiver.url)
    make_reviewable(study_id)  # schedules draft_ready, as the generate stage does
    policy = RetryPolicy(base_delay_s=30)
    start = utcnow()

    first = callbacks.deliver_due(now=start, policy=policy)
    assert first["retry"] == 1 and len(receiver.requests) == 1
    row = _row(study_id, "draft_ready")
    assert row.attempts == 1 and row.delivered_at is None and row.last_error == "HTTP 500"
    assert as_utc(row.next_attempt_at) == start + timedelta(seconds=30)

    # Not due yet: the back-off is respected, nothing is sent.
    assert callbacks.deliver_due(now=start + timedelta(seconds=29), policy=policy)["retry"] == 0
    assert len(receiver.requests) == 1

    second = callbacks.deliver_due(now=start + timedelta(seconds=30), policy=policy)
    assert second["delivered"] == 1 and len(receiver.requests) == 2
    row = _row(study_id, "draft_ready")
    assert row.attempts == 2 and row.delivered_at is not None and row.last_error is None
    assert callbacks.deliver_due(now=start + timedelta(hours=1), policy=policy)["delivered"] == 0  # done is done

    request = receiver.requests[-1]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert request["path"] == "/hook?site=a"
    assert callbacks.verify(request["body"], headers["x-radstack-timestamp"], headers["x-radstack-signature"],
                            get_settings().secret_key)
    assert not callbacks.verify(request["body"] + b" ", headers["x-radstack-timestamp"],
                                headers["x-radstack-signature"])
    assert not callbacks.verify(request["body"], headers["x-radstack-timestamp"], headers["x-radstack-signature"],
                                "another-secret")
    assert headers["x-radstack-event"] == "draft_ready" and headers["x-radstack-delivery"].endswith("-2")
    body = json.loads(request["body"])
    base = f"/v1/studies/{study_id}"
    assert body == {"study_id": study_id, "event": "draft_ready", "status": "AWAITING_REVIEW",
                    "ups_state": "COMPLETED", "accession_number": "ACC-CB",
                    "links": {"self": base, "report_fhir": f"{base}/report.fhir.json", "audit": f"{base}/audit"}}
    with session_scope() as session:
        actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study_id)))
    assert "callback.delivered" in actions


def test_sign_off_and_addenda_are_called_back(client, api_keys) -> None:
    with Receiver([]) as receiver:
        study_id = submit(client, api_keys["submitter"], callback_url=receiver.url)
        make_reviewable(study_id)
        radiologist = auth(api_keys["radiologist"])
        assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"},
                           headers=radiologist).status_code == 200
        assert callbacks.deliver_due()["delivered"] == 2
        for text in ("First addendum.", "Second addendum."):
            assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "amend", "report_text": text},
                               headers=radiologist).status_code == 200
            # A repeated event re-arms its row: the integrator hears about every addendum.
            assert callbacks.deliver_due()["delivered"] == 1
    events = [(json.loads(r["body"])["event"], json.loads(r["body"])["status"]) for r in receiver.requests]
    # The payload is built when it is sent, so the late draft_ready already reports the sign-off.
    assert events == [("draft_ready", "SIGNED_OFF"), ("signed", "SIGNED_OFF"), ("amended", "AMENDED"),
                      ("amended", "AMENDED")]


def test_gives_up_after_the_last_attempt(client, api_keys) -> None:
    with Receiver([503] * 10) as receiver:
        study_id = submit(client, api_keys["submitter"], callback_url=receiver.url)
        make_reviewable(study_id)
        policy = RetryPolicy(max_attempts=3, base_delay_s=1)
        now = utcnow()
        outcomes = [callbacks.deliver_due(now=now + timedelta(minutes=i), policy=policy) for i in range(5)]
    assert [o["retry"] for o in outcomes] == [1, 1, 0, 0, 0] and outcomes[2]["given_up"] == 1
    assert len(receiver.requests) == 3
    row = _row(study_id, "draft_ready")
    assert row.attempts == 3 and row.delivered_at is None and row.last_error == "HTTP 503"
    with session_scope() as session:
        gave_up = session.scalar(select(AuditEvent).where(AuditEvent.study_id == study_id,
                                                          AuditEvent.action == "callback.gave_up"))
    assert gave_up.actor == "worker:callbacks" and gave_up.details["error"] == "HTTP 503"


def test_unreachable_receiver_is_an_error_not_a_crash(client, api_keys) -> None:
    with Receiver([]) as gone:
        url = gone.url
    study_id = submit(client, api_keys["submitter"], callback_url=url)
    make_reviewable(study_id)
    assert callbacks.deliver_due(policy=RetryPolicy(timeout_s=2))["retry"] == 1
    assert "ConnectError" in _row(study_id, "draft_ready").last_error


def test_nothing_is_owed_without_a_callback_url(client, api_keys) -> None:
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    with session_scope() as session:
        assert session.scalar(select(CallbackDelivery).where(CallbackDelivery.study_id == study_id)) is None
    assert callbacks.deliver_due() == {"delivered": 0, "retry": 0, "given_up": 0, "superseded": 0}


def test_task_runs_on_the_maintenance_queue_from_beat() -> None:
    from shared.celery_app import celery_app
    from shared.queues import TASK_ROUTES, Queue, TaskName

    assert TASK_ROUTES[TaskName.DELIVER_CALLBACKS.value] == {"queue": Queue.MAINTENANCE.value}
    entry = next(e for e in celery_app.conf.beat_schedule.values() if e["task"] == "callbacks.deliver")
    assert entry["options"]["queue"] == Queue.MAINTENANCE.value
