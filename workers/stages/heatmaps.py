"""Grad-CAM heat maps for the positive findings of a classify batch.

Computed in the same forward pass that scores the batch (with gradients on), only for labels
that came out positive, and stored in the blob store as a PNG overlay (for the review page) and
the raw low-resolution map (.npy, for anyone re-rendering it). Overlays are drawn in threads:
PNG encoding releases the GIL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from shared.labels import is_chest_finding
from shared.storage import BlobStore
from workers.models.base import Classifier
from workers.models.gradcam import encode_npy, forward_with_gradcam, render_overlay

logger = logging.getLogger(__name__)

METHOD = "grad-cam"
_renderer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="overlay")


@dataclass(frozen=True)
class StoredMap:
    label: str
    overlay_sha256: str
    array_sha256: str


def score_and_map(
    classifier: Classifier,
    batch: torch.Tensor,
    pixels: Sequence[np.ndarray],
    threshold_for: Callable[[str], float],
    store: BlobStore,
    target_layer: str | None,
) -> tuple[list[dict[str, float]], list[list[StoredMap]]]:
    """Per image: its scores, and its stored maps (empty where nothing is positive)."""
    scores, maps = forward_with_gradcam(classifier, batch, threshold_for, target_layer=target_layer,
                                        skip=lambda label: not is_chest_finding(label))

    def store_one(image: np.ndarray, label: str, cam: np.ndarray) -> StoredMap:
        region = classifier.input_region(*image.shape)
        return StoredMap(label, store.put(render_overlay(image, cam, region=region)), store.put(encode_npy(cam)))

    futures = [[_renderer.submit(store_one, image, label, cam) for label, cam in sorted(per_label.items())]
               for image, per_label in zip(pixels, maps, strict=True)]
    return scores, [[future.result() for future in row] for row in futures]
