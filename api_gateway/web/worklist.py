"""The review queue as the pages show it: urgency order, waiting times, top findings, flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shared.findings import has_critical, study_level
from shared.labels import CRITICAL, display_name, is_chest_finding
from shared.models import ReportVersion, Study, as_utc, utcnow
from shared.status import PIPELINE_STATUSES, StudyStatus

# Filter name -> statuses shown (None: everything). The first is the default.
STATUS_FILTERS: dict[str, tuple[str, frozenset[StudyStatus] | None]] = {
    "awaiting": ("Awaiting review", frozenset({StudyStatus.AWAITING_REVIEW})),
    "signed": ("Signed off", frozenset({StudyStatus.SIGNED_OFF})),
    "amended": ("Amended", frozenset({StudyStatus.AMENDED})),
    "rejected": ("Rejected", frozenset({StudyStatus.REJECTED})),
    "pipeline": ("In pipeline", PIPELINE_STATUSES | {StudyStatus.RECEIVED}),
    "failed": ("Failed", frozenset({StudyStatus.FAILED})),
    "all": ("All", None),
}
DEFAULT_FILTER = "awaiting"
LIMIT = 200


@dataclass(frozen=True)
class Row:
    id: str
    accession_number: str
    priority: str
    status: str
    critical: bool
    is_demo: bool
    waiting: str
    waiting_s: float
    top_findings: list[dict[str, Any]]
    flags: list[str]


def urgency_key(study: Study) -> tuple[bool, bool, datetime]:
    """STAT first, then positive critical findings (pneumothorax, effusion, ...), then oldest."""
    return (study.priority != "stat", not has_critical(study.findings), as_utc(study.created_at))


def human_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def flag_text(flag: Any) -> str:
    """One line per consistency flag, whatever keys the drafting stage used."""
    if not isinstance(flag, dict):
        return str(flag)
    for key in ("message", "detail", "text", "description"):
        if flag.get(key):
            return str(flag[key])
    kind = str(flag.get("kind") or flag.get("type") or "flag").replace("_", " ")
    label = flag.get("label")
    return f"{kind}: {display_name(str(label))}" if label else kind


def ai_draft(study: Study) -> ReportVersion | None:
    """The machine-written draft (whose consistency flags the page shows), if any."""
    drafts = [r for r in study.reports if r.kind == "draft" and r.writer != "human"]
    return drafts[-1] if drafts else None


def top_findings(study: Study, limit: int = 3) -> list[dict[str, Any]]:
    return [
        {"label": f.label, "name": display_name(f.label), "probability": f.probability,
         "critical": f.label in CRITICAL}
        for f in study_level(study.findings) if f.positive and is_chest_finding(f.label)
    ][:limit]


def to_row(study: Study, now: datetime) -> Row:
    waiting_s = (now - as_utc(study.created_at)).total_seconds()
    draft = ai_draft(study)
    return Row(
        id=study.id, accession_number=study.accession_number, priority=study.priority,
        status=StudyStatus(study.status).value, critical=has_critical(study.findings),
        is_demo=any(f.is_demo for f in study.findings), waiting=human_duration(waiting_s), waiting_s=waiting_s,
        top_findings=top_findings(study), flags=[flag_text(f) for f in (draft.flags if draft else [])],
    )


def load(session: Session, filter_name: str) -> list[Study]:
    _, statuses = STATUS_FILTERS.get(filter_name, STATUS_FILTERS[DEFAULT_FILTER])
    query = select(Study).options(selectinload(Study.findings), selectinload(Study.reports))
    if statuses is not None:
        query = query.where(Study.status.in_(statuses))
    if statuses == STATUS_FILTERS["awaiting"][1]:
        return sorted(session.scalars(query).all(), key=urgency_key)[:LIMIT]
    # Done or in-flight work: most recently changed first is what a reader looks for.
    return list(session.scalars(query.order_by(Study.updated_at.desc()).limit(LIMIT)).all())


def rows(session: Session, filter_name: str) -> list[Row]:
    now = utcnow()
    return [to_row(study, now) for study in load(session, filter_name)]


def neighbours(session: Session, study_id: str) -> tuple[str | None, str | None]:
    """Previous and next study in the awaiting-review queue. From a study that has left the
    queue (just signed), "next" is the most urgent one still waiting."""
    queue = [s.id for s in load(session, DEFAULT_FILTER)]
    if study_id not in queue:
        return None, (queue[0] if queue else None)
    index = queue.index(study_id)
    return (queue[index - 1] if index > 0 else None), (queue[index + 1] if index + 1 < len(queue) else None)
