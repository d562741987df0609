"""PNG and JPEG uploads (and the 8-bit PNGs the pipeline stores) via Pillow.

Pillow's ``Image.open`` reads only the header, so the pixel limit is checked on ``im.size``
before ``im.load()`` allocates anything; a PNG of 20000 x 20000 zeros is a few KB on the wire
and 400 MB once decoded.
"""

from __future__ import annotations

import io
import warnings
import logging

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .errors import ImageTooLarge, UnreadableImage
from .pixels import DecodedImage, finalize, rgb_to_grey

log = logging.getLogger(__name__)

# Only these Pillow plugins may parse an upload: sniffing already decided the format, and
# not letting Pillow guess keeps its rarer (and less hardened) plugins out of reach.
_PIL_FORMATS: dict[str, tuple[str, ...]] = {"png": ("PNG",), "jpeg": ("JPEG",)}

# Blobs written by encode_png8 are our own, but still bounded: the largest radiograph we
# would ever store is far below this.
_STORED_PNG_MAX_PIXELS = 1 << 28
# Rows converted at a time by encode_png8: 4 Mpx of float32 is 16 MB of temporaries.
_ENCODE_BAND_PIXELS = 1 << 22


def _refuse_truncated_loading() -> None:
    # LOAD_TRUNCATED_IMAGES is a process-wide Pillow switch that some ML libraries set to
    # True; with it, half a file decodes "successfully" with grey padding. A truncated
    # radiograph must be refused, so we put the switch back and say so.
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; resetting it to False")
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise UnreadableImage("image header gives a zero width or height")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width} x {height} = {width * height} pixels; the limit is {max_pixels}"
        )
    limit = Image.MAX_IMAGE_PIXELS
    # Above Pillow's own bomb threshold it only warns (the error comes at twice that);
    # treat the warning zone as too large rather than depend on warning filters.
    if limit is not None and width * height > limit:
        raise ImageTooLarge(f"image is {width} x {height} pixels, over the decoder's safety limit")


def _open_loaded(data: bytes, fmt: str, max_pixels: int) -> Image.Image:
    """Open, check the header size, then decode; every failure becomes an IngestError."""
    _refuse_truncated_loading()
    try:
        with warnings.catch_warnings():
            # Pillow warns at open for sizes past its bomb threshold; _check_size below refuses
            # those itself, so the warning would only be noise in the gateway's log.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge("image dimensions exceed the decoder's safety limit") from exc
    except Exception as exc:  # UnidentifiedImageError, SyntaxError, struct.error, ...
        raise UnreadableImage(f"{fmt.upper()} header is corrupt or incomplete") from exc
    try:
        width, height = im.size
        _check_size(width, height, max_pixels)
        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge("image exceeds the decoder's safety limit") from exc
        except Exception as exc:  # OSError("image file is truncated"), zlib errors, ...
            raise UnreadableImage(f"{fmt.upper()} data is truncated or corrupt") from exc
        return im
    except BaseException:
        im.close()
        raise


def _to_grey(im: Image.Image) -> np.ndarray:
    """Any Pillow mode a PNG or JPEG can produce -> float32 (H, W) in [0, 1]."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=bool).astype(np.float32)
    if mode == "L":
        grey = np.asarray(im, dtype=np.float32)
        grey /= np.float32(255.0)  # in place: a second float copy is 4 bytes a pixel more
        return grey
    if mode in ("LA", "La"):
        # Alpha is dropped, not composited: a radiograph's grey values are the data and a
        # transparent border is not "black".
        return np.asarray(im.getchannel(0), dtype=np.float32) / np.float32(255.0)
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale PNG. PNG stores samples scaled to the full 16-bit range (sBIT
        # only annotates it), so 65535 is white whatever the original bit depth.
        arr = np.asarray(im).astype(np.float32)
        return finalize(arr / np.float32(65535.0))
    if mode in ("RGB", "RGBA", "RGBX", "RGBa"):
        return rgb_to_grey(np.asarray(im), 255.0)
    if mode in ("P", "PA"):
        # Palette (possibly grey): expand through the palette, then luma. A grey palette
        # gives back its own values because the luma weights sum to 1.
        return rgb_to_grey(np.asarray(im.convert("RGBA")), 255.0)
    # CMYK (Adobe JPEG), YCbCr, LAB, ...: let Pillow do the colour conversion.
    return rgb_to_grey(np.asarray(im.convert("RGB")), 255.0)


def _exif_oriented(im: Image.Image) -> Image.Image:
    # Phone and scanner JPEGs carry an EXIF orientation; use the image the way every viewer
    # shows it, not the sensor's row order. Broken EXIF is metadata noise, not a reason to
    # refuse the pixels, so any failure keeps the stored orientation.
    try:
        transposed = ImageOps.exif_transpose(im)
    except Exception:
        return im
    return transposed if transposed is not None else im


def decode_raster(data: bytes, fmt: str, max_pixels: int) -> DecodedImage:
    """Decode a PNG (``fmt="png"``) or JPEG (``fmt="jpeg"``) upload to grey [0, 1]."""
    im = _open_loaded(data, fmt, max_pixels)
    with im:
        oriented = _exif_oriented(im) if fmt == "jpeg" else im
        try:
            pixels = _to_grey(oriented)
        except Exception as exc:
            raise UnreadableImage(f"{fmt.upper()} pixel data could not be converted") from exc
    return DecodedImage(pixels=finalize(pixels), source_format=fmt)


def encode_png8(pixels: np.ndarray) -> bytes:
    """Float (H, W) in [0, 1] -> 8-bit greyscale PNG bytes for the blob store and review UI.

    Values outside [0, 1] are clipped and NaN becomes 0, so a slightly-off model input can
    still be shown; the shape must be 2-D.
    """
    arr = np.asarray(pixels)
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"encode_png8 needs a non-empty 2-D array, got shape {arr.shape}")
    grey = np.empty(arr.shape, dtype=np.uint8)
    # Converted in bands of rows: done on the whole array at once, the float temporaries
    # (NaN-cleaned copy, scaled copy) cost 8 bytes a pixel, 400 MB for a 50 Mpx radiograph.
    step = max(1, _ENCODE_BAND_PIXELS // arr.shape[1])
    for start in range(0, arr.shape[0], step):
        band = np.nan_to_num(arr[start : start + step].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(band, 0.0, 1.0, out=band)
        band *= np.float32(255.0)
        grey[start : start + step] = np.rint(band, out=band)
    buf = io.BytesIO()
    # compress_level 6 is Pillow's default trade-off; "optimize" would triple the CPU time
    # for a few percent on radiographs.
    Image.fromarray(grey).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def decode_png8(data: bytes) -> np.ndarray:
    """Inverse of encode_png8: PNG bytes -> float32 (H, W) in [0, 1].

    Accepts any PNG (it goes through the same grey conversion as uploads) so that blobs
    written by an older encoder still read.
    """
    im = _open_loaded(data, "png", _STORED_PNG_MAX_PIXELS)
    with im:
        return finalize(_to_grey(im))
