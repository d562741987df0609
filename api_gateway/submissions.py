"""Turning an upload into a committed study: validate every file first, then store and write.

Nothing is stored before every file has decoded, so a bad file never leaves half a study. Blobs
are content-addressed: if the database write fails after they were stored, what is left is an
unreferenced, harmless file, never a study the pipeline could pick up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from api_gateway.errors import ApiError
from shared import audit
from shared.config import Settings
from shared.ingest import DecodedImage, IngestError, decode_image, encode_png8, pseudonymize
from shared.models import ApiKey, Image, Study
from shared.status import StudyStatus
from shared.storage import BlobStore
from shared.studies import transition

PRIORITIES = ("stat", "routine")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Upload:
    filename: str | None
    data: bytes


def clean_filename(name: str | None) -> str | None:
    """Keep only the last path component, without control characters: a file name is a label
    here, never a path, so traversal names like ../../etc/passwd cannot reach the disk."""
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = _CONTROL.sub("", base).strip()
    return base[:255] or None


def validate_fields(accession_number: str | None, priority: str | None, callback_url: str | None) -> tuple[str | None, str, str | None]:
    priority = (priority or "routine").strip().lower()
    if priority not in PRIORITIES:
        raise ApiError(400, "invalid_priority", f"priority must be one of {', '.join(PRIORITIES)}")
    if accession_number is not None:
        accession_number = accession_number.strip()
        if not accession_number or len(accession_number) > 64 or _CONTROL.search(accession_number):
            raise ApiError(400, "invalid_accession_number", "accession_number must be 1-64 printable characters")
    if callback_url:
        parsed = urlparse(callback_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(callback_url) > 2000:
            raise ApiError(400, "invalid_callback_url", "callback_url must be an absolute http(s) URL")
    return accession_number, priority, callback_url or None


def decode_uploads(uploads: list[Upload], settings: Settings) -> list[DecodedImage]:
    if not uploads:
        raise ApiError(400, "missing_files", "at least one file is required in the 'files' field")
    if len(uploads) > settings.max_files_per_study:
        raise ApiError(413, "too_many_files", f"at most {settings.max_files_per_study} files per study")
    decoded = []
    for index, upload in enumerate(uploads):
        try:
            decoded.append(decode_image(upload.data, max_pixels=settings.max_image_pixels, filename=upload.filename))
        except IngestError as exc:
            name = clean_filename(upload.filename) or f"file {index + 1}"
            raise type(exc)(f"{name}: {exc}") from exc
    return decoded


def find_by_idempotency_key(session: Session, client: ApiKey, key: str | None) -> Study | None:
    if not key:
        return None
    return session.scalar(select(Study).where(Study.client_id == client.id, Study.idempotency_key == key))


def create_study(
    session: Session,
    *,
    client: ApiKey,
    actor: str,
    uploads: list[Upload],
    decoded: list[DecodedImage],
    accession_number: str | None,
    priority: str,
    callback_url: str | None,
    idempotency_key: str | None,
    store: BlobStore,
    settings: Settings,
) -> Study:
    """Write the study, its images and its first two audit rows; the caller commits."""
    first_dicom = next((d for d in decoded if d.source_format == "dicom"), None)
    # De-identified DICOM often has no AccessionNumber; its StudyInstanceUID still names the
    # study uniquely for the integrator, so it stands in.
    accession_number = (
        accession_number
        or next((d.accession_number for d in decoded if d.accession_number), None)
        or (first_dicom.study_instance_uid if first_dicom else None)
    )
    if not accession_number:
        raise ApiError(400, "missing_accession_number",
                       "accession_number is required (form field, or AccessionNumber in the DICOM header)")
    study = Study(
        client_id=client.id,
        accession_number=accession_number[:64],
        priority=priority,
        status=StudyStatus.RECEIVED,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
        study_instance_uid=first_dicom.study_instance_uid if first_dicom else None,
        patient_ref=pseudonymize(first_dicom.patient_id, settings.secret_key) if first_dicom else None,
    )
    session.add(study)
    session.flush()
    for position, (upload, image) in enumerate(zip(uploads, decoded, strict=True)):
        height, width = image.pixels.shape
        session.add(Image(
            study_id=study.id,
            position=position,
            original_sha256=store.put(upload.data),
            pixels_sha256=store.put(encode_png8(image.pixels)),
            source_format=image.source_format,
            filename=clean_filename(upload.filename),
            width=width,
            height=height,
            modality=image.modality,
            view_position=image.view_position,
            sop_instance_uid=image.sop_instance_uid,
            window_center=image.window_center,
            window_width=image.window_width,
        ))
    audit.record(session, actor=actor, action="study.received", study_id=study.id, to_status=StudyStatus.RECEIVED.value,
                 details={"images": len(decoded), "priority": priority, "formats": sorted({d.source_format for d in decoded})})
    transition(session, study, StudyStatus.QUEUED, actor=actor)
    return study
