"""Turning an upload into a committed study: validate every file first, then store and write.

Nothing is stored before every file has decoded, so a bad file never leaves half a study. Blobs
are content-addressed: if the database write fails after they were stored, what is left is an
unreferenced, harmless file, never a study the pipeline could pick up.

Each file is reduced to a CheckedImage (header facts and the 8-bit PNG) as soon as it has
decoded, so a request's memory is one decoded image at a time, not one per file: 16 blank
50 Mpx PNGs are a few hundred KB on the wire and would be 3 GB of float pixels held at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class CheckedImage:
    """One upload that decoded, reduced to what the study needs. The patient id is kept only
    as its pseudonym, so this object never carries an identifier into a log or traceback."""

    source_format: str
    width: int
    height: int
    png8: bytes = field(repr=False)
    modality: str | None = None
    view_position: str | None = None
    accession_number: str | None = None
    study_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    patient_ref: str | None = None
    window_center: float | None = None
    window_width: float | None = None

    @classmethod
    def of(cls, image: DecodedImage, secret: str) -> CheckedImage:
        height, width = image.pixels.shape
        return cls(
            source_format=image.source_format, width=width, height=height, png8=encode_png8(image.pixels),
            modality=image.modality, view_position=image.view_position, accession_number=image.accession_number,
            study_instance_uid=image.study_instance_uid, sop_instance_uid=image.sop_instance_uid,
            patient_ref=pseudonymize(image.patient_id, secret), window_center=image.window_center,
            window_width=image.window_width,
        )


def clean_filename(name: str | None) -> str | None:
    """Keep only the last path component, without control characters: a file name is a label
    here, never a path, so traversal names like ../../etc/passwd cannot reach the disk."""
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name
    base = _CONTROL.sub("", base).strip()
    return base[:255] or None


def valid_accession(value: str) -> bool:
    return 0 < len(value) <= 64 and not _CONTROL.search(value)


def validate_fields(accession_number: str | None, priority: str | None, callback_url: str | None) -> tuple[str | None, str, str | None]:
    priority = (priority or "routine").strip().lower()
    if priority not in PRIORITIES:
        raise ApiError(400, "invalid_priority", f"priority must be one of {', '.join(PRIORITIES)}")
    if accession_number is not None:
        accession_number = accession_number.strip()
        if not valid_accession(accession_number):
            raise ApiError(400, "invalid_accession_number", "accession_number must be 1-64 printable characters")
    if callback_url:
        parsed = urlparse(callback_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or len(callback_url) > 2000:
            raise ApiError(400, "invalid_callback_url", "callback_url must be an absolute http(s) URL")
    return accession_number, priority, callback_url or None


def check_upload(upload: Upload, settings: Settings) -> CheckedImage:
    """Decode one file (IngestError if it is bad) and keep only what the study needs."""
    # One expression, so the float pixels are garbage as soon as the PNG is made.
    return CheckedImage.of(decode_image(upload.data, max_pixels=settings.max_image_pixels, filename=upload.filename),
                           settings.secret_key)


def decode_uploads(uploads: list[Upload], settings: Settings) -> list[CheckedImage]:
    if not uploads:
        raise ApiError(400, "missing_files", "at least one file is required in the 'files' field")
    if len(uploads) > settings.max_files_per_study:
        raise ApiError(413, "too_many_files", f"at most {settings.max_files_per_study} files per study")
    checked = []
    for index, upload in enumerate(uploads):
        try:
            checked.append(check_upload(upload, settings))
        except IngestError as exc:
            name = clean_filename(upload.filename) or f"file {index + 1}"
            raise type(exc)(f"{name}: {exc}") from exc
    return checked


def study_accession(form_value: str | None, checked: list[CheckedImage]) -> str:
    """The form field, else the DICOM AccessionNumber, else the StudyInstanceUID.

    A header value obeys the form field's rule: one decoded under the wrong character set
    (replacement characters), holding a NUL, or over 64 characters is refused, not stored
    mangled or cut, since it would then never match the RIS's."""
    if form_value:
        return form_value
    header = next((c.accession_number for c in checked if c.accession_number), None)
    if header is not None:
        if not valid_accession(header) or "\ufffd" in header:
            raise ApiError(400, "invalid_accession_number",
                           "the DICOM AccessionNumber is not 1-64 printable characters in its declared character "
                           "set; send accession_number as a form field")
        return header
    uid = next((c.study_instance_uid for c in checked if c.source_format == "dicom"), None)
    if not uid:
        raise ApiError(400, "missing_accession_number",
                       "accession_number is required (form field, or AccessionNumber in the DICOM header)")
    return uid


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
    checked: list[CheckedImage],
    accession_number: str | None,
    priority: str,
    callback_url: str | None,
    idempotency_key: str | None,
    store: BlobStore,
) -> Study:
    """Write the study, its images and its first two audit rows; the caller commits."""
    first_dicom = next((c for c in checked if c.source_format == "dicom"), None)
    # De-identified DICOM often has no AccessionNumber; its StudyInstanceUID still names the
    # study uniquely for the integrator, so it stands in.
    study = Study(
        client_id=client.id,
        accession_number=study_accession(accession_number, checked),
        priority=priority,
        status=StudyStatus.RECEIVED,
        idempotency_key=idempotency_key,
        callback_url=callback_url,
        study_instance_uid=first_dicom.study_instance_uid if first_dicom else None,
        patient_ref=first_dicom.patient_ref if first_dicom else None,
    )
    session.add(study)
    session.flush()
    for position, (upload, image) in enumerate(zip(uploads, checked, strict=True)):
        session.add(Image(
            study_id=study.id,
            position=position,
            original_sha256=store.put(upload.data),
            pixels_sha256=store.put(image.png8),
            source_format=image.source_format,
            filename=clean_filename(upload.filename),
            width=image.width,
            height=image.height,
            modality=image.modality,
            view_position=image.view_position,
            sop_instance_uid=image.sop_instance_uid,
            window_center=image.window_center,
            window_width=image.window_width,
        ))
    formats = sorted({c.source_format for c in checked})
    audit.record(session, actor=actor, action="study.received", study_id=study.id, to_status=StudyStatus.RECEIVED.value,
                 details={"images": len(checked), "priority": priority, "formats": formats})
    transition(session, study, StudyStatus.QUEUED, actor=actor)
    return study
