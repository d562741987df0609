"""The decoded-image type and the pixel maths shared by the DICOM and raster readers.

Everything here works on numpy arrays and bytes only (no pydicom, no Pillow) so that the two
readers agree on what "grey in [0, 1]" means: 0 is dark/air, 1 is bright/bone.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np

# ITU-R BT.601 luma weights: what Pillow's convert("L") uses, so a colour PNG and the same
# picture saved as grey decode to the same values.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """One radiograph as the pipeline sees it, plus the DICOM attributes it keeps.

    ``pixels`` is float32 (H, W) in [0, 1] in MONOCHROME2 orientation (after rescale, VOI LUT
    or window, and MONOCHROME1 inversion). ``patient_id`` is the raw PatientID: callers store
    only ``pseudonymize(patient_id, secret)``. ``eq=False``: field-wise equality would
    compare arrays element-wise and raise, so instances compare (and hash) by identity.
    """

    pixels: np.ndarray
    source_format: str
    modality: str | None = None
    body_part: str | None = None
    view_position: str | None = None
    accession_number: str | None = None
    study_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    patient_id: str | None = None
    window_center: float | None = None
    window_width: float | None = None

    def __repr__(self) -> str:
        # The default dataclass repr would print patient_id into any log or traceback that
        # shows this object; keep identifiers out of reprs entirely.
        h, w = self.pixels.shape[:2]
        return (
            f"DecodedImage({self.source_format}, {w}x{h}, modality={self.modality!r}, "
            f"view_position={self.view_position!r})"
        )


def rgb_to_grey(rgb: np.ndarray, max_value: float) -> np.ndarray:
    """(H, W, >=3) colour samples -> float32 (H, W) luma in [0, 1]."""
    channels = rgb[..., :3].astype(np.float32)
    grey = channels @ _LUMA
    return finalize(grey / np.float32(max_value))


def min_max(values: np.ndarray) -> np.ndarray:
    """Stretch to [0, 1]; a constant image becomes all zeros rather than NaN."""
    values = values.astype(np.float32, copy=False)
    lo = float(values.min())
    hi = float(values.max())
    if not math.isfinite(lo) or not math.isfinite(hi) or hi <= lo:
        return np.zeros(values.shape, dtype=np.float32)
    return (values - np.float32(lo)) * np.float32(1.0 / (hi - lo))


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM VOI windowing (PS3.3 C.11.2.1.2) with the output scaled to [0, 1].

    The caller has already checked that ``width`` is valid for ``function``.
    """
    values = values.astype(np.float32, copy=False)
    fn = function.strip().upper()
    if fn == "SIGMOID":
        with np.errstate(over="ignore"):  # exp overflow -> inf -> 0, which is the right limit
            return (1.0 / (1.0 + np.exp(-4.0 * (values - center) / width))).astype(np.float32)
    if fn == "LINEAR_EXACT":
        out = (values - np.float32(center)) / np.float32(width) + np.float32(0.5)
    else:
        # LINEAR: the -0.5 / (w - 1) terms are the standard's, so that integer input maps
        # exactly as a DICOM viewer shows it.
        out = (values - np.float32(center - 0.5)) / np.float32(width - 1.0) + np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


def window_is_valid(width: float, function: str) -> bool:
    fn = function.strip().upper()
    if not math.isfinite(width):
        return False
    return width >= 1.0 if fn in ("", "LINEAR") else width > 0.0


def finalize(pixels: np.ndarray) -> np.ndarray:
    """Last step of every reader: contiguous float32, NaN-free, clipped to [0, 1]."""
    out = np.ascontiguousarray(pixels, dtype=np.float32)
    if not np.isfinite(out).all():
        out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(out, 0.0, 1.0, out=out)


# --- codestream headers -------------------------------------------------------------------
# A compressed DICOM frame can claim a size different from Rows x Columns. pydicom sizes its
# output from the header but the codec allocates from the codestream, so a small header with
# a huge codestream is a decompression bomb; these parsers let us check before decoding.

# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC); F7 is JPEG-LS SOF55.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
# Markers without a length field that may sit between segments.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def jpeg_frame_header(codestream: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, precision) from a JPEG / JPEG-LS SOF segment; None if not JPEG."""
    if codestream[:2] != b"\xff\xd8":
        return None
    offset = 2
    end = len(codestream)
    while offset + 4 <= end:
        if codestream[offset] != 0xFF:
            return None
        marker = codestream[offset + 1]
        if marker == 0xFF:  # fill byte before a marker
            offset += 1
            continue
        if marker in _JPEG_STANDALONE:
            offset += 2
            continue
        (length,) = struct.unpack(">H", codestream[offset + 2 : offset + 4])
        if marker in _JPEG_SOF:
            if offset + 9 > end:
                return None
            precision = codestream[offset + 4]
            rows, cols = struct.unpack(">HH", codestream[offset + 5 : offset + 9])
            return rows, cols, precision
        if marker in (0xD9, 0xDA) or length < 2:  # EOI or scan data before any SOF
            return None
        offset += 2 + length
    return None


def j2k_frame_size(codestream: bytes) -> tuple[int, int] | None:
    """(rows, columns) from a JPEG 2000 / HTJ2K SIZ segment (raw codestream or JP2 box)."""
    offset = 0
    if codestream[4:8] == b"jP  ":
        # JP2 file format: walk the boxes to the contiguous codestream box.
        while offset + 8 <= len(codestream):
            (length,) = struct.unpack(">I", codestream[offset : offset + 4])
            if codestream[offset + 4 : offset + 8] == b"jp2c":
                offset += 8
                break
            if length < 8:
                return None
            offset += length
        else:
            return None
    # SOC, SIZ marker, Lsiz, Rsiz, then Xsiz, Ysiz, XOsiz, YOsiz as big-endian uint32.
    siz = codestream[offset : offset + 24]
    if len(siz) < 24 or siz[:4] != b"\xff\x4f\xff\x51":
        return None
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", siz[8:24])
    if xsiz < xosiz or ysiz < yosiz:
        return None
    return ysiz - yosiz, xsiz - xosiz
