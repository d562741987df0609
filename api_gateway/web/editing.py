"""Saving a radiologist's edit of a draft without signing it.

An edit appends a human draft version (the machine draft is kept) and bumps the study version,
so a colleague who still holds the older page gets 409 on sign-off instead of signing text they
never saw. Signed text is never edited: after sign-off the only change is an addendum, through
review.decide.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from api_gateway.errors import ApiError
from shared import audit
from shared.models import ReportVersion, Study, utcnow
from shared.status import StudyStatus

MAX_REPORT_CHARS = 20_000  # the same cap as the API's SignoffRequest.report_text


def save_draft(session: Session, study: Study, text: str, *, version: int | None, actor: str) -> ReportVersion | None:
    """Append the edited draft; None when the text is unchanged. The caller commits."""
    if version is not None and version != study.version:
        raise ApiError(409, "stale_version", f"study is at version {study.version}, not {version}; reload it")
    if StudyStatus(study.status) != StudyStatus.AWAITING_REVIEW:
        raise ApiError(409, "not_editable",
                       "only a draft awaiting review can be edited; a signed report takes an addendum")
    text = text.strip()
    if not text:
        raise ApiError(400, "report_text_required", "the draft cannot be empty")
    if len(text) > MAX_REPORT_CHARS:
        raise ApiError(400, "report_text_too_long", f"the report may have at most {MAX_REPORT_CHARS} characters")
    current = study.reports[-1] if study.reports else None
    if current is not None and current.text == text:
        return None
    edited = ReportVersion(
        study_id=study.id, version=(current.version + 1) if current else 1, kind="draft", text=text,
        author=actor, writer="human", flags=[], is_demo=bool(current and current.is_demo),
    )
    study.reports.append(edited)
    study.version += 1
    study.updated_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, action="report.edited", study_id=study.id,
                 details={"report_version": edited.version, "chars": len(text),
                          "previous_version": current.version if current else None})
    return edited
