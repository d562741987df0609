"""Image ingest: uploaded bytes (DICOM, PNG, JPEG) -> one grey radiograph in [0, 1].

The gateway calls ``decode_image`` on every upload and maps ``IngestError`` to the HTTP error
body; the workers call it again on the stored upload and keep ``encode_png8`` output for the
review UI. The format is decided from the bytes, never from the file name or the client's
Content-Type, because both are routinely wrong (PACS exports named ``.jpg``, ``.dcm`` text).
"""

from __future__ import annotations

import hashlib
import hmac

from .dicom import decode_dicom
from .dicom_header import looks_like_dicom
from .errors import (
    EmptyUpload,
    ImageTooLarge,
    IngestError,
    NotChestRadiograph,
    UnreadableImage,
    UnsupportedMedia,
)
from .pixels import DecodedImage
from .raster import decode_png8, decode_raster, encode_png8

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"


def sniff_format(data: bytes) -> str | None:
    """"dicom", "png" or "jpeg" from the content; None for anything else."""
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:3] == _JPEG_SOI:
        return "jpeg"
    if looks_like_dicom(data):
        return "dicom"
    return None


def decode_image(data: bytes, *, max_pixels: int, filename: str | None = None) -> DecodedImage:
    """Decode one upload, or raise the IngestError the gateway should answer with.

    ``max_pixels`` bounds rows x columns and is checked from the header before decoding.
    ``filename`` only sharpens the error message; it never changes how the bytes are read
    (and is never echoed back, since file names often carry patient names).
    """
    if max_pixels <= 0:
        raise ValueError("max_pixels must be positive")
    if not data:
        raise EmptyUpload("the uploaded file is empty")
    if not isinstance(data, bytes):
        data = bytes(data)  # bytearray / memoryview from a multipart parser
    fmt = sniff_format(data)
    if fmt is None:
        hint = ""
        if filename and filename.lower().endswith((".dcm", ".dicom")):
            hint = " (the file name says DICOM, but the content is not a DICOM data set)"
        raise UnsupportedMedia(f"not a DICOM, PNG or JPEG image{hint}")
    try:
        if fmt == "dicom":
            return decode_dicom(data, max_pixels)
        return decode_raster(data, fmt, max_pixels)
    except (IngestError, MemoryError):
        raise
    except Exception as exc:
        # The readers already translate what they expect; this is the backstop that keeps
        # the promise "an upload never produces a 500".
        raise UnreadableImage(f"{fmt.upper()} image could not be decoded") from exc


def pseudonymize(patient_id: str | None, secret: str) -> str | None:
    """Keyed, stable pseudonym for a patient identifier: HMAC-SHA256, first 32 hex chars.

    Surrounding whitespace is insignificant in DICOM LO values, so " 123 " and "123" are the
    same patient. The secret must be non-empty: without a key this is a plain hash, and a
    hospital's identifier space is small enough to reverse one by enumeration.
    """
    if patient_id is None:
        return None
    text = str(patient_id).strip()
    if not text:
        return None
    if not secret:
        raise ValueError("pseudonymize needs a non-empty secret")
    digest = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:32]


__all__ = [
    "DecodedImage",
    "EmptyUpload",
    "ImageTooLarge",
    "IngestError",
    "NotChestRadiograph",
    "UnreadableImage",
    "UnsupportedMedia",
    "decode_image",
    "decode_png8",
    "encode_png8",
    "pseudonymize",
    "sniff_format",
]
