from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.labels import DENSENET22
from workers.models import WeightsNotFound, load_classifier
from workers.models.weights import sha256_file

REPO = Path(__file__).resolve().parents[3]


def test_plain_and_wrapped_checkpoints(densenet22_weights: dict[str, Path], weights_dir: Path,
                                       sample_image: np.ndarray) -> None:
    plain = load_classifier(f"densenet22:{densenet22_weights['plain']}", weights_dir=weights_dir)
    # Relative name: resolved against <weights_dir>/densenet22/.
    wrapped = load_classifier("densenet22:wrapped.pt", weights_dir=weights_dir)
    assert plain.info.labels == DENSENET22
    assert plain.info.weights_sha256 == sha256_file(densenet22_weights["plain"])
    assert wrapped.info.weights_sha256 == sha256_file(densenet22_weights["wrapped"])
    assert wrapped.info.model_id == "densenet22:wrapped.pt"
    a, b = plain.predict([sample_image])[0], wrapped.predict([sample_image])[0]
    assert set(a) == set(DENSENET22)
    assert all(0.0 <= p <= 1.0 for p in a.values())
    assert a == pytest.approx(b)  # same weights, different wrapping


def test_preprocess_imagenet(densenet22_weights: dict[str, Path], weights_dir: Path) -> None:
    clf = load_classifier("densenet22:plain.pt", weights_dir=weights_dir)
    tensor = clf.preprocess(np.zeros((100, 80), np.float32))
    assert tensor.shape == (3, 224, 224)
    assert float(tensor[0, 0, 0]) == pytest.approx(-0.485 / 0.229, rel=1e-5)


def test_batch_equals_single(densenet22_weights: dict[str, Path], weights_dir: Path,
                             sample_images: list[np.ndarray]) -> None:
    clf = load_classifier("densenet22:plain.pt", weights_dir=weights_dir)
    batch = clf.predict(sample_images)
    for image, row in zip(sample_images, batch):
        single = clf.predict([image])[0]
        assert np.allclose([row[k] for k in DENSENET22], [single[k] for k in DENSENET22], atol=1e-5)


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound) as err:
        load_classifier("densenet22:best.pt", weights_dir=tmp_path)
    assert "best.pt" in str(err.value) and str(tmp_path / "densenet22") in str(err.value)


def test_wrong_architecture_is_an_error(tmp_path: Path) -> None:
    torch.save({"classifier.weight": torch.zeros(22, 1024)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="missing keys"):
        load_classifier(f"densenet22:{tmp_path / 'bad.pt'}", weights_dir=tmp_path)


def test_demo_model(sample_images: list[np.ndarray], tmp_path: Path) -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    demo = load_classifier("demo", weights_dir=tmp_path)
    torch.manual_seed(123)
    assert torch.equal(before, torch.rand(1)), "building the demo must not disturb the global RNG"
    assert demo.info.is_demo and demo.info.model_id == "demo"
    assert demo.info.labels == DENSENET22
    again = load_classifier("demo", weights_dir=tmp_path)
    assert demo.info.weights_sha256 == again.info.weights_sha256
    rows = demo.predict(sample_images)
    assert rows == again.predict(sample_images)
    probs = np.array([[row[k] for k in DENSENET22] for row in rows])
    assert ((probs >= 0) & (probs <= 1)).all()
    # Spread: most labels low, at least one high, and the films do not all score the same.
    assert (probs < 0.5).mean() > 0.7 and (probs > 0.5).any()
    assert probs.std(axis=0).max() > 0.02


def test_demo_is_deterministic_across_processes(sample_image: np.ndarray, tmp_path: Path) -> None:
    code = (
        "import numpy as np, json, sys; from workers.models import load_classifier;"
        "c = load_classifier('demo', weights_dir='.');"
        "img = np.load(sys.argv[1]);"
        "print(json.dumps([c.info.weights_sha256, c.predict([img])[0]]))"
    )
    np.save(tmp_path / "img.npy", sample_image)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "img.npy")], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    import json

    sha, probs = json.loads(out.strip().splitlines()[-1])
    demo = load_classifier("demo", weights_dir=tmp_path)
    assert sha == demo.info.weights_sha256
    assert probs == pytest.approx(demo.predict([sample_image])[0], abs=1e-6)
