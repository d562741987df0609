"""Run a classifier over the images a label table names."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workers.models.base import Classifier

logger = logging.getLogger(__name__)


def load_image(path: Path) -> np.ndarray:
    """A film as float32 greyscale in [0, 1], 0 = dark. PNG/JPEG (8 or 16 bit) or DICOM."""
    if path.suffix.lower() in (".dcm", ".dicom"):
        return _load_dicom(path)
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            arr = np.asarray(im, dtype=np.float32)
            # 16-bit films use whatever part of the range the scanner wrote: stretch to it.
            low, high = float(arr.min()), float(arr.max())
            return (arr - low) / (high - low) if high > low else np.zeros_like(arr)
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


def _load_dicom(path: Path) -> np.ndarray:
    # A minimal reader for evaluation sets: rescale, VOI LUT, MONOCHROME1 inverted.
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(path)
    arr = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float32)
    if arr.ndim == 3:
        arr = arr[0] if str(ds.get("PhotometricInterpretation", "")).startswith("MONOCHROME") else arr.mean(-1)
    low, high = float(arr.min()), float(arr.max())
    arr = (arr - low) / (high - low) if high > low else np.zeros_like(arr)
    if ds.get("PhotometricInterpretation") == "MONOCHROME1":
        arr = 1.0 - arr
    return arr



def run(classifier: Classifier, folder: Path, images: list[str], *, batch_size: int = 8,
        progress: bool = True) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Scores (n_images, len(classifier.info.labels)) in label order, NaN rows for images that
    could not be read; and the (image, reason) failures."""
    labels = classifier.info.labels
    scores = np.full((len(images), len(labels)), np.nan)
    failures: list[tuple[str, str]] = []
    bar = None
    if progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=len(images), unit="img", file=sys.stderr, desc="eval")
        except ImportError:  # pragma: no cover - tqdm ships with transformers
            bar = None
    for start in range(0, len(images), batch_size):
        chunk = range(start, min(start + batch_size, len(images)))
        tensors, rows = [], []
        for i in chunk:
            try:
                tensors.append(classifier.preprocess(load_image(folder / images[i])))
                rows.append(i)
            except Exception as exc:  # noqa: BLE001 - one bad file must not end the run
                failures.append((images[i], f"{type(exc).__name__}: {exc}"))
                logger.warning("skipping %s: %s", images[i], exc)
        if tensors:
            for i, probs in zip(rows, classifier.forward_batch(torch.stack(tensors)), strict=True):
                scores[i] = [probs.get(label, np.nan) for label in labels]
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return scores, failures
