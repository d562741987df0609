"""DICOM uploads: refuse what is not a chest radiograph, then decode the first frame to grey.

Order matters: the header is judged (modality, body part, size, transfer syntax against the
pixel data) before any pixel is decoded, so a CT series or a decompression bomb costs a header
parse and no more. pydicom does the decoding (Pillow for JPEG Baseline/Extended and JPEG 2000,
its own RLE, pylibjpeg plugins where installed); the grey-level pipeline (Modality LUT, VOI
window or LUT, MONOCHROME1 inversion) follows PS3.3 C.11 and lives here.
"""

from __future__ import annotations

import io
import re

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import get_frame
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder, pixel_array
from pydicom.pixels.utils import get_expected_length, get_nr_frames
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
)

from .dicom_header import check_deflate_bomb, first_float, positive_int, text
from .errors import ImageTooLarge, IngestError, NotChestRadiograph, UnreadableImage, UnsupportedMedia
from .pixels import DecodedImage, finalize, j2k_frame_size, jpeg_frame_header, min_max, rgb_to_grey
from .pixels import window as apply_window
from .pixels import window_is_valid

# Only projection radiographs: the models are trained on CR/DX chest films, and a CT scout or
# an MR localiser "looks" like one to a classifier without being one.
RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})

# PS3.5 9.1: digits and dots, at most 64 characters. Components with leading zeros are not
# conformant but common in the wild and harmless, so they pass.
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
# PS3.5 6.2 Code String: upper-case letters, digits, space and underscore, at most 16.
_CODE_STRING = re.compile(r"[A-Z0-9 _]{1,16}")

_JPEG_FAMILY = frozenset(JPEGTransferSyntaxes) | frozenset(JPEGLSTransferSyntaxes)
_J2K_FAMILY = frozenset(JPEG2000TransferSyntaxes)


def decode_dicom(data: bytes, max_pixels: int) -> DecodedImage:
    """Decode one DICOM upload; every failure is an IngestError, never a pydicom exception."""
    check_deflate_bomb(data, max_pixels)
    try:
        ds = dcmread(io.BytesIO(data), force=True)
    except Exception as exc:
        raise UnreadableImage("DICOM data set could not be parsed") from exc
    try:
        return _decode_dataset(ds, max_pixels)
    except (IngestError, MemoryError):
        raise
    except Exception as exc:
        # pydicom raises many types for malformed values (ValueError, KeyError, struct.error,
        # AttributeError ...); to the submitter they all mean the same thing.
        raise UnreadableImage("DICOM header or pixel data is malformed") from exc


def _decode_dataset(ds: Dataset, max_pixels: int) -> DecodedImage:
    if len(ds) == 0:
        # pydicom returns an empty data set, not an error, for bytes it cannot parse at all
        # and for a file cut off inside encapsulated pixel data.
        raise UnreadableImage("no DICOM data elements could be read (truncated or corrupt file)")
    modality = text(ds, "Modality")
    body_part = text(ds, "BodyPartExamined")
    if modality is not None or "PixelData" in ds:
        # A wrong modality is answered as such even without pixels; with neither, the file
        # is more likely cut short than a non-radiograph.
        _check_chest_radiograph(modality, body_part)
    if "PixelData" not in ds:
        raise UnreadableImage("DICOM has no Pixel Data (7FE0,0010)")
    # Checked before any pixel is decoded, like the rest of the header.
    study_uid, sop_uid = _uid(ds, "StudyInstanceUID"), _uid(ds, "SOPInstanceUID")
    rows, cols = positive_int(ds, "Rows"), positive_int(ds, "Columns")
    if rows is None or cols is None:
        raise UnreadableImage("DICOM Rows/Columns are missing or zero")
    if rows * cols > max_pixels:
        raise ImageTooLarge(f"image is {cols} x {rows} = {rows * cols} pixels; the limit is {max_pixels}")
    ts = _transfer_syntax(ds)
    if ts.is_compressed:
        _check_encapsulated(ds, ts, rows, cols, max_pixels)
    else:
        _check_native_length(ds)
    try:
        # index=0 decodes only the first frame of a multi-frame object.
        arr = pixel_array(ds, index=0)
    except MemoryError:
        raise
    except Exception as exc:
        raise UnreadableImage(f"DICOM pixel data does not decode as {ts.name}") from exc
    if arr.shape[:2] != (rows, cols):
        raise UnreadableImage(f"decoded frame is {arr.shape[:2]}, header says {(rows, cols)}")
    pixels, center, width = _to_grey(ds, arr)
    view = text(ds, "ViewPosition")
    # Code strings are upper case by definition; normalise the few writers that disagree so
    # callers can compare with "CR", "CHEST", "PA".
    view = view.upper() if view else None
    return DecodedImage(
        pixels=pixels,
        source_format="dicom",
        modality=modality.upper() if modality else None,
        body_part=body_part.upper() if body_part else None,
        # The view is informational (shown to the reviewer): a value that is no code string
        # (too long for the column, control characters) is dropped rather than refused.
        view_position=view if view and _CODE_STRING.fullmatch(view) else None,
        # Checked by the gateway against the same rule as the form field.
        accession_number=text(ds, "AccessionNumber"),
        study_instance_uid=study_uid,
        sop_instance_uid=sop_uid,
        patient_id=text(ds, "PatientID"),
        window_center=center,
        window_width=width,
    )


def _uid(ds: Dataset, keyword: str) -> str | None:
    """A UID attribute, or None if absent; anything but digits and dots is refused. These are
    stored and handed to integrators as identifiers, so a garbled one (wrong bytes, a NUL,
    over 64 characters, which PostgreSQL would refuse) must not slip through. The value is
    not echoed: it is not known to be text."""
    value = text(ds, keyword)
    if value is None:
        return None
    value = value.rstrip("\x00")
    if len(value) > 64 or not _UID.fullmatch(value):
        raise UnreadableImage(f"DICOM {keyword} is not a valid UID (digits and dots, at most 64)")
    return value


def _check_chest_radiograph(modality: str | None, body_part: str | None) -> None:
    # Modality is Type 1 in every image IOD, so a file without it is refused rather than
    # guessed to be a radiograph. Values are echoed truncated: they are codes, not identifiers.
    if modality is None:
        raise NotChestRadiograph("DICOM has no Modality; only CR and DX radiographs are accepted")
    if modality.upper() not in RADIOGRAPH_MODALITIES:
        raise NotChestRadiograph(f"DICOM Modality is {modality[:16]!r}; only CR and DX are accepted")
    if body_part and "CHEST" not in body_part.upper():
        raise NotChestRadiograph(f"DICOM BodyPartExamined is {body_part[:32]!r}, not CHEST")


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts is None:
        # A preamble-less dataset has no file meta; pydicom needs the syntax to decode pixels,
        # and the one it parsed the dataset with is the only honest answer.
        implicit, little = ds.original_encoding
        if implicit is None:
            raise UnreadableImage("DICOM has no transfer syntax and its encoding is unknown")
        ts = ImplicitVRLittleEndian if implicit else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        if meta is None:
            ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
    ts = UID(str(ts))
    if not ts.is_transfer_syntax:
        raise UnsupportedMedia(f"DICOM transfer syntax {str(ts)[:64]!r} is not a known one")
    try:
        decoder = get_decoder(ts)
    except NotImplementedError as exc:  # MPEG/HEVC video and other syntaxes with no decoder
        raise UnsupportedMedia(f"DICOM transfer syntax {ts.name} is not supported") from exc
    if not decoder.is_available:
        raise UnsupportedMedia(
            f"DICOM transfer syntax {ts.name} needs a decoder plugin that is not installed "
            f"({'; '.join(decoder.missing_dependencies)[:200]})"
        )
    return ts


def _check_native_length(ds: Dataset) -> None:
    # Too short: a cut-off file or a header claiming more bits/frames than stored. A whole
    # frame or more too long: the header under-describes the data (16-bit samples under
    # BitsAllocated 8, frames missing from NumberOfFrames), and pydicom would silently decode
    # the wrong bytes. Less than a frame of excess is trailing padding, which some writers
    # add and pydicom and dcmtk both ignore, so it is accepted.
    expected = get_expected_length(ds, "bytes")
    frame = max(expected // max(get_nr_frames(ds, warn=False), 1), 2)
    actual = len(ds.PixelData)
    if actual < expected or actual >= expected + frame:
        raise UnreadableImage(
            f"DICOM pixel data is {actual} bytes; the header and transfer syntax imply {expected}"
        )


def _check_encapsulated(ds: Dataset, ts: UID, rows: int, cols: int, max_pixels: int) -> None:
    try:
        frame = get_frame(ds.PixelData, 0, number_of_frames=get_nr_frames(ds, warn=False))
    except Exception as exc:
        raise UnreadableImage(
            f"transfer syntax is {ts.name} but the pixel data is not encapsulated fragments"
        ) from exc
    if ts in _JPEG_FAMILY:
        header = jpeg_frame_header(frame)
        size = (header[0], header[1]) if header else None
        if header and header[2] > 8 and ts not in JPEGLSTransferSyntaxes:
            # pydicom lists Pillow for JPEG Extended, but Pillow decodes only 8-bit JPEG; a
            # 12-bit CR needs pylibjpeg-libjpeg or gdcm. Say so instead of "corrupt".
            plugins = get_decoder(ts).available_plugins
            if not set(plugins) - {"pillow"}:
                raise UnsupportedMedia(
                    f"{header[2]}-bit {ts.name} needs the pylibjpeg-libjpeg or gdcm decoder, "
                    "which is not installed"
                )
    elif ts in _J2K_FAMILY:
        size = j2k_frame_size(frame)
    else:
        return  # RLE: the decoder sizes its output from Rows x Columns, so no bomb to find
    if size is None:
        raise UnreadableImage(f"transfer syntax is {ts.name} but the first frame is not such a codestream")
    if size[0] * size[1] > max_pixels:
        raise ImageTooLarge(f"compressed frame is {size[1]} x {size[0]} pixels; the limit is {max_pixels}")
    if size != (rows, cols):
        raise UnreadableImage(f"compressed frame is {size[1]} x {size[0]}, header says {cols} x {rows}")


def _to_grey(ds: Dataset, arr: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
    """Decoded first frame -> (grey [0, 1] MONOCHROME2, window center, window width)."""
    photometric = (text(ds, "PhotometricInterpretation") or "MONOCHROME2").upper()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        return rgb_to_grey(rgb, float(np.iinfo(rgb.dtype).max)), None, None
    if arr.ndim == 3:
        # RGB, or YBR_* that pydicom has already converted to RGB. Modality and VOI LUTs do
        # not apply to colour images, so scale by the stored bit depth.
        bits = positive_int(ds, "BitsStored") or positive_int(ds, "BitsAllocated") or 8
        return rgb_to_grey(arr, float(2**bits - 1)), None, None
    values = apply_modality_lut(arr, ds).astype(np.float32, copy=False)
    grey, center, width = _apply_voi(values, ds)
    if photometric == "MONOCHROME1":
        grey = 1.0 - grey
    return finalize(grey), center, width


def _apply_voi(values: np.ndarray, ds: Dataset) -> tuple[np.ndarray, float | None, float | None]:
    # The window is preferred over a VOI LUT table when a file has both: it is what
    # DecodedImage reports and what a reviewer's viewer opens with by default.
    center, width = first_float(ds, "WindowCenter"), first_float(ds, "WindowWidth")
    function = text(ds, "VOILUTFunction") or "LINEAR"
    if center is not None and width is not None and window_is_valid(width, function):
        return apply_window(values, center, width, function), center, width
    seq = ds.get("VOILUTSequence")
    if seq:
        return _apply_voi_table(values, ds), None, None
    return min_max(values), None, None


def _apply_voi_table(values: np.ndarray, ds: Dataset) -> np.ndarray:
    # Scaled by the table's own output range, not by the descriptor's bit count, which is
    # wrong in enough real files (16 declared, 12 used) that pydicom works around it too.
    item = ds.VOILUTSequence[0]
    entries, first = int(item.LUTDescriptor[0]) or 65536, int(item.LUTDescriptor[1])
    table = apply_voi(np.arange(first, first + entries, dtype=np.int64), ds).astype(np.float32)
    lo, hi = float(table.min()), float(table.max())
    mapped = apply_voi(np.rint(values).astype(np.int64), ds).astype(np.float32)
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.float32)
    return (mapped - np.float32(lo)) * np.float32(1.0 / (hi - lo))
