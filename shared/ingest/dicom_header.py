"""DICOM header helpers: sniffing, the deflate-bomb guard, and tolerant attribute readers.

Kept apart from dicom.py so the decoder reads as the sequence of decisions it makes; nothing
here touches pixel data.
"""

from __future__ import annotations

import io
import math
import zlib
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
# _read_file_meta_info is private, but it is the only pydicom call that reads the file meta
# from a buffer without going on to parse (and inflate) the data set behind it.
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.multival import MultiValue
from pydicom.uid import DeflatedExplicitVRLittleEndian

from .errors import ImageTooLarge, UnreadableImage

_DEFLATED_UID_BYTES = DeflatedExplicitVRLittleEndian.encode("ascii")
# The file meta group is a few hundred bytes; the UID pre-filter only needs to look there.
_META_SCAN_BYTES = 4096
# Room for everything in a deflated dataset besides one frame of at most 6 bytes a pixel.
_DEFLATE_SLACK_BYTES = 16 << 20


def looks_like_dicom(data: bytes) -> bool:
    """Part 10 file (``DICM`` at 128) or a preamble-less dataset pydicom can parse."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    # A bare dataset starts with file meta (0002,xxxx) or the identifying group (0008,xxxx),
    # little or (retired) big endian; checking that first keeps sniffing cheap and stops
    # pydicom's force=True from "parsing" arbitrary bytes into a nonsense dataset.
    if data[:2] not in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"):
        return False
    if data[:2] == b"\x02\x00" and _DEFLATED_UID_BYTES in data[:_META_SCAN_BYTES]:
        return True  # parsing would inflate the whole dataset; decode_dicom bounds that
    try:
        ds = dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        return any(kw in ds for kw in ("SOPClassUID", "Modality", "Rows", "StudyInstanceUID"))
    except Exception:
        return False


def check_deflate_bomb(data: bytes, max_pixels: int) -> None:
    # pydicom inflates a Deflated Explicit VR dataset in one zlib.decompress call with no
    # bound; inflate it here first in 1 MiB steps, counting and discarding the output.
    if _DEFLATED_UID_BYTES not in data[:_META_SCAN_BYTES]:
        return
    fp = io.BytesIO(data)
    try:
        read_preamble(fp, True)
        meta = _read_file_meta_info(fp)
    except Exception as exc:
        raise UnreadableImage("DICOM file meta information is corrupt") from exc
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        return
    budget = max_pixels * 6 + _DEFLATE_SLACK_BYTES
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending = data[fp.tell() :]
    total = 0
    try:
        while pending and not inflater.eof:
            total += len(inflater.decompress(pending, 1 << 20))
            pending = inflater.unconsumed_tail
            if total > budget:
                raise ImageTooLarge("deflated DICOM data set inflates beyond the size limit")
    except zlib.error as exc:
        raise UnreadableImage("deflated DICOM data set is corrupt") from exc


def text(ds: Dataset, keyword: str) -> str | None:
    """A string attribute, stripped; None when absent, empty or unparseable."""
    try:
        value: Any = ds.get(keyword)
    except Exception:
        return None
    if isinstance(value, MultiValue):
        value = value[0] if len(value) else None
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def positive_int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = int(ds.get(keyword) or 0)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def first_float(ds: Dataset, keyword: str) -> float | None:
    """First value of a (possibly multi-valued) DS attribute, or None if absent or bad."""
    try:
        value: Any = ds.get(keyword)
        if isinstance(value, MultiValue):
            value = value[0] if len(value) else None
        if value is None or value == "":
            return None
        number = float(value)
    except Exception:
        return None
    return number if math.isfinite(number) else None
