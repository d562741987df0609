"""DICOM ingest: the grey-level pipeline (rescale, VOI, frames, colour, JPEG 2000)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from shared.ingest import ImageTooLarge, UnreadableImage, decode_image
from tests.shared.dicom_builders import LIMIT, dicom_bytes, sample_dataset, synthetic

# pydicom warns (as it should) about the broken files these tests build on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:End of file reached before delimiter:UserWarning",
    "ignore:Invalid value for VR CS:UserWarning",
    "ignore:The pixel data is .* excess padding:UserWarning",
)


# --- grey-level pipeline ----------------------------------------------------------------------


def test_rescale_and_linear_window() -> None:
    arr = np.array([[0, 1000, 2000, 3000]], dtype=np.uint16).repeat(4, axis=0)
    ds = synthetic(arr, RescaleSlope=1, RescaleIntercept=-1000, WindowCenter=500, WindowWidth=1001)
    pixels = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    # values -1000, 0, 1000, 2000 through the window [0, 1000]
    assert np.allclose(pixels[0], [0.0, 0.0, 1.0, 1.0], atol=1e-3)
    ds.WindowCenter, ds.WindowWidth = 1000, 2001
    assert np.allclose(decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels[0], [0.0, 0.0, 0.5, 1.0], atol=1e-3)
    ds.VOILUTFunction = "SIGMOID"
    assert np.allclose(decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels[0, 2], 0.5, atol=1e-3)


def test_invalid_window_falls_back_to_min_max() -> None:
    arr = np.array([[100, 200], [300, 500]], dtype=np.uint16)
    ds = synthetic(arr, WindowCenter=0, WindowWidth=0)
    image = decode_image(dicom_bytes(ds), max_pixels=LIMIT)
    assert image.window_center is None
    assert np.allclose(image.pixels, [[0.0, 0.25], [0.5, 1.0]])


def test_voi_lut_table() -> None:
    arr = np.array([[0, 1], [2, 3]], dtype=np.uint16)
    ds = synthetic(arr)
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.add_new("LUTData", "US", [0, 4000, 2000, 4000])  # non-monotonic on purpose: the table is applied
    ds.VOILUTSequence = [item]
    assert np.allclose(decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels, [[0.0, 1.0], [0.5, 1.0]])


def test_multiframe_takes_first_frame() -> None:
    frames = np.stack([np.tile(np.arange(8, dtype=np.uint8), (8, 1)), np.full((8, 8), 7, np.uint8)])
    ds = synthetic(frames)
    assert int(ds.NumberOfFrames) == 2
    pixels = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    assert pixels.shape == (8, 8)
    assert np.allclose(pixels[0], np.arange(8) / 7)


def test_rgb_dicom_becomes_grey() -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red: luma 0.299
    rgb[2:] = 128  # grey rows keep their value
    ds = synthetic(rgb, "RGB")
    pixels = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    assert pixels.shape == (4, 4)
    assert np.allclose(pixels[0], 0.299, atol=1e-3) and np.allclose(pixels[2], 128 / 255, atol=1e-3)


def test_jpeg_baseline_colour_dicom_becomes_grey() -> None:
    # A colour secondary capture compressed with JPEG Baseline (YBR_FULL_422 in the file).
    from PIL import Image

    grey = sample_dataset().pixel_array[::4, ::4]
    buf = io.BytesIO()
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(buf, format="JPEG", quality=95)
    ds = synthetic(np.stack([grey] * 3, axis=-1), "RGB")
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    pixels = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    assert pixels.shape == grey.shape
    assert np.abs(pixels - grey / 255.0).mean() < 2 / 255


@pytest.mark.parametrize("container", ["j2k", "jp2"])
def test_jpeg2000_dicom_decodes_and_size_is_checked(container: str) -> None:
    from PIL import Image
    from pydicom.uid import JPEG2000Lossless

    raw = sample_dataset().pixel_array[::2, ::2]  # 512 x 512 keeps the encoder quick
    buf = io.BytesIO()
    Image.fromarray(raw).save(buf, format="JPEG2000", irreversible=False, no_jp2=container == "j2k")
    ds = synthetic(raw)
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
    pixels = decode_image(dicom_bytes(ds), max_pixels=LIMIT).pixels
    assert np.abs(pixels - (raw - raw.min()) / (raw.max() - raw.min())).max() < 1e-5
    ds.Rows = ds.Columns = 256  # header smaller than the codestream
    with pytest.raises(ImageTooLarge):
        decode_image(dicom_bytes(ds), max_pixels=300 * 300)
    with pytest.raises(UnreadableImage):
        decode_image(dicom_bytes(ds), max_pixels=LIMIT)
