from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from workers.models import WeightsChecksumMismatch, WeightsNotFound, load_classifier
from workers.models.weights import sha256_file


def test_load_by_name_and_by_path_agree(xrv_weights: Path, weights_dir: Path, sample_image: np.ndarray) -> None:
    by_name = load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir)
    by_path = load_classifier(f"xrv:{xrv_weights}", weights_dir=weights_dir)
    info = by_name.info
    assert info.model_id == "xrv:densenet121-res224-all"
    assert info.version.startswith("torchxrayvision-")
    assert info.weights_sha256 == sha256_file(xrv_weights) == by_path.info.weights_sha256
    assert not info.is_demo
    # 18 xrv pathologies, all mapped onto the vocabulary (none fall to "Other").
    assert len(info.labels) == 18 and "Other" not in info.labels
    assert {"Effusion", "Lung_Opacity", "Enlarged_Cardiomediastinum"} <= set(info.labels)
    a, b = by_name.predict([sample_image])[0], by_path.predict([sample_image])[0]
    assert set(a) == set(info.labels)
    assert all(0.0 <= p <= 1.0 for p in a.values())
    assert a == pytest.approx(b)


def test_preprocess_is_xrv_scaling(xrv_weights: Path, weights_dir: Path) -> None:
    clf = load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir)
    image = np.zeros((400, 300), np.float32)
    image[:, 150:] = 1.0
    tensor = clf.preprocess(image)
    assert tensor.shape == (1, 224, 224)
    assert float(tensor.min()) == pytest.approx(-1024.0) and float(tensor.max()) == pytest.approx(1024.0)


def test_op_threshs_calibration_matches_xrv(xrv_weights: Path, weights_dir: Path,
                                            sample_images: list[np.ndarray]) -> None:
    import torchxrayvision as xrv

    clf = load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir)
    threshs = torch.tensor(xrv.models.model_urls["densenet121-res224-all"]["op_threshs"], dtype=torch.float32)
    reference = xrv.models.DenseNet(weights=None, num_classes=18, in_channels=1, op_threshs=threshs)
    reference.load_state_dict(torch.load(xrv_weights), strict=False)  # keeps its op_threshs buffer
    reference.eval()
    batch = torch.stack([clf.preprocess(i) for i in sample_images])
    with torch.inference_mode():
        expected = reference(batch).numpy()
    got = clf.forward_batch(batch)
    names = xrv.models.model_urls["densenet121-res224-all"]["labels"]
    for row, exp in zip(got, expected):
        assert [row[lbl] for lbl in clf.output_labels] == pytest.approx(exp.tolist(), abs=1e-5)
    assert len(names) == len(clf.output_labels)


def test_batch_equals_single(xrv_weights: Path, weights_dir: Path, sample_images: list[np.ndarray]) -> None:
    clf = load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir)
    batch = clf.predict(sample_images)
    for image, row in zip(sample_images, batch):
        single = clf.predict([image])[0]
        assert np.allclose([row[k] for k in clf.info.labels], [single[k] for k in clf.info.labels], atol=1e-5)


def test_published_pickled_module_under_published_filename(tmp_path: Path, sample_image: np.ndarray) -> None:
    """xrv publishes whole pickled modules named after the URL; both are accepted."""
    import torchxrayvision as xrv

    from workers.models.xrv_backend import published_filename

    torch.manual_seed(4)
    module = xrv.models.DenseNet(weights=None, num_classes=18, in_channels=1)
    folder = tmp_path / "xrv"
    folder.mkdir()
    filename = published_filename("densenet121-res224-nih")
    assert filename and filename.startswith("nih-densenet121")
    torch.save(module, folder / filename)
    clf = load_classifier("xrv:densenet121-res224-nih", weights_dir=tmp_path)
    # The nih weights leave 4 of 18 slots blank: those are not reported.
    assert len(clf.info.labels) == 14 and "Fracture" not in clf.info.labels
    assert set(clf.predict([sample_image])[0]) == set(clf.info.labels)


def test_missing_weights_message_names_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound) as err:
        load_classifier("xrv:densenet121-res224-chex", weights_dir=tmp_path)
    message = str(err.value)
    assert "densenet121-res224-chex.pt" in message
    assert str(tmp_path / "xrv") in message
    assert "chex-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt" in message  # what to fetch


def test_missing_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFound, match="nope.pt"):
        load_classifier(f"xrv:{tmp_path / 'nope.pt'}", weights_dir=tmp_path)


def test_unknown_weights_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="densenet121-res224-all"):
        load_classifier("xrv:densenet-made-up", weights_dir=tmp_path)


def test_checksum(xrv_weights: Path, weights_dir: Path) -> None:
    good = sha256_file(xrv_weights)
    clf = load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir, expected_sha256=good.upper())
    assert clf.info.weights_sha256 == good
    with pytest.raises(WeightsChecksumMismatch, match=good):
        load_classifier("xrv:densenet121-res224-all", weights_dir=weights_dir, expected_sha256="0" * 64)


@pytest.mark.slow
def test_resnet_weights(tmp_path: Path, sample_image: np.ndarray) -> None:
    from workers.models.xrv_backend import _XrvResNet

    torch.manual_seed(5)
    (tmp_path / "xrv").mkdir()
    torch.save(_XrvResNet(50, 18).model.state_dict(), tmp_path / "xrv" / "resnet50-res512-all.pt")
    clf = load_classifier("xrv:resnet50-res512-all", weights_dir=tmp_path)
    assert clf.preprocess(sample_image).shape == (1, 512, 512)
    probs = clf.predict([sample_image])[0]
    assert len(probs) == 18 and all(0 <= p <= 1 for p in probs.values())
