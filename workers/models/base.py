"""The one classifier interface every backend implements.

The classify task only ever sees `Classifier`: images in, `{canonical_label: probability}` out,
plus a `ModelInfo` that is stored with every finding (model id, version, weights checksum), so a
finding can always be traced to the exact weights that produced it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    model_id: str  # the spec as given: "xrv:densenet121-res224-all", "hf:/dir", "densenet22:/x.pt", "demo"
    version: str  # backend library and version, e.g. "torchxrayvision-1.5.7"
    weights_sha256: str  # of the weights file(s) actually loaded
    is_demo: bool
    labels: tuple[str, ...]  # canonical labels (shared.labels) in output order, duplicates merged


class WeightsNotFound(FileNotFoundError):
    """A weights file or folder is missing. The message says what, where, and how to get it:
    sites are often offline, so "download failed" would not help anyone."""


class WeightsChecksumMismatch(ValueError):
    """The weights file on disk is not the one that was pinned (expected_sha256)."""


def as_grey(image: np.ndarray) -> np.ndarray:
    """Validate one input image and return it as float32 HxW in [0, 1].

    Callers are meant to pass greyscale already; an HxWxC array is averaged rather than refused
    because PNG/JPEG samples often decode as RGB with three equal channels.
    """
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = arr[..., :3].mean(axis=-1) if arr.shape[-1] != 1 else arr[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise ValueError(f"expected a greyscale HxW image, got shape {np.shape(image)}")
    # NaNs from a broken decode would silently poison a whole batch through batch-stat-free ops.
    arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(arr, 0.0, 1.0)


class Classifier(ABC):
    """Backends implement `preprocess` and `logits`; everything else is shared.

    `output_labels[i]` is the canonical label of output column i ("" for a column that is not
    reported, e.g. torchxrayvision's unused slots). Several columns may share a label (e.g. more
    than one unknown label mapping to "Other"); the reported probability is then the maximum.
    """

    info: ModelInfo
    module: nn.Module
    device: torch.device
    output_labels: tuple[str, ...]

    @abstractmethod
    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        """One greyscale [0, 1] image -> the model's input tensor (C, H, W), on the CPU."""

    @abstractmethod
    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) on self.device -> raw scores (N, len(output_labels)). Differentiable, so
        Grad-CAM can use it; callers wanting probabilities use `forward_batch`/`predict`."""

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Raw scores -> probabilities; sigmoid multi-label unless a backend calibrates."""
        return torch.sigmoid(logits)

    def input_region(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the original image that the model actually sees, so
        a heat map can be laid over the right part of the radiograph. Default: all of it."""
        return 0, 0, height, width

    # Fast-path switches, set by workers.models.fastpath.apply_fast_path.
    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False

    def to_device(self, batch: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            # Pinned host memory lets the copy overlap with work already queued on the GPU.
            batch = batch.pin_memory().to(self.device, dtype=torch.float32, non_blocking=True)
        else:
            batch = batch.to(self.device, dtype=torch.float32)
        if self.channels_last and batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        return batch

    def forward_batch(self, batch: torch.Tensor) -> list[dict[str, float]]:
        with torch.inference_mode():
            batch = self.to_device(batch)
            if self.autocast_dtype is not None:
                with torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype):
                    logits = self.logits(batch)
                logits = logits.float()
            else:
                logits = self.logits(batch)
            rows = self.probabilities(logits).float().cpu().numpy()
        return [self._to_dict(row) for row in rows]

    def predict(self, images: Sequence[np.ndarray]) -> list[dict[str, float]]:
        if len(images) == 0:
            return []
        return self.forward_batch(torch.stack([self.preprocess(image) for image in images]))

    def _to_dict(self, row: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        for label, value in zip(self.output_labels, row):
            if not label:
                continue
            p = float(min(1.0, max(0.0, value)))
            out[label] = max(out.get(label, 0.0), p)
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.model_id} sha256={self.info.weights_sha256[:12]}>"


def unique_labels(output_labels: Sequence[str]) -> tuple[str, ...]:
    """The reported label set: output order, blanks dropped, duplicates merged."""
    seen: dict[str, None] = {}
    for label in output_labels:
        if label:
            seen.setdefault(label, None)
    return tuple(seen)


def resolve_device(device: str | torch.device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available on this machine")
    return dev
