"""Append-only, hash-chained audit trail.

hash = sha256(prev_hash || canonical JSON of the row). Editing, deleting, reordering or inserting
a row breaks the chain at that row, which `verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.models import AuditEvent, as_utc, utcnow

GENESIS_HASH = "0" * 64
# Any constant serves; it names the one advisory lock that serialises appends on PostgreSQL.
_PG_AUDIT_LOCK = 0x7261647374616B


def _timestamp(value: datetime) -> str:
    return as_utc(value).astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical_row(event: AuditEvent) -> str:
    return json.dumps(
        {
            "id": event.id,
            "created_at": _timestamp(event.created_at),
            "study_id": event.study_id,
            "actor": event.actor,
            "action": event.action,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "details": event.details or {},
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256((prev_hash + canonical_row(event)).encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    study_id: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Appends from concurrent transactions must see each other's last hash.
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    last = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    prev_hash = last.hash if last else GENESIS_HASH
    event = AuditEvent(
        id=(last.id + 1) if last else 1,
        created_at=utcnow(),
        study_id=study_id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        details=details or {},
        prev_hash=prev_hash,
    )
    event.hash = compute_hash(prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    problem: str | None = None


def verify_chain(session: Session) -> ChainReport:
    prev_hash = GENESIS_HASH
    expected_id = 1
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        count += 1
        if event.id != expected_id:
            return ChainReport(False, count, event.id, f"row ids jump from {expected_id - 1} to {event.id}")
        if event.prev_hash != prev_hash:
            return ChainReport(False, count, event.id, "prev_hash does not match the previous row")
        if compute_hash(prev_hash, event) != event.hash:
            return ChainReport(False, count, event.id, "row content does not match its hash")
        prev_hash = event.hash
        expected_id += 1
    return ChainReport(True, count)
