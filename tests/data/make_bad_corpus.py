"""The bad-input corpus: uploads a PACS, a broken modality or an attacker might send to
POST /v1/studies, each with the answer the gateway owes it.

Run by hand from the repository root to look at the files
(`.venv/bin/python -m tests.data.make_bad_corpus [folder]`, default
tests/data/bad/); the tests import `build(folder)` and generate it into a tmp dir, so nothing
generated is committed. Everything is derived from samples/cxr/ with pydicom and Pillow, or
written byte by byte where a library would refuse to write something that broken.
"""

from __future__ import annotations

import io
import json
import struct
import sys
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from tests.shared.dicom_builders import retag_transfer_syntax

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "samples" / "cxr"
DEFAULT_FOLDER = Path(__file__).resolve().parent / "bad"

SQL_HTML_ACCESSION = "<script>alert(1)</script>'; DROP TABLE studies;--"


@dataclass(frozen=True)
class Case:
    name: str
    filename: str | None  # the multipart file name (a label only); None: no file part at all
    data: bytes
    status: int
    code: str | None  # the error code; None for an accepted (202) case
    description: str
    fields: dict[str, str | bytes] = field(default_factory=dict)
    copies: int = 1  # how many times the file part is repeated in one request
    # For accepted cases: what the study must hold afterwards.
    stored_accession: str | None = None
    stored_filename: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 202

    def multipart(self) -> tuple[list[tuple[str, tuple[str | None, bytes]]], dict[str, str | bytes]]:
        """(files, data) as httpx / TestClient take them."""
        files = [("files", (self.filename, self.data))] * self.copies if self.filename is not None else []
        return files, dict(self.fields)


# --- builders ---------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def png_of_zeros(width: int, height: int, bit_depth: int = 8) -> bytes:
    """A complete, valid greyscale PNG of zeros, written without ever holding the raw image:
    kilobytes on the wire, width x height once decoded (the decompression bomb's shape)."""
    row = b"\0" * (1 + (width * bit_depth + 7) // 8)  # filter byte + packed samples
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF segment claiming another size (a header-only JPEG bomb)."""
    offset = 2
    while offset + 4 <= len(data):
        marker = data[offset + 1]
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: offset + 5] + struct.pack(">HH", height, width) + data[offset + 9 :]
        offset += 2 + length
    raise ValueError("no SOF segment found")


def _dataset() -> pydicom.Dataset:
    return pydicom.dcmread(SAMPLES / "rsna_cr_pa_monochrome2.dcm")


def _save(ds: pydicom.Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicom(**changes: object) -> bytes:
    ds = _dataset()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return _save(ds)


def dicom_without_pixels() -> bytes:
    ds = _dataset()
    del ds.PixelData
    return _save(ds)


def dicom_raw_bytes_labelled_jpeg() -> bytes:
    """Native pixels, file meta says JPEG Baseline: the transfer syntax lies."""
    ds = _dataset()
    ds.set_pixel_data(ds.pixel_array, photometric_interpretation="MONOCHROME2", bits_stored=8)
    data = _save(ds)
    return retag_transfer_syntax(data, JPEGBaseline8Bit)


def dicom_jpeg_labelled_native() -> bytes:
    """Encapsulated JPEG fragments, file meta says Explicit VR Little Endian."""
    return retag_transfer_syntax((SAMPLES / "rsna_cr_pa_monochrome2.dcm").read_bytes(), ExplicitVRLittleEndian)




def dicom_with_raw_text(charset: str | None, **raw: bytes) -> bytes:
    """A DICOM whose text attributes hold exactly the given bytes, whatever the character set
    claims (pydicom would encode a str correctly, which is the one thing we don't want)."""
    ds = _dataset()
    if charset is None:
        ds.pop("SpecificCharacterSet", None)
    else:
        ds.SpecificCharacterSet = charset
    markers = {}
    for index, (keyword, value) in enumerate(raw.items()):
        marker = (f"Q{index}" + "Z" * len(value))[: len(value)]  # same length: no lengths to fix
        setattr(ds, keyword, marker)
        markers[marker.encode()] = value
    data = _save(ds)
    for marker, value in markers.items():
        assert data.count(marker) == 1, marker
        data = data.replace(marker, value)
    return data


# --- the corpus -------------------------------------------------------------------------------


def build(folder: Path) -> list[Case]:
    """Make every case, write its upload into `folder` with a manifest, and return them."""
    built = cases()
    write(folder, built)
    return built


def cases() -> list[Case]:
    """Every case, in memory (a few MB in all; the bombs are small on purpose)."""
    with warnings.catch_warnings():
        # pydicom warns about the very values these files are made to hold.
        warnings.simplefilter("ignore")
        return _cases()


def _cases() -> list[Case]:
    png = (SAMPLES / "00000001_000.png").read_bytes()
    jpeg = (SAMPLES / "16747_3_1.jpg").read_bytes()
    mono2 = (SAMPLES / "rsna_cr_pa_monochrome2.dcm").read_bytes()
    small_png = png_of_zeros(64, 64)
    acc = {"accession_number": "ACC-CORPUS"}
    latin1_name = b"M\xfcller^J\xf6rg"  # "Müller^Jörg" in ISO 8859-1: invalid as UTF-8
    return [
        # Broken images.
        Case("truncated_png", "x.png", png[:5000], 422, "unreadable_image", "PNG cut off inside IDAT", acc),
        Case("truncated_jpeg", "x.jpg", jpeg[:3000], 422, "unreadable_image", "JPEG cut off inside the scan", acc),
        Case("truncated_dicom", "x.dcm", mono2[:60000], 422, "unreadable_image", "DICOM cut off in the pixel data",
             acc),
        Case("dicm_then_garbage", "x.dcm", b"\0" * 128 + b"DICM" + b"\xff" * 300, 422, "unreadable_image",
             "DICOM magic followed by garbage", acc),
        # Decompression bombs: small on the wire, huge once decoded; refused from the header.
        Case("png_bomb_gigapixel", "bomb.png", png_of_zeros(30000, 30000, bit_depth=1), 413, "image_too_large",
             "1-bit PNG of 30000 x 30000 (900 Mpx, ~100 KB), past Pillow's own bomb limit", acc),
        Case("png_bomb_over_limit", "bomb.png", png_of_zeros(8000, 8000), 413, "image_too_large",
             "8-bit PNG of 8000 x 8000 (64 Mpx), over RADSTACK_MAX_IMAGE_PIXELS", acc),
        Case("jpeg_bomb_header", "bomb.jpg", jpeg_with_size(jpeg, 60000, 60000), 413, "image_too_large",
             "JPEG whose SOF claims 60000 x 60000", acc),
        Case("dicom_bomb_header", "bomb.dcm", dicom(Rows=60000, Columns=60000), 413, "image_too_large",
             "DICOM Rows/Columns 60000 over a 1024 x 1024 JPEG", acc),
        # Within the per-image limit, but 16 of them in one study: a few hundred KB on the wire.
        # Accepted (the limits allow it); what matters is that memory does not grow with the count.
        Case("png_blank_x16", "big.png", png_of_zeros(4096, 4096), 202, None,
             "16 PNGs of 4096 x 4096 zeros (16.8 Mpx each, 16 KB on the wire) in one study",
             {"accession_number": "ACC-BIG"}, copies=16, stored_accession="ACC-BIG", stored_filename="big.png"),
        # DICOM that is not what it says, or not a chest radiograph.
        Case("dicom_no_pixel_data", "x.dcm", dicom_without_pixels(), 422, "unreadable_image",
             "CR chest DICOM without (7FE0,0010)", acc),
        Case("dicom_says_jpeg_holds_raw", "x.dcm", dicom_raw_bytes_labelled_jpeg(), 422, "unreadable_image",
             "transfer syntax JPEG Baseline, pixel data native", acc),
        Case("dicom_says_native_holds_jpeg", "x.dcm", dicom_jpeg_labelled_native(), 422, "unreadable_image",
             "transfer syntax Explicit VR LE, pixel data encapsulated JPEG", acc),
        Case("dicom_ct", "ct.dcm", dicom(Modality="CT"), 415, "not_chest_radiograph", "Modality CT", acc),
        Case("dicom_mr", "mr.dcm", dicom(Modality="MR"), 415, "not_chest_radiograph", "Modality MR", acc),
        # Not images at all.
        Case("zero_bytes", "x.png", b"", 400, "empty_upload", "a zero-byte file", acc),
        Case("text_named_dcm", "report.dcm", b"Patient: DOE^JOHN\nthis is not DICOM\n" * 10, 415,
             "unsupported_media_type", "a text file named .dcm", acc),
        Case("pdf_named_png", "scan.png", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" * 20, 415,
             "unsupported_media_type", "a PDF named .png", acc),
        # Oversized or too many multipart fields and parts.
        Case("huge_accession_field", "x.png", small_png, 400, "bad_request",
             "accession_number of 4 MiB (over the multipart parser's 1 MiB part limit)",
             {"accession_number": "A" * (4 << 20)}),
        Case("long_accession_field", "x.png", small_png, 400, "invalid_accession_number",
             "accession_number of 512 KiB (under the parser limit, over 64 characters)",
             {"accession_number": "A" * (512 << 10)}),
        Case("huge_callback_field", "x.png", small_png, 400, "bad_request", "callback_url of 2 MiB",
             {"accession_number": "A", "callback_url": "http://x/" + "a" * (2 << 20)}),
        Case("long_filename", "A" * 4000 + ".png", small_png, 202, None,
             "a 4000-character file name: kept as a label of at most 255 characters",
             {"accession_number": "ACC-LONGNAME"}, stored_accession="ACC-LONGNAME", stored_filename="A" * 255),
        Case("huge_filename", "A" * (1 << 20) + ".png", small_png, 400, "bad_request",
             "a 1 MiB file name: the multipart parser refuses the part header", acc),
        Case("too_many_files", "x.png", small_png, 413, "too_many_files", "17 files, one over the limit", acc,
             copies=17),
        Case("thousand_files", "x.png", small_png, 400, "bad_request",
             "1001 file parts (over the multipart parser's part limit)", acc, copies=1001),
        Case("no_files", None, b"", 400, "missing_files", "fields but no file part", acc),
        # File names are labels, never paths.
        Case("traversal_name_valid_png", "../../etc/passwd.png", small_png, 202, None,
             "path-traversal name on a valid PNG: stored as the label passwd.png",
             {"accession_number": "ACC-TRAVERSAL"}, stored_accession="ACC-TRAVERSAL", stored_filename="passwd.png"),
        Case("traversal_name_windows", "..\\..\\Windows\\win.ini.png", small_png, 202, None,
             "Windows path-traversal name on a valid PNG", {"accession_number": "ACC-TRAVERSAL-WIN"},
             stored_accession="ACC-TRAVERSAL-WIN", stored_filename="win.ini.png"),
        Case("traversal_name_bad_png", "../../etc/passwd.png", png[:5000], 422, "unreadable_image",
             "path-traversal name on a truncated PNG", acc),
        Case("traversal_name_text", "/etc/passwd", b"root:x:0:0:root:/root:/bin/bash\n", 415,
             "unsupported_media_type", "absolute path name on a text file", acc),
        # Text that is not valid in the character set the header declares.
        Case("dicom_latin1_declared", "x.dcm",
             dicom_with_raw_text("ISO_IR 100", PatientName=latin1_name, AccessionNumber=b"ACC\xc9"), 202, None,
             "ISO 8859-1 names under ISO_IR 100: decoded, accession stored as 'ACCÉ'",
             stored_accession="ACC\u00c9"),
        Case("dicom_latin1_under_utf8", "x.dcm",
             dicom_with_raw_text("ISO_IR 192", PatientName=latin1_name, PatientID=b"P\xff\xfe01"), 202, None,
             "ISO 8859-1 PatientName and invalid PatientID bytes under ISO_IR 192 (UTF-8); neither is stored",
             {"accession_number": "ACC-UTF8"}, stored_accession="ACC-UTF8"),
        Case("dicom_unknown_charset", "x.dcm",
             dicom_with_raw_text("ISO_IR 999", PatientName=latin1_name, AccessionNumber=b"ACC-UNKNOWN-CS"), 202,
             None, "an unknown SpecificCharacterSet: pydicom falls back to the default repertoire",
             stored_accession="ACC-UNKNOWN-CS"),
        Case("dicom_invalid_utf8_accession", "x.dcm",
             dicom_with_raw_text("ISO_IR 192", AccessionNumber=b"ACC\xe9\xff"), 400, "invalid_accession_number",
             "AccessionNumber bytes that are not UTF-8 under ISO_IR 192 and no form field: refused, since "
             "a mangled accession number would never match the RIS"),
        Case("dicom_invalid_utf8_accession_form", "x.dcm",
             dicom_with_raw_text("ISO_IR 192", AccessionNumber=b"ACC\xe9\xff"), 202, None,
             "the same file with accession_number as a form field: the field wins, accepted",
             {"accession_number": "ACC-FORM"}, stored_accession="ACC-FORM"),
        Case("dicom_nul_accession", "x.dcm", dicom_with_raw_text("ISO_IR 100", AccessionNumber=b"AC\x00C1"), 400,
             "invalid_accession_number", "a NUL byte inside AccessionNumber (PostgreSQL cannot store it)"),
        Case("dicom_bad_study_uid", "x.dcm",
             dicom_with_raw_text("ISO_IR 100", StudyInstanceUID=b"1.2.\xe9\x00.4"), 422, "unreadable_image",
             "StudyInstanceUID with non-UID characters and a NUL", acc),
        Case("dicom_long_view_position", "x.dcm",
             dicom_with_raw_text("ISO_IR 100", ViewPosition=b"POSTERO_ANTERIOR_ERECT_X"), 202, None,
             "ViewPosition over the 16 characters of a CS: informational, dropped, accepted",
             {"accession_number": "ACC-VIEW"}, stored_accession="ACC-VIEW"),
        Case("form_field_latin1_bytes", "x.png", small_png, 202, None,
             "accession_number field bytes that are not UTF-8: read as ISO 8859-1 by the parser",
             {"accession_number": b"ACC-\xff"}, stored_accession="ACC-\u00ff"),
        # Hostile text that must be stored verbatim and never executed or rendered as markup.
        Case("sql_html_accession", "x.png", small_png, 202, None,
             "SQL and HTML in accession_number: stored verbatim", {"accession_number": SQL_HTML_ACCESSION},
             stored_accession=SQL_HTML_ACCESSION),
    ]


def write(folder: Path, built: list[Case]) -> None:
    """Each upload as <case>.bin (never under its hostile file name) plus manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = []
    for case in built:
        (folder / f"{case.name}.bin").write_bytes(case.data)
        manifest.append({
            "name": case.name, "file": f"{case.name}.bin", "filename": (case.filename or "")[:300],
            "copies": case.copies, "status": case.status, "code": case.code, "description": case.description,
            "fields": {k: len(v) for k, v in case.fields.items()},  # sizes only: some are megabytes
        })
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    built = build(target)
    print(f"{len(built)} cases written to {target}")
