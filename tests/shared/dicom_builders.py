"""Building DICOM data sets for the ingest tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "cxr"
MONO2 = SAMPLES / "rsna_cr_pa_monochrome2.dcm"
MONO1 = SAMPLES / "rsna_cr_pa_monochrome1.dcm"
LIMIT = 50_000_000


def dicom_bytes(ds: Dataset, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, **kwargs)
    return buf.getvalue()


def sample_dataset() -> Dataset:
    return pydicom.dcmread(MONO2)


def native_sample() -> Dataset:
    """The MONOCHROME2 sample re-encoded as Explicit VR Little Endian (raw pixels)."""
    ds = sample_dataset()
    ds.set_pixel_data(ds.pixel_array, photometric_interpretation="MONOCHROME2", bits_stored=8)
    return ds


def synthetic(arr: np.ndarray, photometric: str = "MONOCHROME2", **attrs: object) -> Dataset:
    """A minimal CR data set around `arr`, uncompressed."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.Modality = "CR"
    bits = 8 if arr.dtype == np.uint8 else 16
    ds.set_pixel_data(arr, photometric_interpretation=photometric, bits_stored=bits)
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def retag_transfer_syntax(data: bytes, uid: str) -> bytes:
    """Rewrite (0002,0010) in a Part 10 file without touching the data set: pydicom refuses to
    write a file whose transfer syntax lies, and the tests need exactly such files."""
    start = data.index(b"\x02\x00\x10\x00UI")
    old_len = int.from_bytes(data[start + 6 : start + 8], "little")
    value = uid.encode() + (b"\0" if len(uid) % 2 else b"")
    group_len = int.from_bytes(data[140:144], "little") + len(value) - old_len
    out = data[:140] + group_len.to_bytes(4, "little") + data[144 : start + 6]
    return out + len(value).to_bytes(2, "little") + value + data[start + 8 + old_len :]
