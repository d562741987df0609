"""DICOMweb STOW-RS (PS3.18 10.5): PACS push DICOM instances as multipart/related.

Instances are grouped by StudyInstanceUID into one radstack study each. The answer is the
standard DICOM JSON store response: ReferencedSOPSequence for stored instances (RetrieveURL
pointing at our study), FailedSOPSequence with a FailureReason for refused ones.
"""

from __future__ import annotations

from collections import defaultdict
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api_gateway.deps import SessionDep, Submitter
from api_gateway.errors import ApiError
from api_gateway.routes.studies import submit_uploads
from api_gateway.submissions import Upload
from shared.config import get_settings
from shared.ingest import DecodedImage, IngestError, decode_image
from shared.models import ApiKey

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])

# DICOM failure reasons (PS3.4 Annex GG): 0xA700 out of resources, 0xA900 data set does not
# match SOP class, 0xC000 cannot understand, 0x0122 SOP class not supported.
_FAILURE_REASON = {413: 0xA700, 415: 0x0122, 422: 0xC000, 400: 0xC000}


def _parts(content_type: str, body: bytes) -> list[bytes]:
    if not content_type.lower().startswith("multipart/related"):
        raise ApiError(415, "unsupported_media_type", 'STOW-RS needs Content-Type multipart/related; type="application/dicom"')
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise ApiError(400, "bad_multipart", "the body is not a multipart/related message")
    parts = []
    for part in message.iter_parts():
        if part.get_content_type() != "application/dicom":
            raise ApiError(415, "unsupported_media_type", f"part of type {part.get_content_type()} is not application/dicom")
        parts.append(part.get_payload(decode=True) or b"")
    if not parts:
        raise ApiError(400, "missing_files", "the multipart body holds no DICOM instance")
    return parts


def _tag(value: Any, vr: str) -> dict[str, Any]:
    return {"vr": vr, "Value": [value]}


@router.post("/studies", summary="STOW-RS: store DICOM instances")
async def stow(request: Request, session: SessionDep, key: Submitter) -> Response:
    settings = get_settings()
    limit = settings.max_upload_bytes * settings.max_files_per_study
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise ApiError(413, "too_large", f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise ApiError(413, "too_large", f"request body is larger than {limit} bytes")
    parts = _parts(request.headers.get("content-type", ""), bytes(body))
    # Decoding and database writes block: keep them off the event loop.
    payload, status = await run_in_threadpool(_store_parts, session, key, parts)
    return JSONResponse(payload, status_code=status, media_type="application/dicom+json")


def _store_parts(session: Session, key: ApiKey, parts: list[bytes]) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    by_study: dict[str, list[tuple[Upload, DecodedImage]]] = defaultdict(list)
    failed: list[dict[str, Any]] = []
    for index, data in enumerate(parts):
        try:
            decoded = decode_image(data, max_pixels=settings.max_image_pixels)
            if decoded.source_format != "dicom":
                raise ApiError(415, "unsupported_media_type", "part is not a DICOM instance")
        except (IngestError, ApiError) as exc:
            failed.append({"00081197": _tag(_FAILURE_REASON.get(exc.status_code, 0xC000), "US"),
                           "00081155": _tag(f"part-{index + 1}", "UI")})
            continue
        group = by_study[decoded.study_instance_uid or f"no-uid-{index}"]
        group.append((Upload(filename=None, data=data), decoded))

    referenced: list[dict[str, Any]] = []
    for study_uid, group in by_study.items():
        view = submit_uploads(session, key, [u for u, _ in group], accession_number=None, priority=None,
                              callback_url=None, response=Response(), decoded=[d for _, d in group],
                              idempotency_key=f"stow:{study_uid}" if not study_uid.startswith("no-uid") else None)
        referenced.append({"00081190": _tag(view["links"]["self"], "UR"), "0020000D": _tag(study_uid, "UI"),
                           "radstack": {"id": view["id"], "status": view["status"]}})
    payload: dict[str, Any] = {"00081199": {"vr": "SQ", "Value": referenced}}
    if failed:
        payload["00081198"] = {"vr": "SQ", "Value": failed}
    return payload, 200 if not failed else (202 if referenced else 409)
