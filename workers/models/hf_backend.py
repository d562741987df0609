"""`hf:<model id or local dir>`: any Hugging Face image classifier, loaded from disk only.

Loading is always `local_files_only=True`: a model id is looked up as
`<weights_dir>/hf/<id with "/" replaced by "__">` (the folder an offline site fills with
`save_pretrained`), never fetched from the hub at run time.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shared.labels import canonical_label
from workers.models.base import Classifier, ModelInfo, WeightsNotFound, as_grey, resolve_device, unique_labels
from workers.models.weights import check_sha256, sha256_files

logger = logging.getLogger(__name__)

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
SHARDED_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def local_folder(model_id: str, weights_dir: Path) -> Path:
    return Path(weights_dir) / "hf" / model_id.replace("/", "__")


def resolve_folder(value: str, weights_dir: Path) -> Path:
    """Explicit paths are taken as is; anything else is a model id, looked up in the weights
    folder first and only then as a folder relative to the working directory."""
    if value.startswith(("/", ".", "~")):
        folder = Path(value).expanduser()
        if not folder.is_dir():
            raise WeightsNotFound(
                f"hf:{value}: model folder {folder} does not exist. Save the model there with "
                f"`AutoModelForImageClassification.from_pretrained(ID).save_pretrained('{folder}')` "
                f"(and the same for AutoImageProcessor) on a machine with network access."
            )
        return folder
    folder = local_folder(value, weights_dir)
    if not folder.is_dir() and os.path.isdir(value):
        return Path(value)
    if not folder.is_dir():
        raise WeightsNotFound(
            f"hf:{value}: Hugging Face model {value!r} is not in the weights folder: expected "
            f"{folder} (looked in {Path(weights_dir) / 'hf'}). On a machine with network access run "
            f"`AutoModelForImageClassification.from_pretrained('{value}').save_pretrained('{folder}')` "
            f"and `AutoImageProcessor.from_pretrained('{value}').save_pretrained('{folder}')`, then copy "
            f"the folder here (or `radstack models import FOLDER`)."
        )
    return folder


def weight_files(folder: Path) -> list[Path]:
    """The files whose bytes are the model: single-file weights, or all shards of an index."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return [folder / name]
    for index in SHARDED_INDEXES:
        if (folder / index).is_file():
            import json

            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise WeightsNotFound(f"{folder}: shard(s) {missing} listed in {index} are missing")
            return [folder / s for s in shards]
    raise WeightsNotFound(
        f"{folder}: no weights file ({' or '.join(WEIGHT_FILES)}) in the model folder; re-run "
        f"save_pretrained into it."
    )


class HFClassifier(Classifier):
    def __init__(self, value: str, *, weights_dir: Path, device: str = "cpu",
                 expected_sha256: str | None = None, model_id: str | None = None) -> None:
        import transformers
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        folder = resolve_folder(value, weights_dir)
        files = weight_files(folder)
        sha = sha256_files(files)
        check_sha256(sha, expected_sha256, folder)
        self.device = resolve_device(device)
        self.processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForImageClassification.from_pretrained(str(folder), local_files_only=True)
        self.module = model.to(self.device).eval()

        id2label = {int(k): v for k, v in model.config.id2label.items()}
        raw = [id2label[i] for i in range(len(id2label))]
        self.output_labels = tuple(canonical_label(name) for name in raw)
        others = [name for name, lbl in zip(raw, self.output_labels) if lbl == "Other"]
        if others:
            logger.info("hf:%s: labels %s are not in the vocabulary; reported as 'Other' (max)", value, others)
        if getattr(model.config, "problem_type", None) == "single_label_classification":
            # Spec: sigmoid multi-label. Such a head was trained with softmax; say so once.
            logger.warning("hf:%s was trained single-label (softmax); scores use sigmoid regardless", value)
        self.num_channels = int(getattr(model.config, "num_channels", 3) or 3)
        self.gradcam_layer = None  # found by workers.models.gradcam when asked
        self.info = ModelInfo(
            model_id=model_id or f"hf:{value}",
            version=f"transformers-{transformers.__version__}",
            weights_sha256=sha,
            is_demo=False,
            labels=unique_labels(self.output_labels),
        )
        self.weights_path = folder

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        grey = as_grey(image)
        # Processors expect 8-bit-style pictures (they rescale by 1/255) in RGB.
        pil = Image.fromarray(np.round(grey * 255.0).astype(np.uint8)).convert("RGB")
        pixels = self.processor(images=[pil], return_tensors="pt")["pixel_values"][0].float()
        if self.num_channels == 1 and pixels.shape[0] == 3:
            pixels = pixels.mean(dim=0, keepdim=True)
        return pixels

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(pixel_values=batch).logits
