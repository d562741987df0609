from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.labels import CHESTXRAY14
from workers.evaluation.labels import read_labels


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_nih_data_entry(tmp_path: Path) -> None:
    csv = write(tmp_path, (
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age\n"
        "a.png,Cardiomegaly|Effusion,0,1,58\n"
        "b.png,No Finding,0,2,40\n"
        "c.png,Infiltration|Pleural_Thickening,1,2,41\n"
    ))
    table = read_labels(csv)
    assert table.format == "nih"
    assert table.images == ["a.png", "b.png", "c.png"]
    assert table.labels == [*CHESTXRAY14, "Normal"]
    row = dict(zip(table.labels, table.y[0], strict=True))
    assert row["Cardiomegaly"] == 1 and row["Effusion"] == 1 and row["Mass"] == 0 and row["Normal"] == 0
    assert table.y[1, table.labels.index("Normal")] == 1 and table.y[1].sum() == 1
    assert table.y[2, table.labels.index("Pleural_Thickening")] == 1
    assert not np.isnan(table.y).any()


def test_chexpert_policies(tmp_path: Path) -> None:
    csv = write(tmp_path, (
        "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Pleural Effusion,Lung Opacity,Support Devices,Weird Thing\n"
        "p/1.jpg,Male,60,Frontal,AP,,1.0,-1.0,1.0,1\n"
        "p/2.jpg,Female,70,Frontal,PA,1.0,0.0,,,0\n"
    ))
    table = read_labels(csv)
    assert table.format == "chexpert"
    assert table.labels == ["Normal", "Effusion", "Lung_Opacity", "Support_Devices"]
    assert "Weird Thing" in table.ignored_columns and "Sex" in table.ignored_columns
    opacity = table.labels.index("Lung_Opacity")
    assert np.isnan(table.y[0, opacity])  # uncertain excluded by default
    assert table.y[1, opacity] == 0  # blank = not mentioned = negative
    assert read_labels(csv, uncertain="positive").y[0, opacity] == 1
    assert read_labels(csv, uncertain="negative").y[0, opacity] == 0
    assert np.isnan(read_labels(csv, blank="exclude").y[1, opacity])


def test_multihot(tmp_path: Path) -> None:
    csv = write(tmp_path, "filename,Effusion,pneumothorax,Mass\nx.png,1,0,\ny.png,0,1,1\n")
    table = read_labels(csv)
    assert table.format == "chexpert"  # a blank cell: auto-detection reads it as CheXpert style
    table = read_labels(csv, "multihot")
    assert table.labels == ["Effusion", "Pneumothorax", "Mass"]
    assert np.isnan(table.y[0, 2]) and table.y[1].tolist() == [0, 1, 1]
    assert read_labels(write(tmp_path, "image,Effusion\nx.png,1\ny.png,0\n")).format == "multihot"


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image column"):
        read_labels(write(tmp_path, "what,Effusion\nx,1\n"))
    with pytest.raises(ValueError, match="not 1, 0, -1 or blank"):
        read_labels(write(tmp_path, "image,Effusion\nx.png,maybe\n"))
    with pytest.raises(ValueError, match="no column names a known finding"):
        read_labels(write(tmp_path, "image,Colour\nx.png,1\n"))
