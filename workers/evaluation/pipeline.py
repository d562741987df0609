"""`radstack eval` without the argument parsing: labels -> model run -> metrics -> report
(-> calibrated thresholds file)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workers.evaluation.calibration import calibrate, method_name, write_thresholds_file
from workers.evaluation.labels import read_labels
from workers.evaluation.metrics import at_threshold, known
from workers.evaluation.report import caveats, evaluate, now_iso, write_report
from workers.evaluation.runner import run
from workers.models.base import Classifier

logger = logging.getLogger(__name__)


@dataclass
class EvalOptions:
    images_dir: Path
    labels_csv: Path
    out_dir: Path
    dataset: str | None = None
    label_format: str = "auto"
    uncertain: str = "exclude"
    blank: str | None = None
    batch_size: int = 8
    n_boot: int = 1000
    seed: int = 0
    limit: int | None = None
    plots: bool = True
    progress: bool = True
    calibrate: str | None = None  # "youden" | "sensitivity"
    target_sensitivity: float = 0.9
    thresholds_out: Path | None = None
    # Thresholds picked from a handful of films would be noise that the workers then apply.
    min_per_class: int = 5


def run_evaluation(classifier: Classifier, options: EvalOptions,
                   threshold_for: Callable[[str], float]) -> dict[str, Any]:
    table = read_labels(options.labels_csv, options.label_format, uncertain=options.uncertain, blank=options.blank)
    if options.limit:
        table = table.head(options.limit)
    model_labels = list(classifier.info.labels)
    scores, failures = run(classifier, Path(options.images_dir), table.images,
                           batch_size=options.batch_size, progress=options.progress)
    doc: dict[str, Any] = {
        "dataset": options.dataset or Path(options.labels_csv).stem,
        "date": now_iso(),
        "model": {
            "model_id": classifier.info.model_id, "version": classifier.info.version,
            "weights_sha256": classifier.info.weights_sha256, "is_demo": classifier.info.is_demo,
        },
        "data": {
            "images_dir": str(options.images_dir), "labels_csv": str(options.labels_csv),
            "format": table.format, "uncertain_policy": options.uncertain,
            "n_images": len(table.images), "n_scored_images": int((~np.isnan(scores).all(axis=1)).sum()),
            "failures": [list(f) for f in failures], "ignored_columns": table.ignored_columns,
        },
    }
    doc.update(evaluate(table, model_labels, scores, threshold_for=threshold_for,
                        n_boot=options.n_boot, seed=options.seed))
    if options.calibrate:
        doc["calibration"] = _calibrate(doc, table, model_labels, scores, options)
    doc["caveats"] = caveats(doc)
    doc["outputs"] = {}
    written = write_report(doc, options.out_dir, table=table, model_labels=model_labels, scores=scores,
                           plots=options.plots)
    doc["outputs"].update({k: str(v) for k, v in written.items()})
    return doc


def _calibrate(doc: dict[str, Any], table: Any, model_labels: list[str], scores: np.ndarray,
               options: EvalOptions) -> dict[str, Any]:
    if options.thresholds_out is None:
        raise ValueError("calibration needs a thresholds file path")
    thresholds: dict[str, float] = {}
    details: dict[str, Any] = {}
    skipped: list[str] = []
    for label, entry in doc["labels"].items():
        if min(entry["positives"], entry["negatives"]) < options.min_per_class:
            skipped.append(label)  # includes one-class labels: no threshold can be chosen
            continue
        y, s = known(table.y[:, table.labels.index(label)], scores[:, model_labels.index(label)])
        t = calibrate(y, s, options.calibrate or "youden", options.target_sensitivity)
        m = at_threshold(y, s, t)
        thresholds[label] = t
        details[label] = {"n": int(y.size), "positives": int(y.sum()), "sensitivity": m.sensitivity,
                          "specificity": m.specificity, "f1": m.f1}
    method = method_name(options.calibrate or "youden", options.target_sensitivity)
    result: dict[str, Any] = {"method": method, "file": None, "thresholds": thresholds, "details": details,
                              "skipped": skipped, "min_per_class": options.min_per_class}
    if not thresholds:
        logger.warning("no label has %d positives and negatives; no thresholds file written", options.min_per_class)
        return result
    path = write_thresholds_file(options.thresholds_out, thresholds, dataset=doc["dataset"], method=method,
                                 model=doc["model"], details=details)
    logger.info("wrote %d calibrated thresholds to %s", len(thresholds), path)
    result["file"] = str(path)
    return result
