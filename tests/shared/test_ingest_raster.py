"""PNG/JPEG ingest: real samples, every Pillow mode, truncation, decompression bombs, PNG8 blobs."""

from __future__ import annotations

import io
import resource
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from shared.ingest import (
    ImageTooLarge,
    UnreadableImage,
    decode_image,
    decode_png8,
    encode_png8,
    sniff_format,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "cxr"
LIMIT = 50_000_000


def _save(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _gradient(h: int = 64, w: int = 96) -> np.ndarray:
    """Smooth 0..1 ramp: survives JPEG with small error, covers the whole range."""
    y, x = np.mgrid[0:h, 0:w]
    return ((x / (w - 1)) * 0.7 + (y / (h - 1)) * 0.3).astype(np.float32)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_bomb(width: int, height: int) -> bytes:
    """A 1-bit all-zero greyscale PNG, compressed row by row so the test never holds it raw."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    deflate = zlib.compressobj(9)
    idat = b"".join(deflate.compress(row) for _ in range(height)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# --- real samples -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("00000001_000.png", "png"), ("00027426_000.png", "png"), ("h0001.png", "png"), ("16747_3_1.jpg", "jpeg")])
def test_samples_decode(name: str, fmt: str) -> None:
    data = (SAMPLES / name).read_bytes()
    assert sniff_format(data) == fmt
    image = decode_image(data, max_pixels=LIMIT, filename=name)
    with Image.open(SAMPLES / name) as im:
        width, height = im.size
        expected = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    assert image.source_format == fmt
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (height, width)
    assert 0.0 <= image.pixels.min() and image.pixels.max() <= 1.0
    assert image.modality is None and image.patient_id is None
    # Pillow's own grey conversion rounds to 8 bits; ours keeps the float
    assert np.abs(image.pixels - expected).max() <= 1 / 255 + 1e-6


def test_sample_over_limit_is_too_large() -> None:
    with pytest.raises(ImageTooLarge) as info:
        decode_image((SAMPLES / "00000001_000.png").read_bytes(), max_pixels=512 * 512 - 1)
    assert info.value.status_code == 413


# --- modes ------------------------------------------------------------------------------------


def test_png_8bit_grey_round_trip_is_exact() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pixels = decode_image(_save(Image.fromarray(grey), "PNG"), max_pixels=LIMIT).pixels
    assert np.array_equal(pixels, grey.astype(np.float32) / 255.0)


def test_png_16bit_grey_round_trip_is_exact() -> None:
    values = np.linspace(0, 65535, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    data = _save(Image.fromarray(values), "PNG")
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I")  # Pillow keeps 16-bit grey
    pixels = decode_image(data, max_pixels=LIMIT).pixels
    assert np.abs(pixels - values / 65535.0).max() < 1e-6
    assert pixels.max() == 1.0  # scaled by 65535, not by 255 or by the image max


def test_png_rgb_and_rgba_become_luma() -> None:
    grey = (_gradient() * 255).round().astype(np.uint8)
    rgb = np.stack([grey] * 3, axis=-1)
    for im in (Image.fromarray(rgb), Image.fromarray(np.dstack([rgb, np.full_like(grey, 77)]))):
        pixels = decode_image(_save(im, "PNG"), max_pixels=LIMIT).pixels
        assert np.abs(pixels - grey / 255.0).max() < 1e-5
    red = np.zeros((4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert np.allclose(decode_image(_save(Image.fromarray(red), "PNG"), max_pixels=LIMIT).pixels, 0.299, atol=1e-4)


def test_png_grey_alpha_palette_and_bilevel() -> None:
    grey = (_gradient() * 255).round().astype(np.uint8)
    la = Image.fromarray(np.dstack([grey, np.zeros_like(grey)]), mode="LA")  # fully transparent
    assert np.abs(decode_image(_save(la, "PNG"), max_pixels=LIMIT).pixels - grey / 255.0).max() < 1e-6
    palette = Image.fromarray(grey).convert("P")  # grey palette
    assert np.abs(decode_image(_save(palette, "PNG"), max_pixels=LIMIT).pixels - grey / 255.0).max() < 1e-5
    bilevel = Image.fromarray(grey > 127)
    assert bilevel.mode == "1"
    assert np.array_equal(decode_image(_save(bilevel, "PNG"), max_pixels=LIMIT).pixels, (grey > 127).astype(np.float32))


@pytest.mark.parametrize("mode", ["L", "RGB", "CMYK"])
def test_jpeg_modes(mode: str) -> None:
    grey = (_gradient() * 255).round().astype(np.uint8)
    im = Image.fromarray(grey).convert(mode)
    pixels = decode_image(_save(im, "JPEG", quality=95), max_pixels=LIMIT).pixels
    assert pixels.shape == grey.shape
    assert np.abs(pixels - grey / 255.0).mean() < 2 / 255


def test_jpeg_exif_orientation_applied() -> None:
    grey = np.zeros((40, 80), dtype=np.uint8)
    grey[:, :40] = 255  # bright left half
    im = Image.fromarray(grey)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    pixels = decode_image(_save(im, "JPEG", quality=95, exif=exif.tobytes()), max_pixels=LIMIT).pixels
    assert pixels.shape == (80, 40)
    assert pixels[:40].mean() > 0.9 > 0.1 > pixels[40:].mean()  # left half is now on top


# --- truncation and junk ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["00000001_000.png", "h0001.png", "16747_3_1.jpg"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 0.02])
def test_truncated_files_are_unreadable(name: str, keep: float) -> None:
    data = (SAMPLES / name).read_bytes()
    with pytest.raises(UnreadableImage) as info:
        decode_image(data[: int(len(data) * keep)], max_pixels=LIMIT)
    assert info.value.status_code == 422


def test_truncated_stays_unreadable_when_pillow_was_told_otherwise() -> None:
    data = (SAMPLES / "16747_3_1.jpg").read_bytes()
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as some ML libraries do at import
    try:
        with pytest.raises(UnreadableImage):
            decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_signature_only_is_unreadable() -> None:
    for data in (b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"\xff\xd8\xff\xe0garbage"):
        with pytest.raises(UnreadableImage):
            decode_image(data, max_pixels=LIMIT)


def test_corrupt_png_crc_is_unreadable() -> None:
    data = bytearray((SAMPLES / "00000001_000.png").read_bytes())
    idat = data.index(b"IDAT")
    data[idat + 200 : idat + 260] = b"\xaa" * 60
    with pytest.raises(UnreadableImage):
        decode_image(bytes(data), max_pixels=LIMIT)


# --- decompression bombs ----------------------------------------------------------------------


def _assert_refused_cheaply(data: bytes, max_pixels: int) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageTooLarge) as info:
            decode_image(data, max_pixels=max_pixels)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert info.value.status_code == 413 and info.value.code == "image_too_large"
    assert elapsed < 0.5
    assert peak < 8 << 20  # Python/numpy allocations
    assert rss_growth_mib < 64  # Pillow's C buffers are invisible to tracemalloc; RSS is not


def test_png_bomb_beyond_pillow_limit() -> None:
    bomb = _png_bomb(20000, 20000)  # 400 Mpx, Pillow itself raises DecompressionBombError
    assert len(bomb) < 200_000
    _assert_refused_cheaply(bomb, max_pixels=LIMIT)


def test_png_bomb_under_pillow_limit_caught_by_our_limit() -> None:
    bomb = _png_bomb(8000, 8000)  # 64 Mpx: under Pillow's threshold, over ours
    _assert_refused_cheaply(bomb, max_pixels=4_000_000)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_png_in_pillow_warning_zone_refused() -> None:
    # Between Pillow's MAX_IMAGE_PIXELS (warning) and twice it (error): refused regardless of
    # the caller's larger limit or of warning filters.
    bomb = _png_bomb(10000, 10000)
    _assert_refused_cheaply(bomb, max_pixels=200_000_000)


def test_jpeg_header_bomb() -> None:
    data = bytearray((SAMPLES / "16747_3_1.jpg").read_bytes())
    sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    _assert_refused_cheaply(bytes(data), max_pixels=LIMIT)


# --- blob-store PNG8 --------------------------------------------------------------------------


def test_png8_round_trip() -> None:
    pixels = _gradient(50, 70)
    data = encode_png8(pixels)
    assert sniff_format(data) == "png"
    with Image.open(io.BytesIO(data)) as im:
        assert (im.mode, im.size) == ("L", (70, 50))
    back = decode_png8(data)
    assert back.dtype == np.float32 and back.shape == pixels.shape
    assert np.abs(back - pixels).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(decode_png8(encode_png8(back)), back)  # idempotent after one pass


def test_png8_clips_and_rejects_bad_shapes() -> None:
    back = decode_png8(encode_png8(np.array([[-1.0, 2.0], [np.nan, 0.5]])))
    assert np.allclose(back, [[0.0, 1.0], [0.0, 128 / 255]])
    for bad in (np.zeros((2, 2, 3)), np.zeros(5), np.zeros((0, 4))):
        with pytest.raises(ValueError):
            encode_png8(bad)


def test_decode_png8_matches_decode_image() -> None:
    data = (SAMPLES / "h0001.png").read_bytes()
    assert np.array_equal(decode_png8(data), decode_image(data, max_pixels=LIMIT).pixels)
