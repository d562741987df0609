"""Study status changes: the one function that moves a study, with its audit row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from shared import audit
from shared.models import Study, utcnow
from shared.status import StudyStatus, check_transition


class StudyNotFound(LookupError):
    pass


def lock_study(session: Session, study_id: str) -> Study:
    """Load a study for update: on PostgreSQL a row lock; SQLite's BEGIN IMMEDIATE already
    serialises writers. Always re-read, never trust an object from an earlier transaction."""
    study = session.scalar(_for_update(session, study_id))
    if study is None:
        raise StudyNotFound(study_id)
    return study


def lock_study_if_free(session: Session, study_id: str) -> Study | None:
    """The locked study, or None when another transaction holds it (PostgreSQL SKIP LOCKED):
    for housekeeping that must not queue behind a worker busy with that very study."""
    return session.scalar(_for_update(session, study_id, skip_locked=True))


def _for_update(session: Session, study_id: str, *, skip_locked: bool = False) -> Select[tuple[Study]]:
    query = select(Study).where(Study.id == study_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=skip_locked)
    return query


def transition(
    session: Session,
    study: Study,
    target: StudyStatus,
    *,
    actor: str,
    action: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    current = StudyStatus(study.status)
    check_transition(current, target)
    study.status = target
    study.updated_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action=action or f"status.{target.value.lower()}",
        study_id=study.id,
        from_status=current.value,
        to_status=target.value,
        details=details,
    )
    session.flush()


def mark_failed(session: Session, study_id: str, *, actor: str, reason: str) -> bool:
    """Move a study in the pipeline to FAILED; False if it had already left the pipeline."""
    study = lock_study(session, study_id)
    if not StudyStatus(study.status).in_pipeline and study.status != StudyStatus.RECEIVED:
        return False
    study.error = reason
    transition(session, study, StudyStatus.FAILED, actor=actor, details={"reason": reason})
    return True


def retry_failed(session: Session, study: Study, *, actor: str) -> None:
    """FAILED -> QUEUED with a fresh attempt budget; the caller enqueues after commit."""
    study.error = None
    study.attempts = 0
    transition(session, study, StudyStatus.QUEUED, actor=actor, action="study.retried")
