"""/v1/studies: submit, poll, list, audit trail, images, sign-off."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Query, Response, UploadFile
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api_gateway import views
from api_gateway.deps import Admin, CurrentKey, Radiologist, Reader, SessionDep, Submitter, actor_of, visible_study
from api_gateway.errors import ApiError
from api_gateway.limits import check_submission_allowed
from api_gateway.review import SignoffRequest, decide
from api_gateway.submissions import (
    CheckedImage, Upload, create_study, decode_uploads, find_by_idempotency_key, validate_fields,
)
from shared import audit
from shared.auth import Role
from shared.config import get_settings
from shared.models import AuditEvent, HeatMap, Image, Study
from shared.pipeline import try_enqueue
from shared.status import StudyStatus
from shared.storage import BlobNotFound, default_store
from shared.studies import lock_study, retry_failed

router = APIRouter(prefix="/v1", tags=["studies"])


def read_upload(upload: UploadFile, limit: int) -> Upload:
    # Read one byte past the limit: enough to know it is too large without reading it all.
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "file_too_large", f"{upload.filename or 'a file'} is larger than {limit} bytes")
    return Upload(filename=upload.filename, data=data)


def submit_uploads(
    session: SessionDep, key: Any, uploads: list[Upload], *, accession_number: str | None, priority: str | None,
    callback_url: str | None, idempotency_key: str | None, response: Response,
    checked: list[CheckedImage] | None = None,
) -> dict[str, Any]:
    """Shared by the multipart API and STOW-RS: validate, store, commit, then enqueue."""
    settings = get_settings()
    accession_number, priority_value, callback_url = validate_fields(accession_number, priority, callback_url)
    existing = find_by_idempotency_key(session, key, idempotency_key)
    if existing is not None:
        response.headers["Idempotent-Replayed"] = "true"
        return views.summary(existing)
    check_submission_allowed(key.id)
    session.commit()  # no transaction (on SQLite: no write lock) held while images decode
    checked = checked or decode_uploads(uploads, settings)
    try:
        study = create_study(
            session, client=key, actor=actor_of(key), uploads=uploads, checked=checked,
            accession_number=accession_number, priority=priority_value, callback_url=callback_url,
            idempotency_key=idempotency_key, store=default_store(),
        )
        session.commit()
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won the race: return its study.
        session.rollback()
        existing = find_by_idempotency_key(session, key, idempotency_key)
        if existing is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        return views.summary(existing)
    # Only now, with the study committed, may a worker see its id.
    try_enqueue(study.id)
    return views.summary(study)


@router.post("/studies", status_code=202, summary="Submit a study (DICOM, PNG or JPEG files)")
def submit_study(
    session: SessionDep,
    key: Submitter,
    response: Response,
    files: Annotated[list[UploadFile], File(description="one or more DICOM, PNG or JPEG files")] = [],  # noqa: B006
    accession_number: Annotated[str | None, Form()] = None,
    priority: Annotated[str | None, Form(description="stat | routine")] = None,
    callback_url: Annotated[str | None, Form()] = None,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> dict[str, Any]:
    limit = get_settings().max_upload_bytes
    uploads = [read_upload(f, limit) for f in files]
    return submit_uploads(session, key, uploads, accession_number=accession_number, priority=priority,
                          callback_url=callback_url, idempotency_key=idempotency_key, response=response)


@router.get("/studies", summary="List studies (a submitter sees only its own)")
def list_studies(
    session: SessionDep,
    key: Reader,
    status: Annotated[StudyStatus | None, Query()] = None,
    accession_number: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query = select(Study).order_by(Study.created_at.desc(), Study.id)
    if key.role == Role.SUBMITTER.value:
        query = query.where(Study.client_id == key.id)
    if status is not None:
        query = query.where(Study.status == status)
    if accession_number is not None:
        query = query.where(Study.accession_number == accession_number)
    studies = session.scalars(query.limit(limit).offset(offset)).all()
    return {"studies": [views.summary(s) for s in studies], "limit": limit, "offset": offset}


@router.get("/studies/{study_id}", summary="Status, findings, evidence and report of one study")
def get_study(session: SessionDep, key: Reader, study_id: str) -> dict[str, Any]:
    study = visible_study(session, key, study_id)
    if key.role == Role.RADIOLOGIST.value:
        audit.record(session, actor=actor_of(key), action="study.viewed", study_id=study.id)
    return views.detail(study)


@router.get("/studies/{study_id}/audit", summary="The study's audit trail")
def get_audit(session: SessionDep, key: Reader, study_id: str) -> dict[str, Any]:
    study = visible_study(session, key, study_id)
    events = session.scalars(select(AuditEvent).where(AuditEvent.study_id == study.id).order_by(AuditEvent.id))
    return {"study_id": study.id, "events": [views.audit_view(e) for e in events]}


@router.get("/studies/{study_id}/images/{image_id}.png", summary="The decoded image as 8-bit PNG",
            response_class=Response, responses={200: {"content": {"image/png": {}}}})
def get_image(session: SessionDep, key: Reader, study_id: str, image_id: str) -> Response:
    study = visible_study(session, key, study_id)
    image = session.get(Image, image_id)
    if image is None or image.study_id != study.id:
        raise ApiError(404, "not_found", f"no image {image_id} in study {study_id}")
    try:
        data = default_store().get(image.pixels_sha256)
    except BlobNotFound as exc:
        raise ApiError(404, "not_found", "image data is missing from the blob store") from exc
    return Response(content=data, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/studies/{study_id}/heatmaps/{heat_map_id}.{kind}", summary="A heat map: PNG overlay or .npy array",
            response_class=Response, responses={200: {"content": {"image/png": {}, "application/octet-stream": {}}}})
def get_heat_map(session: SessionDep, key: Reader, study_id: str, heat_map_id: int, kind: str) -> Response:
    study = visible_study(session, key, study_id)
    heat_map = session.get(HeatMap, heat_map_id)
    if heat_map is None or heat_map.study_id != study.id or kind not in ("png", "npy"):
        raise ApiError(404, "not_found", f"no heat map {heat_map_id}.{kind} in study {study_id}")
    digest = heat_map.overlay_sha256 if kind == "png" else heat_map.array_sha256
    try:
        data = default_store().get(digest)
    except BlobNotFound as exc:
        raise ApiError(404, "not_found", "heat map data is missing from the blob store") from exc
    return Response(content=data, media_type="image/png" if kind == "png" else "application/octet-stream")


@router.post("/studies/{study_id}/signoff", summary="Approve, amend or reject the draft (radiologist only)")
def signoff(session: SessionDep, key: Radiologist, study_id: str, request: SignoffRequest) -> dict[str, Any]:
    # Row lock: a second signer waits, then sees the new version and gets 409, not a 500.
    study = lock_study(session, visible_study(session, key, study_id).id)
    decide(session, study, request, actor=actor_of(key))
    session.commit()
    return views.detail(study)


@router.post("/studies/{study_id}/retry", summary="Send a FAILED study through the pipeline again (admin only)")
def retry_study(session: SessionDep, key: Admin, study_id: str) -> dict[str, Any]:
    study = visible_study(session, key, study_id)
    retry_failed(session, study, actor=actor_of(key))
    session.commit()
    try_enqueue(study.id)
    return views.summary(study)


@router.get("/worklist", summary="Studies awaiting review, most urgent first")
def worklist(session: SessionDep, key: CurrentKey, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    if key.role not in (Role.RADIOLOGIST.value, Role.ADMIN.value):
        raise ApiError(403, "forbidden", "the worklist is for radiologists and admins")
    studies = session.scalars(select(Study).where(Study.status == StudyStatus.AWAITING_REVIEW)).all()
    items = []
    for study in studies:
        critical = views.has_critical(study.findings)
        items.append((study.priority != "stat", not critical, study.created_at, study))
    items.sort(key=lambda item: item[:3])
    return {"studies": [
        views.summary(s) | {"critical": not not_critical, "top_findings": [
            views.finding_view(f) for f in views.study_level(s.findings) if f.positive][:3]}
        for _, not_critical, _, s in items[:limit]
    ]}
