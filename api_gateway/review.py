"""Radiologist decisions on a draft: approve, amend (and sign, or add an addendum), reject.

A signed text is never edited in place: every decision appends a report version, and a change
after sign-off is an addendum that moves the study to AMENDED with the original kept.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api_gateway.errors import ApiError
from shared import callbacks
from shared.models import ReportVersion, Study
from shared.status import StudyStatus
from shared.studies import transition


class SignoffRequest(BaseModel):
    # Unknown fields (status, signed_by, ...) are refused, never silently applied.
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "amend", "reject"]
    report_text: str | None = Field(default=None, max_length=20_000)
    reason: str | None = Field(default=None, max_length=2_000)
    # The study version the reviewer saw; a different current version means someone else
    # decided in between, and the request is refused with 409 instead of overwriting.
    version: int | None = None


def decide(session: Session, study: Study, request: SignoffRequest, *, actor: str) -> ReportVersion:
    if request.version is not None and request.version != study.version:
        raise ApiError(409, "stale_version", f"study is at version {study.version}, not {request.version}; reload it")
    status = StudyStatus(study.status)
    current = study.reports[-1] if study.reports else None
    text = (request.report_text or "").strip()
    reason = (request.reason or "").strip() or None

    if request.decision == "reject":
        if not reason:
            raise ApiError(400, "reason_required", "a rejection needs a reason")
        target, kind, text = StudyStatus.REJECTED, "rejected", current.text if current else ""
    elif request.decision == "approve":
        if status != StudyStatus.AWAITING_REVIEW:
            raise ApiError(409, "illegal_transition", f"only a study awaiting review can be approved (it is {status.value})")
        if current is None:
            raise ApiError(409, "no_draft", "the study has no draft to approve")
        target, kind, text = StudyStatus.SIGNED_OFF, "signed", text or current.text
    else:
        if not text:
            raise ApiError(400, "report_text_required", "an amendment needs report_text")
        if status == StudyStatus.AWAITING_REVIEW:
            target, kind = StudyStatus.SIGNED_OFF, "signed"
        else:
            target, kind = StudyStatus.AMENDED, "addendum"

    transition(session, study, target, actor=actor, action=f"review.{request.decision}",
               details={"reason": reason, "edited": bool(current and text != current.text)})
    callbacks.schedule(session, study, callbacks.event_for(target))
    version = ReportVersion(
        study_id=study.id,
        version=(current.version + 1) if current else 1,
        kind=kind,
        text=text,
        author=actor,
        writer="human",
        flags=[],
        reason=reason,
        is_demo=bool(current and current.is_demo),
    )
    study.reports.append(version)  # keeps the loaded relationship current for the response
    study.version += 1
    session.flush()
    return version
