"""DICOMweb STOW-RS (PS3.18 10.5): PACS push DICOM instances as multipart/related.

Instances are grouped by StudyInstanceUID into one radstack study each. The answer is the
standard DICOM JSON store response: ReferencedSOPSequence for stored instances (RetrieveURL
pointing at our study), FailedSOPSequence with a FailureReason for refused ones.

The body is split on its boundary as bytes. The email package would do it, but it turns the
whole body into a str first (2 bytes a character once any byte is over 0x7F) and copies it
again per part: about 9 times the body at peak, against 2 here (the body and its parts).
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import HTTP
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api_gateway.deps import SessionDep, Submitter
from api_gateway.errors import ApiError
from api_gateway.routes.studies import submit_uploads
from api_gateway.submissions import CheckedImage, Upload, check_upload
from shared.config import get_settings
from shared.ingest import IngestError
from shared.models import ApiKey

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])

# DICOM failure reasons (PS3.4 Annex GG): 0xA700 out of resources, 0xA900 data set does not
# match SOP class, 0xC000 cannot understand, 0x0122 SOP class not supported.
_FAILURE_REASON = {413: 0xA700, 415: 0x0122, 422: 0xC000, 400: 0xC000}


# RFC 2046 5.1.1: a boundary is 1 to 70 characters. Part headers are a few lines.
_MAX_BOUNDARY = 70
_MAX_PART_HEADERS = 16 << 10
# Failures of a whole study group (e.g. its AccessionNumber) that are the instance's fault.
_INSTANCE_FAULTS = frozenset(_FAILURE_REASON)


def _boundary(content_type: str) -> bytes:
    header = Message()
    header["Content-Type"] = content_type
    if header.get_content_type() != "multipart/related":
        raise ApiError(415, "unsupported_media_type", 'STOW-RS needs Content-Type multipart/related; type="application/dicom"')
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= _MAX_BOUNDARY:
        raise ApiError(400, "bad_multipart", "multipart/related needs a boundary of 1 to 70 characters")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError as exc:
        raise ApiError(400, "bad_multipart", "the multipart boundary is not ASCII") from exc


def _parts(content_type: str, body: bytearray | bytes) -> list[bytes]:
    dash = b"--" + _boundary(content_type)
    delimiter = b"\r\n" + dash
    if body.startswith(dash):
        cursor = len(dash)
    elif (found := body.find(delimiter)) >= 0:  # after a preamble
        cursor = found + len(delimiter)
    else:
        raise ApiError(400, "bad_multipart", "the body holds no part delimited by its boundary")
    parts = []
    while body[cursor : cursor + 2] != b"--":  # the close delimiter ends the body
        line_end = body.find(b"\r\n", cursor)  # the rest of the delimiter line is padding
        header_end = body.find(b"\r\n\r\n", line_end) if line_end >= 0 else -1
        if header_end < 0 or header_end - line_end > _MAX_PART_HEADERS:
            raise ApiError(400, "bad_multipart", "a part's headers are missing, cut off or too long")
        headers = BytesHeaderParser(policy=HTTP).parsebytes(bytes(body[line_end + 2 : header_end + 2]))
        end = body.find(delimiter, header_end + 4)
        if end < 0:
            raise ApiError(400, "bad_multipart", "the body ends before the closing boundary")
        parts.append(_payload(headers, body[header_end + 4 : end]))
        cursor = end + len(delimiter)
    if not parts:
        raise ApiError(400, "missing_files", "the multipart body holds no DICOM instance")
    return parts


def _payload(headers: Message, content: bytearray | bytes) -> bytes:
    if headers.get_content_type() != "application/dicom":
        raise ApiError(415, "unsupported_media_type",
                       f"part of type {headers.get_content_type()[:100]} is not application/dicom")
    encoding = str(headers.get("Content-Transfer-Encoding", "binary")).strip().lower()
    if encoding in ("binary", "8bit", "7bit"):
        return bytes(content)
    if encoding == "base64":
        try:
            return base64.b64decode(bytes(content))
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, "bad_multipart", "a base64 part does not decode") from exc
    raise ApiError(415, "unsupported_media_type", f"Content-Transfer-Encoding {encoding[:40]} is not supported")


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
    parts = _parts(request.headers.get("content-type", ""), body)
    del body  # the parts are copies; the body need not outlive the split
    # Decoding and database writes block: keep them off the event loop.
    payload, status = await run_in_threadpool(_store_parts, session, key, parts)
    return JSONResponse(payload, status_code=status, media_type="application/dicom+json")


def _store_parts(session: Session, key: ApiKey, parts: list[bytes]) -> tuple[dict[str, Any], int]:
    settings = get_settings()
    by_study: dict[str, list[tuple[Upload, CheckedImage, int]]] = defaultdict(list)
    failed: list[dict[str, Any]] = []

    def fail(index: int, status_code: int) -> None:
        failed.append({"00081197": _tag(_FAILURE_REASON.get(status_code, 0xC000), "US"),
                       "00081155": _tag(f"part-{index + 1}", "UI")})

    for index, data in enumerate(parts):
        upload = Upload(filename=None, data=data)
        try:
            checked = check_upload(upload, settings)
            if checked.source_format != "dicom":
                raise ApiError(415, "unsupported_media_type", "part is not a DICOM instance")
        except (IngestError, ApiError) as exc:
            fail(index, exc.status_code)
            continue
        by_study[checked.study_instance_uid or f"no-uid-{index}"].append((upload, checked, index))

    referenced: list[dict[str, Any]] = []
    for study_uid, group in by_study.items():
        try:
            view = submit_uploads(session, key, [u for u, _, _ in group], accession_number=None, priority=None,
                                  callback_url=None, response=Response(), checked=[c for _, c, _ in group],
                                  idempotency_key=f"stow:{study_uid}" if not study_uid.startswith("no-uid") else None)
        except ApiError as exc:
            if exc.status_code not in _INSTANCE_FAULTS:
                raise  # rate limit, full queue: the whole request is answered with it
            session.rollback()
            for _, _, index in group:
                fail(index, exc.status_code)
            continue
        referenced.append({"00081190": _tag(view["links"]["self"], "UR"), "0020000D": _tag(study_uid, "UI"),
                           "radstack": {"id": view["id"], "status": view["status"]}})
    payload: dict[str, Any] = {"00081199": {"vr": "SQ", "Value": referenced}}
    if failed:
        payload["00081198"] = {"vr": "SQ", "Value": failed}
    return payload, 200 if not failed else (202 if referenced else 409)
