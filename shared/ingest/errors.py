"""Errors raised while turning uploaded bytes into a DecodedImage.

Each error carries the HTTP status and the machine-readable code the gateway puts in
``{"error": {"code", "message"}}``, so the gateway maps them with one ``except IngestError``
and workers that re-read a stored upload can record the same code. Messages are written for
the submitter: they name what is wrong with the file, never a patient identifier.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class: the upload cannot become an image for the pipeline."""

    status_code: int = 422
    code: str = "ingest_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The JSON error body of the HTTP contract."""
        return {"error": {"code": self.code, "message": self.message}}


class EmptyUpload(IngestError):
    """Zero bytes: a client bug, not a media problem, hence 400."""

    status_code = 400
    code = "empty_upload"


class UnsupportedMedia(IngestError):
    """Not DICOM, PNG or JPEG (or a DICOM encoding this install cannot decode)."""

    status_code = 415
    code = "unsupported_media_type"


class NotChestRadiograph(IngestError):
    """A DICOM that says it is not a chest radiograph (Modality or BodyPartExamined)."""

    status_code = 415
    code = "not_chest_radiograph"


class UnreadableImage(IngestError):
    """The right kind of file, but corrupt, truncated, without pixels, or self-contradictory."""

    status_code = 422
    code = "unreadable_image"


class ImageTooLarge(IngestError):
    """More pixels than allowed; raised from the header, before any pixel is decoded."""

    status_code = 413
    code = "image_too_large"


__all__ = [
    "EmptyUpload",
    "ImageTooLarge",
    "IngestError",
    "NotChestRadiograph",
    "UnreadableImage",
    "UnsupportedMedia",
]
