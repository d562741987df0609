from __future__ import annotations

from pathlib import Path

import pytest

from workers.models import BACKENDS, WeightsChecksumMismatch, load_classifier, parse_spec


@pytest.mark.parametrize("spec, expected", [
    ("xrv:densenet121-res224-all", ("xrv", "densenet121-res224-all")),
    ("hf:org/model", ("hf", "org/model")),
    ("densenet22:/w/x.pt", ("densenet22", "/w/x.pt")),
    ("demo", ("demo", "")),
    (" DEMO ", ("demo", "")),
])
def test_parse_spec(spec: str, expected: tuple[str, str]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["onnx:model.onnx", "", "densenet121"])
def test_unknown_backend_lists_backends(spec: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_spec(spec)
    for name in BACKENDS:
        assert name in str(err.value)


@pytest.mark.parametrize("spec", ["xrv:", "hf", "demo:x"])
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_spec(spec)


def test_demo_checksum_pin(tmp_path: Path) -> None:
    sha = load_classifier("demo", weights_dir=tmp_path).info.weights_sha256
    assert load_classifier("demo", weights_dir=tmp_path, expected_sha256=sha).info.weights_sha256 == sha
    with pytest.raises(WeightsChecksumMismatch):
        load_classifier("demo", weights_dir=tmp_path, expected_sha256="1" * 64)
