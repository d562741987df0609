"""`radstack models list|verify|import`."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from shared.config import reset_settings_cache
from workers.models.weights import sha256_file


def run_cli(*argv: str) -> int:
    from radstack.commands import models as models_cmd

    parser = argparse.ArgumentParser(prog="radstack")
    models_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.handler(args) or 0)


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    weights = tmp_path / "weights"
    monkeypatch.setenv("RADSTACK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RADSTACK_WEIGHTS_DIR", str(weights))
    monkeypatch.setenv("RADSTACK_MODEL", "demo")
    reset_settings_cache()
    yield weights
    reset_settings_cache()


def test_import_list_verify(site: Path, densenet22_weights: dict[str, Path], xrv_weights: Path,
                            hf_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "incoming" / "site-model.pt"
    src.parent.mkdir()
    shutil.copy(densenet22_weights["plain"], src)
    sha = sha256_file(src)
    assert run_cli("models", "import", str(src), "--sha256", sha) == 0  # backend guessed: 22 outputs
    assert "RADSTACK_MODEL=densenet22:site-model.pt" in capsys.readouterr().out
    assert (site / "densenet22" / "site-model.pt").is_file()
    # xrv: a file under xrv's own published name is recognised; HF folders by config.json.
    from workers.models.xrv_backend import published_filename

    published = tmp_path / "incoming" / str(published_filename("densenet121-res224-all"))
    assert published.name.startswith("nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121")
    shutil.copy(xrv_weights, published)
    assert run_cli("models", "import", str(published)) == 0
    assert (site / "xrv" / "densenet121-res224-all.pt").is_file()
    assert run_cli("models", "import", str(hf_model_dir), "--name", "acme/tiny-cxr") == 0
    assert (site / "hf" / "acme__tiny-cxr" / "model.safetensors").is_file()
    assert run_cli("models", "import", str(src)) == 2  # exists: needs --force
    capsys.readouterr()

    assert run_cli("models", "list", "--json") == 0
    listing = json.loads(capsys.readouterr().out)
    specs = {row["spec"]: row for row in listing["models"]}
    assert specs["densenet22:site-model.pt"]["sha256"] == sha
    assert specs["xrv:densenet121-res224-all"]["present"] and not specs["xrv:densenet121-res224-chex"]["present"]
    assert specs["hf:acme/tiny-cxr"]["labels"] == ["Effusion", "Cardiomegaly", "Normal", "Other"]
    assert "Lung_Opacity" in specs["xrv:densenet121-res224-chex"]["labels"]
    assert run_cli("models", "list") == 0
    assert "missing" in capsys.readouterr().out

    assert run_cli("models", "verify", "hf:acme/tiny-cxr") == 0
    out = capsys.readouterr().out
    assert out.count("OK ") == 3 and "LOADED   hf:acme/tiny-cxr" in out

    (site / "densenet22" / "site-model.pt").write_bytes(b"tampered")
    assert run_cli("models", "verify", "--no-load") == 1
    assert "CHANGED  densenet22/site-model.pt" in capsys.readouterr().out


def test_import_refuses_wrong_checksum_and_unloadable(site: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    bad = tmp_path / "x.pt"
    torch.save({"classifier.weight": torch.zeros(22, 1024)}, bad)
    assert run_cli("models", "import", str(bad), "--sha256", "0" * 64) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert run_cli("models", "import", str(bad)) == 1  # guessed densenet22, but does not load
    assert not (site / "densenet22" / "x.pt").exists()


def test_verify_configured_demo(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("models", "verify") == 0
    assert "DEMO MODEL" in capsys.readouterr().out
