"""Ingest error contract, format sniffing of non-images, and patient-id pseudonyms."""

from __future__ import annotations

import pytest

from shared.ingest import (
    DecodedImage,
    EmptyUpload,
    ImageTooLarge,
    IngestError,
    NotChestRadiograph,
    UnreadableImage,
    UnsupportedMedia,
    decode_image,
    pseudonymize,
    sniff_format,
)
from shared.ingest import errors as errors_module


@pytest.mark.parametrize(
    ("cls", "status", "code"),
    [
        (EmptyUpload, 400, "empty_upload"),
        (UnsupportedMedia, 415, "unsupported_media_type"),
        (NotChestRadiograph, 415, "not_chest_radiograph"),
        (UnreadableImage, 422, "unreadable_image"),
        (ImageTooLarge, 413, "image_too_large"),
    ],
)
def test_error_contract(cls: type[IngestError], status: int, code: str) -> None:
    err = cls("what went wrong")
    assert isinstance(err, IngestError) and isinstance(err, Exception)
    assert (err.status_code, err.code) == (status, code)
    assert (cls.status_code, cls.code) == (status, code)  # readable without an instance
    assert str(err) == err.message == "what went wrong"
    assert err.to_dict() == {"error": {"code": code, "message": "what went wrong"}}


def test_errors_are_re_exported() -> None:
    assert UnreadableImage is errors_module.UnreadableImage
    assert IngestError is errors_module.IngestError


@pytest.mark.parametrize("data", [b"", bytearray(), memoryview(b"")])
def test_empty_upload(data: bytes) -> None:
    with pytest.raises(EmptyUpload) as info:
        decode_image(data, max_pixels=1000)
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "data",
    [
        b"hello",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 10,
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"BM" + b"\0" * 100,  # BMP: Pillow could read it, the contract says DICOM/PNG/JPEG only
        b"II*\x00" + b"\0" * 200,  # TIFF
        b"\x08\x00\x05\x00" + b"junk that is not a data set" * 10,  # starts like a bare DICOM
        b"\0" * 127,
        b"\0" * 1000,
    ],
)
@pytest.mark.filterwarnings("ignore:Unknown encoding:UserWarning")
def test_non_images_are_unsupported(data: bytes) -> None:
    assert sniff_format(data) is None
    with pytest.raises(UnsupportedMedia) as info:
        decode_image(data, max_pixels=1000)
    assert info.value.status_code == 415 and info.value.code == "unsupported_media_type"


def test_text_named_dcm_is_unsupported_and_name_not_echoed() -> None:
    with pytest.raises(UnsupportedMedia) as info:
        decode_image(b"PatientName: Doe^Jane\n", max_pixels=1000, filename="Doe_Jane_chest.dcm")
    assert "DICOM" in info.value.message
    assert "Doe" not in info.value.message


def test_sniff_signatures() -> None:
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + b"\0" * 10) == "png"
    assert sniff_format(b"\xff\xd8\xff\xe0" + b"\0" * 10) == "jpeg"
    assert sniff_format(b"\0" * 128 + b"DICM" + b"\0" * 10) == "dicom"


def test_max_pixels_must_be_positive() -> None:
    with pytest.raises(ValueError):
        decode_image(b"hello", max_pixels=0)


def test_decoded_image_repr_has_no_identifiers() -> None:
    import numpy as np

    image = DecodedImage(pixels=np.zeros((2, 3), np.float32), source_format="dicom", patient_id="PAT-0042", accession_number="ACC9")
    assert "PAT-0042" not in repr(image) and "ACC9" not in repr(image)
    assert "3x2" in repr(image)


def test_pseudonymize() -> None:
    first = pseudonymize("PAT-0042", "secret-a")
    assert first is not None and len(first) == 32 and all(c in "0123456789abcdef" for c in first)
    assert pseudonymize("PAT-0042", "secret-a") == first  # stable
    assert pseudonymize(" PAT-0042  ", "secret-a") == first  # DICOM padding is insignificant
    assert pseudonymize("PAT-0042", "secret-b") != first  # keyed
    assert pseudonymize("PAT-0043", "secret-a") != first
    assert "PAT-0042" not in first and first != "PAT-0042"
    assert pseudonymize(None, "secret-a") is None
    assert pseudonymize("", "secret-a") is None
    assert pseudonymize("   ", "secret-a") is None
    # a 32-hex-char id must not come back unchanged either
    hexish = "0123456789abcdef0123456789abcdef"
    assert pseudonymize(hexish, "secret-a") != hexish


def test_pseudonymize_known_value() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"123", hashlib.sha256).hexdigest()[:32]
    assert pseudonymize("123", "k") == expected


def test_pseudonymize_refuses_empty_secret() -> None:
    with pytest.raises(ValueError):
        pseudonymize("PAT-0042", "")
