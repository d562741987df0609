from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from workers.models import load_classifier
from workers.models.base import Classifier, ModelInfo, as_grey
from workers.models.gradcam import encode_npy, find_target_layer, gradcam, gradcam_for_findings, render_overlay

SIZE = 64
SQUARE = 10


class SquareDetector(Classifier):
    """A tiny CNN wrapped in the Classifier interface, trained below to flag a bright square."""

    gradcam_layer = "features"

    def __init__(self, module: nn.Module) -> None:
        self.module = module.eval()
        self.device = torch.device("cpu")
        self.output_labels = ("Mass",)
        self.info = ModelInfo("test:square", "0", "", False, ("Mass",))

    def preprocess(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(as_grey(image))[None]

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        return self.module(batch)


def synthetic(rng: np.random.Generator, at: tuple[int, int] | None) -> np.ndarray:
    image = rng.random((SIZE, SIZE), dtype=np.float32) * 0.4
    if at is not None:
        y, x = at
        image[y:y + SQUARE, x:x + SQUARE] = 0.95
    return image


@pytest.fixture(scope="module")
def detector() -> SquareDetector:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    module = nn.Sequential()
    module.add_module("features", nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
    ))
    module.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
    module.add_module("head", nn.Linear(16, 1))
    optimiser = torch.optim.Adam(module.parameters(), lr=1e-2)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(150):
        labels = rng.random(32) < 0.5
        images = [synthetic(rng, tuple(rng.integers(0, SIZE - SQUARE, 2)) if pos else None) for pos in labels]
        batch = torch.from_numpy(np.stack(images))[:, None]
        loss = loss_fn(module(batch)[:, 0], torch.from_numpy(labels.astype(np.float32)))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return SquareDetector(module)


def test_detector_learned(detector: SquareDetector) -> None:
    rng = np.random.default_rng(1)
    pos = detector.predict([synthetic(rng, (10, 40)) for _ in range(8)])
    neg = detector.predict([synthetic(rng, None) for _ in range(8)])
    assert min(p["Mass"] for p in pos) > max(p["Mass"] for p in neg)


@pytest.mark.parametrize("at", [(40, 8), (6, 44), (27, 27)])
def test_map_peaks_inside_square(detector: SquareDetector, at: tuple[int, int]) -> None:
    image = synthetic(np.random.default_rng(2), at)
    cam = gradcam(detector, [image], ["Mass"])[0]["Mass"]
    assert cam.shape == (16, 16) and cam.dtype == np.float32
    assert cam.max() == pytest.approx(1.0) and cam.min() >= 0.0
    from workers.models.gradcam import upsample

    y, x = np.unravel_index(np.argmax(upsample(cam, SIZE, SIZE)), (SIZE, SIZE))
    assert at[0] <= y < at[0] + SQUARE and at[1] <= x < at[1] + SQUARE


def test_findings_only_for_positives(detector: SquareDetector) -> None:
    rng = np.random.default_rng(3)
    images = [synthetic(rng, (20, 20)), synthetic(rng, None)]
    preds = detector.predict(images)
    maps = gradcam_for_findings(detector, images, preds, lambda _label: 0.5)
    assert set(maps[0]) == {"Mass"} and maps[1] == {}


def test_overlay_png(detector: SquareDetector) -> None:
    image = synthetic(np.random.default_rng(4), (30, 10))
    cam = gradcam(detector, [image])[0]["Mass"]
    png = render_overlay(image, cam)
    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG" and im.size == (SIZE, SIZE) and im.mode == "RGB"
        pixels = np.asarray(im).astype(int)
    # The hot region is tinted (not grey) over the square, the far corner mostly grey.
    hot = pixels[35, 15]
    assert hot.max() - hot.min() > 40
    assert np.load(io.BytesIO(encode_npy(cam))).shape == cam.shape


def test_densenet_backends(densenet22_weights: dict[str, Path], xrv_weights: Path, weights_dir: Path,
                           sample_image: np.ndarray) -> None:
    for spec in ("densenet22:plain.pt", "xrv:densenet121-res224-all"):
        clf = load_classifier(spec, weights_dir=weights_dir)
        maps = gradcam(clf, [sample_image], ["Effusion", "Cardiomegaly"])[0]
        assert set(maps) == {"Effusion", "Cardiomegaly"}
        assert all(m.shape == (7, 7) and 0 <= m.min() and m.max() <= 1 for m in maps.values())
        png = render_overlay(sample_image, maps["Effusion"], region=clf.input_region(*sample_image.shape))
        assert png.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="does not output"):
        gradcam(clf, [sample_image], ["Glioma"])


def test_hf_cnn_and_target_override(hf_model_dir: Path, weights_dir: Path, sample_image: np.ndarray) -> None:
    clf = load_classifier(f"hf:{hf_model_dir}", weights_dir=weights_dir)
    batch = clf.preprocess(sample_image)[None]
    assert find_target_layer(clf, batch) == "resnet.encoder.stages.1"
    maps = gradcam(clf, [sample_image], ["Other"])[0]
    assert maps["Other"].shape == (8, 8)  # 64 px input, stride 8 at the last stage
    override = gradcam(clf, [sample_image], ["Other"], target_layer="resnet.encoder.stages.0")[0]
    assert override["Other"].shape == (16, 16)


def test_hf_vit(tmp_path: Path, sample_image: np.ndarray) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=32, id2label={0: "Effusion", 1: "Mass"}, label2id={"Effusion": 0, "Mass": 1})
    ViTForImageClassification(config).save_pretrained(tmp_path / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "vit")
    clf = load_classifier(f"hf:{tmp_path / 'vit'}", weights_dir=tmp_path)
    assert find_target_layer(clf).endswith("1.layernorm_before")
    maps = gradcam(clf, [sample_image, sample_image[:300]])
    assert maps[0]["Mass"].shape == (4, 4) and set(maps[1]) == {"Effusion", "Mass"}


def test_findings_from_preprocessed_batch(detector: SquareDetector) -> None:
    rng = np.random.default_rng(5)
    images = [synthetic(rng, (40, 40)), synthetic(rng, (5, 5))]
    with torch.inference_mode():  # as the classify stage may build it
        batch = torch.stack([detector.preprocess(i) for i in images])
    preds = detector.forward_batch(batch)
    maps = gradcam_for_findings(detector, None, preds, lambda _label: 0.5, batch=batch)
    direct = gradcam(detector, images, ["Mass"])
    for got, expected in zip(maps, direct, strict=True):
        assert np.allclose(got["Mass"], expected["Mass"], atol=1e-5)
    assert gradcam_for_findings(detector, None, preds, lambda _label: 0.5, batch=batch,
                                skip=lambda label: label == "Mass") == [{}, {}]
