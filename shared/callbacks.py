"""Integrator callbacks: a small signed JSON POST when a draft is ready and when it is decided.

`schedule` only adds a row inside the caller's transaction, so the pipeline never waits on an
integrator's server; `deliver_due` (the maintenance queue's beat task) sends what is owed and
retries failures with exponential back-off, giving up after `RetryPolicy.max_attempts`.

Receivers verify the body with the shared secret (RADSTACK_SECRET_KEY):

    X-Radstack-Timestamp: 1767225600
    X-Radstack-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

The timestamp is inside the signed text so a captured request cannot be replayed later with a
fresh timestamp. Delivery is at least once: receivers dedupe on X-Radstack-Delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import audit
from shared.config import get_settings
from shared.models import CallbackDelivery, Study, as_utc, utcnow
from shared.status import StudyStatus

logger = logging.getLogger(__name__)

ACTOR = "worker:callbacks"
EVENTS = ("draft_ready", "signed", "amended", "rejected")
SIGNATURE_HEADER = "X-Radstack-Signature"
TIMESTAMP_HEADER = "X-Radstack-Timestamp"
EVENT_HEADER = "X-Radstack-Event"
DELIVERY_HEADER = "X-Radstack-Delivery"

_EVENT_FOR_STATUS = {
    StudyStatus.AWAITING_REVIEW: "draft_ready",
    StudyStatus.SIGNED_OFF: "signed",
    StudyStatus.AMENDED: "amended",
    StudyStatus.REJECTED: "rejected",
}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 10.0
    max_delay_s: float = 3600.0
    # A claimed row is invisible to a parallel run for this long, so two beat ticks that
    # overlap do not both send it; a crashed sender's claim simply expires.
    lease_s: float = 120.0
    timeout_s: float = 10.0

    def delay_after(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.base_delay_s * 2 ** max(attempts - 1, 0), self.max_delay_s))


def event_for(status: StudyStatus | str) -> str | None:
    return _EVENT_FOR_STATUS.get(StudyStatus(status))


def schedule(session: Session, study: Study, event: str | None) -> CallbackDelivery | None:
    """Owe the study's integrator a callback; a no-op without a callback_url.

    One row per (study, event): a repeated event (a second addendum) re-arms the row, and the
    payload is built at send time, so the integrator always hears the current status."""
    if event is None or not study.callback_url:
        return None
    if event not in EVENTS:
        raise ValueError(f"unknown callback event {event!r}")
    row = session.scalar(select(CallbackDelivery).where(
        CallbackDelivery.study_id == study.id, CallbackDelivery.event == event))
    if row is None:
        row = CallbackDelivery(study_id=study.id, event=event, url=study.callback_url, attempts=0,
                               next_attempt_at=utcnow())
        session.add(row)
    else:
        row.url, row.attempts, row.delivered_at, row.last_error = study.callback_url, 0, None, None
        row.next_attempt_at = utcnow()
    session.flush()
    return row


def sign(body: bytes, timestamp: int, secret: str | None = None) -> str:
    key = (secret if secret is not None else get_settings().secret_key).encode()
    return "sha256=" + hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(body: bytes, timestamp: str, signature: str, secret: str | None = None, *, tolerance_s: float = 300.0,
           now: float | None = None) -> bool:
    """What a receiver does: recompute the HMAC and refuse stale timestamps."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(body, ts, secret), signature)


def payload(study: Study, event: str) -> dict[str, Any]:
    base = f"/v1/studies/{study.id}"
    status = StudyStatus(study.status)
    return {
        "study_id": study.id,
        "event": event,
        "status": status.value,
        "ups_state": status.ups_state,
        "accession_number": study.accession_number,
        "links": {"self": base, "report_fhir": f"{base}/report.fhir.json", "audit": f"{base}/audit"},
    }


@dataclass(frozen=True)
class _Claim:
    id: int
    study_id: str
    event: str
    url: str
    attempt: int
    lease_until: datetime
    body: bytes


def _claim(make_session: Callable[[], Session], now: datetime, policy: RetryPolicy, limit: int) -> list[_Claim]:
    session = make_session()
    try:
        query = (select(CallbackDelivery)
                 .where(CallbackDelivery.delivered_at.is_(None), CallbackDelivery.attempts < policy.max_attempts,
                        CallbackDelivery.next_attempt_at <= now)
                 .order_by(CallbackDelivery.next_attempt_at).limit(limit))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        claims = []
        lease_until = now + timedelta(seconds=policy.lease_s)
        for row in session.scalars(query).all():
            study = session.get(Study, row.study_id)
            if study is None:
                continue
            row.next_attempt_at = lease_until
            body = json.dumps(payload(study, row.event), separators=(",", ":"), sort_keys=True).encode()
            claims.append(_Claim(row.id, row.study_id, row.event, row.url, row.attempts + 1, lease_until, body))
        session.commit()
        return claims
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _post(client: httpx.Client, claim: _Claim) -> str | None:
    """None on a 2xx answer, else what went wrong (kept on the row and, at the end, audited)."""
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "radstack-callbacks/1",
        SIGNATURE_HEADER: sign(claim.body, timestamp),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: claim.event,
        DELIVERY_HEADER: f"{claim.id}-{claim.attempt}",
    }
    try:
        response = client.post(claim.url, content=claim.body, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return f"{type(exc).__name__}: {exc}"[:2000]
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _record(make_session: Callable[[], Session], claim: _Claim, error: str | None, now: datetime,
            policy: RetryPolicy) -> str:
    session = make_session()
    try:
        row = session.get(CallbackDelivery, claim.id, with_for_update=session.get_bind().dialect.name == "postgresql")
        # Re-armed (a new event) or deleted while we were sending: leave it to the next run.
        if row is None or row.delivered_at is not None or as_utc(row.next_attempt_at) != as_utc(claim.lease_until):
            session.commit()
            return "superseded"
        row.attempts = claim.attempt
        details = {"event": claim.event, "attempts": row.attempts, "delivery_id": row.id}
        if error is None:
            row.delivered_at, row.last_error, outcome = now, None, "delivered"
            audit.record(session, actor=ACTOR, action="callback.delivered", study_id=claim.study_id, details=details)
        elif row.attempts >= policy.max_attempts:
            row.last_error, row.next_attempt_at, outcome = error, now, "given_up"
            audit.record(session, actor=ACTOR, action="callback.gave_up", study_id=claim.study_id,
                         details=details | {"error": error})
            logger.warning("callback %s for study %s given up after %d attempts: %s", claim.event,
                           claim.study_id, row.attempts, error)
        else:
            row.last_error, outcome = error, "retry"
            row.next_attempt_at = now + policy.delay_after(row.attempts)
            logger.info("callback %s for study %s failed (%s); retry at %s", claim.event, claim.study_id, error,
                        row.next_attempt_at.isoformat())
        session.commit()
        return outcome
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def deliver_due(
    make_session: Callable[[], Session] | None = None,
    now: datetime | None = None,
    *,
    policy: RetryPolicy | None = None,
    client: httpx.Client | None = None,
    limit: int = 50,
) -> dict[str, int]:
    """Send every callback that is due at `now`; returns counts per outcome.

    The HTTP calls happen between two short transactions, never inside one: a slow receiver
    must not hold a database lock (on SQLite, the only write lock)."""
    if make_session is None:
        from shared.db import session_factory

        make_session = session_factory()
    policy = policy or RetryPolicy()
    now = now or utcnow()
    counts = {"delivered": 0, "retry": 0, "given_up": 0, "superseded": 0}
    claims = _claim(make_session, now, policy, limit)
    if not claims:
        return counts
    own_client = client is None
    http = client or httpx.Client(timeout=policy.timeout_s, follow_redirects=False)
    try:
        for claim in claims:
            counts[_record(make_session, claim, _post(http, claim), now, policy)] += 1
    finally:
        if own_client:
            http.close()
    return counts
