from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from workers.models import WeightsChecksumMismatch, WeightsNotFound, load_classifier
from workers.models.weights import sha256_file


def test_load_local_dir(hf_model_dir: Path, weights_dir: Path, sample_images: list[np.ndarray]) -> None:
    clf = load_classifier(f"hf:{hf_model_dir}", weights_dir=weights_dir)
    info = clf.info
    assert info.version.startswith("transformers-")
    assert info.weights_sha256 == sha256_file(hf_model_dir / "model.safetensors")
    # "Pleural Effusion" -> Effusion, "No Finding" -> Normal, two unknown labels merge to "Other".
    assert info.labels == ("Effusion", "Cardiomegaly", "Normal", "Other")
    assert clf.preprocess(sample_images[0]).shape == (3, 64, 64)
    rows = clf.predict(sample_images)
    for row in rows:
        assert set(row) == set(info.labels)
        assert all(0.0 <= p <= 1.0 for p in row.values())
    for image, row in zip(sample_images, rows):
        single = clf.predict([image])[0]
        assert np.allclose([row[k] for k in info.labels], [single[k] for k in info.labels], atol=1e-5)


def test_other_is_max_of_unknown_outputs(hf_model_dir: Path, weights_dir: Path, sample_image: np.ndarray) -> None:
    import torch

    clf = load_classifier(f"hf:{hf_model_dir}", weights_dir=weights_dir)
    batch = clf.preprocess(sample_image)[None]
    with torch.inference_mode():
        probs = torch.sigmoid(clf.logits(batch))[0].numpy()
    assert clf.forward_batch(batch)[0]["Other"] == pytest.approx(float(max(probs[3], probs[4])), abs=1e-6)


def test_model_id_resolves_in_weights_folder(hf_model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "hf" / "someorg__tiny-cxr"
    shutil.copytree(hf_model_dir, target)
    clf = load_classifier("hf:someorg/tiny-cxr", weights_dir=tmp_path)
    assert clf.info.model_id == "hf:someorg/tiny-cxr"


def test_missing_model_id_names_folder(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound) as err:
        load_classifier("hf:someorg/absent-model", weights_dir=tmp_path)
    message = str(err.value)
    assert "someorg/absent-model" in message
    assert str(tmp_path / "hf" / "someorg__absent-model") in message
    assert "save_pretrained" in message


def test_folder_without_weights(hf_model_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "broken"
    shutil.copytree(hf_model_dir, target)
    (target / "model.safetensors").unlink()
    with pytest.raises(WeightsNotFound, match="model.safetensors"):
        load_classifier(f"hf:{target}", weights_dir=tmp_path)


def test_checksum_mismatch(hf_model_dir: Path, weights_dir: Path) -> None:
    with pytest.raises(WeightsChecksumMismatch):
        load_classifier(f"hf:{hf_model_dir}", weights_dir=weights_dir, expected_sha256="ab" * 32)
