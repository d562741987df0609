"""Test weights for every backend, built once per session into a temporary weights folder.

Nothing is downloaded: the files are random-init models saved in each backend's on-disk format.
"""

from __future__ import annotations

import os

# Before anything imports transformers / huggingface_hub: no hub access, ever, in tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "cxr" / "00000001_000.png"
HF_LABELS = {0: "Pleural Effusion", 1: "Cardiomegaly", 2: "No Finding", 3: "Sarcoidosis", 4: "Bronchiectasis"}


def load_grey(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


@pytest.fixture(scope="session")
def sample_image() -> np.ndarray:
    return load_grey(SAMPLE)


@pytest.fixture(scope="session")
def sample_images(sample_image: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    other = load_grey(REPO / "samples" / "cxr" / "00027426_000.png")
    # Different sizes and a non-square one: the backends resize (and xrv centre-crops).
    return [sample_image, other[::2, ::2].copy(), rng.random((300, 240), dtype=np.float32)]


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def xrv_weights(weights_dir: Path) -> Path:
    """A torchxrayvision DenseNet state dict saved as <weights_dir>/xrv/<name>.pt."""
    import torchxrayvision as xrv

    torch.manual_seed(1)
    model = xrv.models.DenseNet(weights=None, num_classes=18, in_channels=1)
    path = weights_dir / "xrv" / "densenet121-res224-all.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def densenet22_weights(weights_dir: Path) -> dict[str, Path]:
    from workers.models.densenet22 import build_densenet22

    torch.manual_seed(2)
    state = build_densenet22().state_dict()
    folder = weights_dir / "densenet22"
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / "plain.pt"
    torch.save(state, plain)
    wrapped = folder / "wrapped.pt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    return {"plain": plain, "wrapped": wrapped}


@pytest.fixture(scope="session")
def hf_model_dir(weights_dir: Path) -> Path:
    """A tiny ResNet image classifier + image processor, save_pretrained to a folder."""
    from transformers import ResNetConfig, ResNetForImageClassification, ViTImageProcessor

    torch.manual_seed(3)
    config = ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
        layer_type="basic", id2label=HF_LABELS, label2id={v: k for k, v in HF_LABELS.items()},
        problem_type="multi_label_classification",
    )
    folder = weights_dir / "hf_tiny_resnet"
    ResNetForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder
