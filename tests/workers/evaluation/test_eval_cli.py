"""`radstack eval` end to end on a small labelled set the test makes, with the demo model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from shared.config import reset_settings_cache

LABELS = ["Effusion", "Cardiomegaly", "Mass", "Nodule"]
N = 24


def run_cli(*argv: str) -> int:
    """Parse with only this module's sub-command, as radstack.cli does for all of them."""
    from radstack.commands import eval as eval_cmd

    parser = argparse.ArgumentParser(prog="radstack")
    eval_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args) or 0)


@pytest.fixture()
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, np.ndarray]:
    monkeypatch.setenv("RADSTACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RADSTACK_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("RADSTACK_MODEL", "demo")
    monkeypatch.delenv("RADSTACK_THRESHOLDS", raising=False)
    monkeypatch.delenv("RADSTACK_THRESHOLDS_FILE", raising=False)
    reset_settings_cache()
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    y = np.zeros((N, len(LABELS)), dtype=int)
    y[: N // 2, :] = 1
    for j in range(len(LABELS)):
        rng.shuffle(y[:, j])
    rows = ["image," + ",".join(LABELS) + ",Unrelated"]
    for i in range(N):
        film = (rng.random((96, 80)) * 0.5 + np.linspace(0, 0.5, 80)[None, :]) * 255
        name = f"sub/img{i:02d}.png"
        Image.fromarray(film.astype(np.uint8)).save(images / name)
        rows.append(name + "," + ",".join(str(v) for v in y[i]) + ",1")
    rows.append("sub/missing.png,1,0,1,0,0")  # an unreadable image is reported, not fatal
    csv = tmp_path / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    yield images, csv, y
    reset_settings_cache()


def test_eval_matches_sklearn_and_calibration_is_used(dataset: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    from shared.config import get_settings
    from workers.evaluation.runner import load_image
    from workers.evaluation.thresholds import threshold_function
    from workers.models import load_classifier

    images, csv, y = dataset
    out = tmp_path / "report"
    assert run_cli("eval", str(images), str(csv), "--out", str(out), "--bootstrap", "200",
                   "--name", "synthetic-set", "--no-progress", "--calibrate") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["is_demo"] and report["data"]["n_scored_images"] == N
    assert report["data"]["failures"][0][0] == "sub/missing.png"
    assert "Unrelated" in report["data"]["ignored_columns"]

    # Independently: the same model, scikit-learn's AUROC.
    demo = load_classifier("demo", weights_dir=tmp_path)
    preds = demo.predict([load_image(images / f"sub/img{i:02d}.png") for i in range(N)])
    for j, label in enumerate(LABELS):
        expected = roc_auc_score(y[:, j], [p[label] for p in preds])
        assert report["labels"][label]["auroc"] == pytest.approx(expected, abs=1e-6)
        low, high = report["labels"][label]["auroc_ci"]
        assert low <= report["labels"][label]["auroc"] <= high
    assert report["mean_auroc"] == pytest.approx(np.mean([report["labels"][lbl]["auroc"] for lbl in LABELS]))
    assert "Pneumothorax" in report["not_scored"]["not_in_data"]
    assert set(report["labels"]["Mass"]) >= {"at_configured", "at_0.5"}
    assert report["labels"]["Mass"]["at_configured"]["threshold"] == 0.5

    assert (out / "report.md").read_text().count("DEMO MODEL") >= 1
    assert (out / "roc_summary.png").is_file() and (out / "roc" / "Effusion.png").is_file()

    # Calibration went to the file the workers read by default, with data set name and date.
    settings = get_settings()
    thresholds_file = Path(settings.data_dir) / "thresholds.json"
    document = json.loads(thresholds_file.read_text())
    assert document["dataset"] == "synthetic-set" and document["date"] and document["method"] == "youden"
    assert set(document["thresholds"]) == set(LABELS)
    assert document["model"]["weights_sha256"] == demo.info.weights_sha256
    threshold_for = threshold_function(settings, demo.info.weights_sha256)
    for label in LABELS:
        assert threshold_for(label) == pytest.approx(document["thresholds"][label])
    assert threshold_for("Pneumothorax") == settings.default_threshold
    # Thresholds calibrated for other weights are not applied.
    assert threshold_function(settings, "f" * 64)("Mass") == settings.default_threshold


def test_env_overrides_beat_calibration(dataset: tuple[Path, Path, np.ndarray], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.config import get_settings
    from workers.evaluation.thresholds import threshold_function

    images, csv, _ = dataset
    target = tmp_path / "custom" / "thr.json"
    assert run_cli("eval", str(images), str(csv), "--out", str(tmp_path / "r"), "--bootstrap", "50",
                   "--no-plots", "--no-progress", "--calibrate", "sensitivity", "--target-sensitivity", "0.8",
                   "--thresholds-out", str(target)) == 0
    document = json.loads(target.read_text())
    assert document["method"] == "sensitivity>=0.8"
    assert all(d["sensitivity"] >= 0.8 for d in document["details"].values())
    monkeypatch.setenv("RADSTACK_THRESHOLDS_FILE", str(target))
    monkeypatch.setenv("RADSTACK_THRESHOLDS", json.dumps({"Mass": 0.33}))
    reset_settings_cache()
    threshold_for = threshold_function(get_settings())
    assert threshold_for("Mass") == 0.33
    assert threshold_for("Effusion") == pytest.approx(document["thresholds"]["Effusion"])


def test_missing_weights_is_a_clear_cli_error(dataset: tuple[Path, Path, np.ndarray],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    images, csv, _ = dataset
    assert run_cli("eval", str(images), str(csv), "--model", "densenet22:absent.pt", "--no-progress") == 2
    assert "absent.pt" in capsys.readouterr().err


def test_too_few_cases_are_not_calibrated(dataset: tuple[Path, Path, np.ndarray], tmp_path: Path) -> None:
    images, csv, _ = dataset
    target = tmp_path / "thr.json"
    assert run_cli("eval", str(images), str(csv), "--out", str(tmp_path / "r"), "--limit", "6", "--no-plots",
                   "--no-progress", "--calibrate", "--thresholds-out", str(target)) == 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert not target.exists()
    assert report["calibration"]["file"] is None and set(report["calibration"]["skipped"]) == set(LABELS)
    assert all(e["auroc_ci"] is None for e in report["labels"].values())
