"""Grad-CAM heat maps for the positive findings of a classify batch.

Computed in a second, gradient-enabled pass over the same preprocessed batch (no re-decode),
only for labels that came out positive, and stored in the blob store as a PNG overlay (for the
review page) and the raw low-resolution map (.npy, for anyone re-rendering it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from shared.labels import is_chest_finding
from shared.storage import BlobStore
from workers.models.base import Classifier
from workers.models.gradcam import encode_npy, gradcam_for_findings, render_overlay

logger = logging.getLogger(__name__)

METHOD = "grad-cam"


@dataclass(frozen=True)
class StoredMap:
    label: str
    overlay_sha256: str
    array_sha256: str


def compute(
    classifier: Classifier,
    batch: torch.Tensor,
    pixels: Sequence[np.ndarray],
    scores: Sequence[dict[str, float]],
    threshold_for: Callable[[str], float],
    store: BlobStore,
    target_layer: str | None,
) -> list[list[StoredMap]]:
    """One list of stored maps per image of the batch (empty where nothing is positive)."""
    maps = gradcam_for_findings(classifier, None, scores, threshold_for, batch=batch,
                                target_layer=target_layer, skip=lambda label: not is_chest_finding(label))
    stored: list[list[StoredMap]] = []
    for image, per_label in zip(pixels, maps, strict=True):
        region = classifier.input_region(*image.shape)
        stored.append([
            StoredMap(label, store.put(render_overlay(image, cam, region=region)), store.put(encode_npy(cam)))
            for label, cam in sorted(per_label.items())
        ])
    return stored
