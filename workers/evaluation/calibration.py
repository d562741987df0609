"""Per-label threshold calibration on a site's own labelled data.

Two rules: Youden's J (maximise sensitivity + specificity - 1) or the highest threshold that
still reaches a target sensitivity (for triage, missing a finding costs more than a false
alarm). Positive means score >= threshold, the rule the workers apply.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

METHODS = ("youden", "sensitivity")


def _operating_points(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, TPR, FPR) at every distinct score."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    # Last index of each run of equal scores: everything up to it is called positive.
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last]
    fp = np.cumsum(~y_sorted)[last]
    return s_sorted[last], tp / max(int(y.sum()), 1), fp / max(int((~y).sum()), 1)


def youden_threshold(y_true: np.ndarray, y_score: np.ndarray) -> float:
    y, s = np.asarray(y_true, dtype=bool), np.asarray(y_score, dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError("both classes are needed to calibrate")
    thresholds, tpr, fpr = _operating_points(y, s)
    return float(thresholds[int(np.argmax(tpr - fpr))])  # first (highest) threshold on ties


def sensitivity_threshold(y_true: np.ndarray, y_score: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity is at least `target`."""
    if not 0 < target <= 1:
        raise ValueError("target sensitivity must be in (0, 1]")
    y, s = np.asarray(y_true, dtype=bool), np.asarray(y_score, dtype=np.float64)
    if not y.any():
        raise ValueError("positives are needed to calibrate for sensitivity")
    thresholds, tpr, _ = _operating_points(y, s)
    return float(thresholds[int(np.argmax(tpr >= target - 1e-12))])


def calibrate(y_true: np.ndarray, y_score: np.ndarray, method: str = "youden",
              target_sensitivity: float = 0.9) -> float:
    if method == "youden":
        return youden_threshold(y_true, y_score)
    if method == "sensitivity":
        return sensitivity_threshold(y_true, y_score, target_sensitivity)
    raise ValueError(f"unknown calibration method {method!r}; one of {', '.join(METHODS)}")


def method_name(method: str, target_sensitivity: float) -> str:
    return f"sensitivity>={target_sensitivity:g}" if method == "sensitivity" else method


def write_thresholds_file(path: Path, thresholds: dict[str, float], *, dataset: str, method: str,
                          model: dict[str, Any], details: dict[str, Any] | None = None) -> Path:
    """Write atomically (a worker may be reading the old file right now)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "dataset": dataset,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method,
        "model": model,
        "thresholds": {label: round(float(t), 6) for label, t in sorted(thresholds.items())},
        "details": details or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
