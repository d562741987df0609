"""Ground-truth label CSVs, read onto the common label vocabulary.

Three layouts are understood:

- `nih`: ChestX-ray14 `Data_Entry_2017.csv` style: "Image Index" and "Finding Labels" with
  "|"-separated findings or "No Finding". Every ChestX-ray14 label is known for every image
  (absent = negative); "No Finding" is the `Normal` label.
- `chexpert`: a path column and one column per finding with 1 / 0 / -1 (uncertain) / blank
  (not mentioned). Uncertain is excluded by default (the "U-Ignore" policy), blank is negative.
- `multihot`: an image column and one 0/1 column per finding; a blank cell is "unknown".

The result is a dense matrix with NaN where a label is unknown for an image, so every metric can
ignore exactly those cells.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shared.labels import CHESTXRAY14, OTHER, canonical_label

IMAGE_COLUMNS = ("image index", "image", "path", "file", "filename", "image_path", "img", "dicom")
META_COLUMNS = {"sex", "age", "frontal/lateral", "ap/pa", "view", "view position", "patient id",
                "patient age", "patient gender", "follow-up #", "study", "split"}
FORMATS = ("auto", "nih", "chexpert", "multihot")
POLICIES = ("exclude", "positive", "negative")


@dataclass
class LabelTable:
    images: list[str]  # as written in the CSV (relative to the image folder)
    labels: list[str]  # canonical labels, column order of `y`
    y: np.ndarray  # (n_images, n_labels) float: 1, 0, or NaN (unknown / excluded)
    format: str
    ignored_columns: list[str] = field(default_factory=list)  # columns that are not findings

    def positives(self, label: str) -> int:
        column = self.y[:, self.labels.index(label)]
        return int(np.nansum(column))

    def head(self, n: int) -> LabelTable:
        return LabelTable(self.images[:n], self.labels, self.y[:n], self.format, self.ignored_columns)


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ValueError(f"{path}: empty CSV")
        rows = [row for row in reader if any((v or "").strip() for v in row.values())]
    return [f.strip() for f in reader.fieldnames], rows


def _image_column(fields: list[str], path: Path) -> str:
    lowered = {f.lower(): f for f in fields}
    for name in IMAGE_COLUMNS:
        if name in lowered:
            return lowered[name]
    raise ValueError(f"{path}: no image column (one of {', '.join(IMAGE_COLUMNS)}); columns: {fields}")


def detect_format(fields: list[str], rows: list[dict[str, str]]) -> str:
    lowered = [f.lower() for f in fields]
    if "finding labels" in lowered:
        return "nih"
    for row in rows[:2000]:
        for key, value in row.items():
            if key and key.lower() not in META_COLUMNS and (value or "").strip() in ("-1", "-1.0", ""):
                return "chexpert"
    return "multihot"


def _parse_nih(fields: list[str], rows: list[dict[str, str]], path: Path) -> LabelTable:
    image_col = _image_column(fields, path)
    findings_col = next(f for f in fields if f.lower() == "finding labels")
    labels = list(CHESTXRAY14) + ["Normal"]
    y = np.zeros((len(rows), len(labels)), dtype=np.float64)
    unknown: set[str] = set()
    for i, row in enumerate(rows):
        for name in (row.get(findings_col) or "").split("|"):
            name = name.strip()
            if not name:
                continue
            label = canonical_label(name)
            if label in labels:
                y[i, labels.index(label)] = 1.0
            else:
                unknown.add(name)
    ignored = [f for f in fields if f not in (image_col, findings_col)]
    ignored += [f"finding {name!r} (not a ChestX-ray14 label)" for name in sorted(unknown)]
    return LabelTable([row[image_col].strip() for row in rows], labels, y, "nih", ignored)


def _cell(value: str | None, *, uncertain: str, blank: str, where: str) -> float:
    text = (value or "").strip()
    if text == "":
        return {"negative": 0.0, "positive": 1.0}.get(blank, np.nan)
    try:
        number = float(text)
    except ValueError as exc:
        raise ValueError(f"{where}: label value {text!r} is not 1, 0, -1 or blank") from exc
    if number == -1:
        return {"negative": 0.0, "positive": 1.0}.get(uncertain, np.nan)
    if number in (0, 1):
        return number
    raise ValueError(f"{where}: label value {text!r} is not 1, 0, -1 or blank")


def _parse_wide(fields: list[str], rows: list[dict[str, str]], path: Path, fmt: str,
                uncertain: str, blank: str) -> LabelTable:
    image_col = _image_column(fields, path)
    columns: dict[str, list[str]] = {}
    ignored: list[str] = []
    for name in fields:
        if name == image_col or name.lower() in META_COLUMNS:
            if name != image_col:
                ignored.append(name)
            continue
        label = canonical_label(name)
        if label == OTHER:
            ignored.append(name)
            continue
        columns.setdefault(label, []).append(name)
    if not columns:
        raise ValueError(f"{path}: no column names a known finding; columns: {fields}")
    labels = list(columns)
    y = np.full((len(rows), len(labels)), np.nan)
    for i, row in enumerate(rows):
        for j, label in enumerate(labels):
            values = [_cell(row.get(c), uncertain=uncertain, blank=blank, where=f"{path}:{i + 2}:{c}")
                      for c in columns[label]]
            known = [v for v in values if not np.isnan(v)]
            # Two columns for one finding (e.g. aliases): positive if either says so.
            y[i, j] = max(known) if known else np.nan
    return LabelTable([row[image_col].strip() for row in rows], labels, y, fmt, ignored)


def read_labels(path: Path, fmt: str = "auto", *, uncertain: str = "exclude", blank: str | None = None) -> LabelTable:
    """Parse a label CSV. `uncertain` (-1 cells) and `blank` cells: exclude | positive | negative.
    Default blank policy: negative for CheXpert ("not mentioned"), exclude for multi-hot."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown label format {fmt!r}; one of {', '.join(FORMATS)}")
    if uncertain not in POLICIES or (blank is not None and blank not in POLICIES):
        raise ValueError(f"policies are one of {', '.join(POLICIES)}")
    fields, rows = _read(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    if fmt == "auto":
        fmt = detect_format(fields, rows)
    if fmt == "nih":
        return _parse_nih(fields, rows, path)
    blank_policy = blank or ("negative" if fmt == "chexpert" else "exclude")
    return _parse_wide(fields, rows, path, fmt, uncertain, blank_policy)
