"""`xrv:<weights>`: torchxrayvision DenseNet-121 / ResNet-50/101 chest classifiers.

torchxrayvision's own loader downloads into ~/.torchxrayvision when it does not find a file; we
never let it: the architecture is built with weights=None and the file is read from the weights
folder (or an explicit path) by us. What the library publishes, and how we read it:

- DenseNet weights are whole pickled `xrv.models.DenseNet` modules (the library itself calls
  `torch.load(..., weights_only=False).state_dict()`); we accept those and plain state dicts.
- ResNet weights ("...-state.pt") are state dicts of a torchvision ResNet whose conv1 takes
  1 channel.
- Output labels per weights name and the `op_threshs` calibration come from `model_urls`.
  Blank label slots ("") are outputs the model was not trained for and are not reported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from shared.labels import canonical_label
from workers.models.base import Classifier, ModelInfo, as_grey, resolve_device, unique_labels
from workers.models.weights import (
    check_sha256,
    extract_state_dict,
    find_file,
    load_strict,
    load_torch_file,
    looks_like_path,
    sha256_file,
    strip_prefixes,
)

try:  # imported lazily by the registry; a missing package is a clear error there, not here
    import torchxrayvision as xrv
except ImportError:  # pragma: no cover
    xrv = None  # type: ignore[assignment]


def _model_urls() -> Mapping[str, Mapping[str, Any]]:
    if xrv is None:  # pragma: no cover
        raise RuntimeError("the xrv backend needs the torchxrayvision package (pip install torchxrayvision)")
    return xrv.models.model_urls


def known_weights() -> dict[str, Mapping[str, Any]]:
    """Canonical weights names (the long "densenet121-res224-..." ones, plus the ResNet)."""
    urls = _model_urls()
    return {name: meta for name, meta in urls.items() if name.startswith(("densenet", "resnet"))}


def published_filename(name: str) -> str | None:
    meta = _model_urls().get(name)
    return os.path.basename(meta["weights_url"]) if meta and "weights_url" in meta else None


def _aliases(name: str) -> list[str]:
    """All names that share `name`'s metadata ("all" and "densenet121-res224-all")."""
    urls = _model_urls()
    meta = urls.get(name)
    return [n for n, m in urls.items() if meta is not None and m is meta]


def _canonical_name(name: str) -> str:
    """The long alias ("densenet121-res224-all") of a short one ("all")."""
    return next((a for a in _aliases(name) if a.startswith(("densenet", "resnet"))), name)


def _name_for_file(path: Path) -> str | None:
    """Recognise a known weights name from a file name (our "<name>.pt" or xrv's own name)."""
    urls = _model_urls()
    if path.stem in urls:
        return _canonical_name(path.stem)
    for name, meta in urls.items():
        if os.path.basename(meta.get("weights_url", "")) == path.name:
            return _canonical_name(name)
    return None


def fetch_hint(name: str, folder: Path) -> str:
    filename = published_filename(name)
    if filename:
        url = _model_urls()[name]["weights_url"]
        return (f"Fetch {url} and save it as {folder / (name + '.pt')} (or keep its name, {filename}, "
                f"in that folder), or run `radstack models import FILE`.")
    names = ", ".join(sorted(known_weights()))
    return (f"Known torchxrayvision weights names: {names}; files come from "
            f"https://github.com/mlmed/torchxrayvision/releases/download/v1/<file>. "
            f"Put the file in {folder} as <name>.pt, or give a path.")


class _XrvResNet(nn.Module):
    """torchvision ResNet with the 1-channel stem torchxrayvision uses (same state-dict keys)."""

    def __init__(self, depth: int, num_classes: int) -> None:
        super().__init__()
        builder = torchvision.models.resnet101 if depth == 101 else torchvision.models.resnet50
        self.model = builder(weights=None, num_classes=num_classes)
        self.model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class XrvClassifier(Classifier):
    def __init__(self, value: str, *, weights_dir: Path, device: str = "cpu",
                 expected_sha256: str | None = None, model_id: str | None = None) -> None:
        folder = Path(weights_dir) / "xrv"
        if looks_like_path(value):
            path = find_file(value, search_dirs=[folder, Path.cwd()], what=f"xrv:{value}",
                             fetch_hint=fetch_hint("", folder))
            name = _name_for_file(path)
        else:
            if value not in _model_urls():
                known = ", ".join(sorted(known_weights()))
                raise ValueError(f"unknown torchxrayvision weights {value!r}; known: {known}")
            name = value
            candidates = []
            for alias in _aliases(value):
                candidates += [f"{alias}.pt", f"{alias}.pth"]
            candidates.append(published_filename(value) or "")
            path = find_file(f"{value}.pt", search_dirs=[folder], candidates=[c for c in candidates if c],
                             what=f"xrv:{value}", fetch_hint=fetch_hint(value, folder))
        sha = sha256_file(path)
        check_sha256(sha, expected_sha256, path)

        self.device = resolve_device(device)
        state = extract_state_dict(load_torch_file(path, "cpu"), path)
        state = strip_prefixes(state, ("module.",))
        file_threshs = state.pop("op_threshs", None)
        meta = _model_urls().get(name) if name else None
        is_resnet = (name or "").startswith("resnet") or any(k.startswith(("model.conv1", "conv1.")) for k in state)
        if is_resnet:
            state = {k if k.startswith("model.") else f"model.{k}": v for k, v in state.items()}
            num_classes = int(state["model.fc.weight"].shape[0])
            depth = 101 if (name or "").startswith("resnet101") or any(".layer3.22." in k for k in state) else 50
            module: nn.Module = _XrvResNet(depth, num_classes)
            self.gradcam_layer = "model.layer4"
        else:
            if "classifier.weight" not in state:
                raise ValueError(f"{path}: no classifier.weight; not a torchxrayvision DenseNet checkpoint")
            num_classes = int(state["classifier.weight"].shape[0])
            module = xrv.models.DenseNet(weights=None, num_classes=num_classes, in_channels=1)
            self.gradcam_layer = "features"
        load_strict(module, state, path)

        raw_labels = list(meta["labels"]) if meta else list(xrv.models.DenseNet.targets)
        if len(raw_labels) != num_classes:
            raise ValueError(
                f"{path}: {num_classes} outputs but "
                f"{'weights ' + repr(name) if name else 'the default xrv label list'} "
                f"has {len(raw_labels)} labels; name the file <known weights name>.pt"
            )
        # Calibration: the published per-label operating points, else any stored in the file.
        if meta and "op_threshs" in meta:
            threshs = torch.tensor(np.asarray(meta["op_threshs"], dtype=np.float32))
        elif isinstance(file_threshs, torch.Tensor) and file_threshs.numel() == num_classes:
            threshs = file_threshs.float()
        else:
            threshs = torch.full((num_classes,), float("nan"))
        self.op_threshs = threshs.to(self.device)

        self.resolution = int(meta.get("input_resolution", 224)) if meta else (512 if is_resnet else 224)
        self.module = module.to(self.device).eval()
        self.output_labels = tuple(canonical_label(lbl) if lbl else "" for lbl in raw_labels)
        self.info = ModelInfo(
            model_id=model_id or f"xrv:{value}",
            version=f"torchxrayvision-{xrv.__version__}",
            weights_sha256=sha,
            is_demo=False,
            labels=unique_labels(self.output_labels),
        )
        self.weights_path = path

    def input_region(self, height: int, width: int) -> tuple[int, int, int, int]:
        side = min(height, width)  # xrv's XRayCenterCrop: centre square on the long side
        return (height - side) // 2, (width - side) // 2, side, side

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        grey = as_grey(image)
        top, left, h, w = self.input_region(*grey.shape)
        tensor = torch.from_numpy(np.ascontiguousarray(grey[top:top + h, left:left + w]))[None, None]
        if tensor.shape[-1] != self.resolution:
            # xrv.utils.fix_resolution resizes the same way (bilinear, antialiased).
            tensor = F.interpolate(tensor, size=(self.resolution, self.resolution), mode="bilinear",
                                   antialias=True, align_corners=False)
        # xrv.utils.normalize(img, maxval=1): [0, 1] -> [-1024, 1024].
        return ((2.0 * tensor[0] - 1.0) * 1024.0).clamp(-1024.0, 1024.0)

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(batch)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """xrv's op_norm: sigmoid, then piecewise-linear so each label's operating point maps to
        0.5. Unlike xrv, a label without a published threshold keeps its plain sigmoid (xrv
        returns a constant 0.5 there, which would be a meaningless score)."""
        probs = torch.sigmoid(logits)
        t = self.op_threshs.to(probs.device).expand_as(probs)
        known = ~torch.isnan(t)
        safe_t = torch.where(known, t, torch.full_like(t, 0.5))
        low = probs / (safe_t * 2)
        high = 1.0 - (1.0 - probs) / ((1.0 - safe_t) * 2)
        calibrated = torch.where(probs < safe_t, low, high)
        return torch.where(known, calibrated, probs)


def has_calibration(name: str) -> bool:
    meta = _model_urls().get(name, {})
    return any(not math.isnan(float(t)) for t in meta.get("op_threshs", []))
