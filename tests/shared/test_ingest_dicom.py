"""DICOM ingest: real CR samples, refusals, lying headers (grey levels: test_ingest_dicom_greylevels)."""

from __future__ import annotations

import io
import time
import zlib

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
)

from shared.ingest import (
    ImageTooLarge,
    NotChestRadiograph,
    UnreadableImage,
    UnsupportedMedia,
    decode_image,
    sniff_format,
)
from tests.shared.dicom_builders import (
    LIMIT, MONO1, MONO2, dicom_bytes, native_sample, retag_transfer_syntax, sample_dataset, synthetic,
)

# pydicom warns (as it should) about the broken files these tests build on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:End of file reached before delimiter:UserWarning",
    "ignore:Invalid value for VR CS:UserWarning",
    "ignore:The pixel data is .* excess padding:UserWarning",
)


# --- the real samples -------------------------------------------------------------------------


def test_sample_metadata_and_range() -> None:
    data = MONO2.read_bytes()
    assert sniff_format(data) == "dicom"
    image = decode_image(data, max_pixels=LIMIT, filename="x.dcm")
    ds = sample_dataset()
    assert image.source_format == "dicom"
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (1024, 1024)
    assert 0.0 <= image.pixels.min() and image.pixels.max() <= 1.0
    assert (image.modality, image.view_position, image.body_part) == ("CR", "PA", "CHEST")
    assert image.study_instance_uid == ds.StudyInstanceUID
    assert image.sop_instance_uid == ds.SOPInstanceUID
    assert image.patient_id == ds.PatientID
    assert image.accession_number is None  # empty in the file -> None, not ""
    assert image.window_center is None and image.window_width is None  # min-max applied
    assert ds.PatientID not in repr(image)


def test_accession_number_and_window_extracted() -> None:
    ds = sample_dataset()
    ds.AccessionNumber = "ACC123"
    ds.WindowCenter = [128, 100]  # multi-valued: the first pair is used
    ds.WindowWidth = [256, 50]
    image = decode_image(dicom_bytes(ds), max_pixels=LIMIT)
    assert image.accession_number == "ACC123"
    assert (image.window_center, image.window_width) == (128.0, 256.0)


def test_monochrome2_keeps_raw_orientation() -> None:
    raw = sample_dataset().pixel_array.astype(np.float32)
    pixels = decode_image(MONO2.read_bytes(), max_pixels=LIMIT).pixels
    # min-max of an 8-bit image: decoded == (raw - min) / (max - min), same orientation
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    assert np.abs(pixels - expected).max() < 1e-5
    # air outside the body (top-left corner) is dark, the mediastinum bright
    assert pixels[:32, :32].mean() < 0.2 < 0.6 < pixels[480:544, 480:544].mean()


def test_monochrome1_sample_is_inverted() -> None:
    # The MONOCHROME1 sample is the MONOCHROME2 file with only the tag changed (one byte
    # differs), so a reader that honours the tag must show it as the negative of the other.
    assert len(MONO1.read_bytes()) == len(MONO2.read_bytes())
    m2 = decode_image(MONO2.read_bytes(), max_pixels=LIMIT).pixels
    m1 = decode_image(MONO1.read_bytes(), max_pixels=LIMIT).pixels
    assert np.abs(m1 - (1.0 - m2)).max() < 1e-6


def test_truly_inverted_monochrome1_decodes_like_monochrome2() -> None:
    # A real MONOCHROME1 file stores the inverted values; it must decode to the same image.
    raw = sample_dataset().pixel_array
    ds = synthetic((255 - raw).astype(np.uint8), "MONOCHROME1")
    m1 = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    m2 = decode_image(MONO2.read_bytes(), max_pixels=LIMIT).pixels
    assert np.abs(m1 - m2).max() < 1 / 255


def test_native_and_jpeg_encodings_agree() -> None:
    jpeg = decode_image(MONO2.read_bytes(), max_pixels=LIMIT).pixels
    native = decode_image(dicom_bytes(native_sample()), max_pixels=LIMIT).pixels
    assert np.abs(jpeg - native).max() < 1e-6


def test_decode_is_fast() -> None:
    data = MONO2.read_bytes()
    decode_image(data, max_pixels=LIMIT)
    start = time.perf_counter()
    decode_image(data, max_pixels=LIMIT)
    assert time.perf_counter() - start < 0.5


def test_preamble_less_dataset_is_sniffed_and_decoded() -> None:
    ds = native_sample()
    # no preamble, no file meta: what some PACS exports and STOW bodies look like
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, implicit_vr=True, little_endian=True)
    bare = buf.getvalue()
    assert bare[:2] == b"\x08\x00"
    assert bare[128:132] != b"DICM"
    assert sniff_format(bare) == "dicom"
    image = decode_image(bare, max_pixels=LIMIT)
    assert image.modality == "CR" and image.pixels.shape == (1024, 1024)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["CT", "MR", "US", "OT", "RG", ""])
def test_non_radiograph_modalities_refused(modality: str) -> None:
    ds = sample_dataset()
    ds.Modality = modality
    with pytest.raises(NotChestRadiograph) as info:
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)
    assert info.value.status_code == 415 and info.value.code == "not_chest_radiograph"


def test_dx_accepted_and_missing_modality_refused() -> None:
    ds = sample_dataset()
    ds.Modality = "DX"
    assert decode_image(dicom_bytes(ds), max_pixels=LIMIT).modality == "DX"
    del ds.Modality
    with pytest.raises(NotChestRadiograph):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


@pytest.mark.parametrize(("body_part", "ok"), [("HEAD", False), ("KNEE", False), ("chest", True), ("PORT CHEST", True), ("", True)])
def test_body_part(body_part: str, ok: bool) -> None:
    ds = sample_dataset()
    ds.BodyPartExamined = body_part
    if ok:
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)
    else:
        with pytest.raises(NotChestRadiograph):
            decode_image(dicom_bytes(ds), max_pixels=LIMIT)


def test_no_pixel_data_is_unreadable() -> None:
    ds = sample_dataset()
    del ds.PixelData
    with pytest.raises(UnreadableImage):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


def test_header_size_over_limit_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(MONO2.read_bytes(), max_pixels=1024 * 1024 - 1)
    ds = sample_dataset()
    ds.Rows = ds.Columns = 60000  # the pixel data is still the small 1024 x 1024 JPEG
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)
    assert time.perf_counter() - start < 0.5


def test_jpeg_codestream_larger_than_header_is_a_bomb() -> None:
    ds = sample_dataset()
    ds.Rows = ds.Columns = 512  # header says small, codestream says 1024 x 1024
    with pytest.raises(ImageTooLarge):
        decode_image(dicom_bytes(ds), max_pixels=600 * 600)
    with pytest.raises(UnreadableImage):  # within the limit, but the header lies
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


# --- lying transfer syntaxes ------------------------------------------------------------------




def test_says_jpeg_but_holds_raw_bytes() -> None:
    data = retag_transfer_syntax(dicom_bytes(native_sample()), JPEGBaseline8Bit)
    assert pydicom.dcmread(io.BytesIO(data)).file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    with pytest.raises(UnreadableImage):
        decode_image(data, max_pixels=LIMIT)


def test_says_jpeg_but_fragments_are_not_jpeg() -> None:
    ds = native_sample()
    ds.PixelData = encapsulate([bytes(ds.PixelData)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    with pytest.raises(UnreadableImage):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


@pytest.mark.parametrize("length", ["short", "one_byte_short", "extra_frame", "bits_too_high", "bits_too_low"])
def test_explicit_vr_pixel_data_of_wrong_length(length: str) -> None:
    ds = native_sample()
    raw = bytes(ds.PixelData)
    if length == "short":
        ds.PixelData = raw[: len(raw) // 2]
    elif length == "one_byte_short":
        ds.PixelData = raw[:-2]  # (even length: pydicom writes what it is given)
    elif length == "extra_frame":  # two frames stored, NumberOfFrames absent (= 1)
        ds.PixelData = raw + raw
    elif length == "bits_too_high":  # header says 16 bits per pixel, the bytes are 8-bit
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    else:  # header says 8 bits, the bytes are 16-bit samples
        ds.PixelData = ds.pixel_array.astype("<u2").tobytes()
    with pytest.raises(UnreadableImage):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


def test_trailing_padding_under_a_frame_is_tolerated() -> None:
    ds = native_sample()
    ds.PixelData = bytes(ds.PixelData) + b"\0" * 4096  # as some writers pad to a block
    assert decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels.shape == (1024, 1024)


def test_transfer_syntax_without_an_installed_decoder_is_unsupported(monkeypatch) -> None:
    """A site without the pylibjpeg plugins gets a clear 415 naming what is missing."""
    import shared.ingest.dicom as dicom_module

    class MissingDecoder:
        is_available = False
        missing_dependencies = ["pylibjpeg-libjpeg"]
        available_plugins: dict = {}

    monkeypatch.setattr(dicom_module, "get_decoder", lambda ts: MissingDecoder())
    with pytest.raises(UnsupportedMedia, match="pylibjpeg-libjpeg"):
        decode_image(MONO2.read_bytes(), max_pixels=LIMIT)


def test_garbage_after_dicm_is_unreadable() -> None:
    data = b"\0" * 128 + b"DICM" + b"\xff" * 300
    assert sniff_format(data) == "dicom"
    with pytest.raises(UnreadableImage):
        decode_image(data, max_pixels=LIMIT)


@pytest.mark.parametrize("encoding", ["jpeg", "native"])
@pytest.mark.parametrize("keep", [0.5, 0.01, 0.999])
def test_truncated_dicom_is_unreadable(encoding: str, keep: float) -> None:
    data = MONO2.read_bytes() if encoding == "jpeg" else dicom_bytes(native_sample())
    with pytest.raises(UnreadableImage):
        decode_image(data[: int(len(data) * keep)], max_pixels=LIMIT)


def test_transfer_syntax_without_decoder_is_unsupported_or_decodes() -> None:
    # JPEG Lossless needs the pylibjpeg-libjpeg (or gdcm) plugin; without it the upload is
    # refused as 415, not crashed on. With the plugin, raw bytes in it are unreadable.
    ds = native_sample()
    ds.PixelData = encapsulate([bytes(ds.PixelData)])
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    with pytest.raises((UnsupportedMedia, UnreadableImage)):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)


def test_deflated_bomb_refused_and_small_deflate_decodes() -> None:
    ds = synthetic(np.zeros((64, 64), dtype=np.uint8), BodyPartExamined="CHEST")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    small = dicom_bytes(ds, enforce_file_format=True)
    assert decode_image(small, max_pixels=LIMIT).pixels.shape == (64, 64)
    # Same meta, but a deflate stream that inflates to 64 MiB for a 1 Mpx limit.
    meta_end = 144 + int.from_bytes(small[140:144], "little")  # after (0002,0000) UL
    inflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = inflater.compress(b"\0" * (64 << 20)) + inflater.flush()
    assert len(bomb) < 100_000
    with pytest.raises(ImageTooLarge):
        decode_image(small[:meta_end] + bomb, max_pixels=1_000_000)
