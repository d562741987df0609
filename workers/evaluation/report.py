"""Score a model's outputs against a label table and write the JSON / Markdown / PNG report."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from shared.labels import OTHER
from workers.evaluation.labels import LabelTable
from workers.evaluation.metrics import at_threshold, auroc, bootstrap_auroc, known

MIN_POSITIVES = 30  # below this a per-label AUROC is anecdote, and the report says so
# Below this many positives or negatives a bootstrap interval is degenerate (a single positive
# gives resamples of AUROC 0 or 1 only) and would look falsely precise: no interval is given.
MIN_FOR_CI = 5


def _num(value: float | None) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)


def evaluate(table: LabelTable, model_labels: Sequence[str], scores: np.ndarray, *,
             threshold_for: Callable[[str], float], n_boot: int = 1000, seed: int = 0,
             ci_level: float = 0.95) -> dict[str, Any]:
    """Per-label metrics for labels both in the data and in the model; the rest are listed."""
    model_labels = list(model_labels)
    scored = [lbl for lbl in table.labels if lbl in model_labels and lbl != OTHER]
    per_label: dict[str, Any] = {}
    single_class: list[str] = []
    for label in scored:
        y, s = known(table.y[:, table.labels.index(label)], scores[:, model_labels.index(label)])
        n_pos = int(y.sum())
        entry: dict[str, Any] = {"n": int(y.size), "positives": n_pos, "negatives": int(y.size - n_pos)}
        value = auroc(y, s)
        if math.isnan(value):
            single_class.append(label)
            entry.update(auroc=None, auroc_ci=None, note="only one class present: AUROC undefined")
        else:
            entry.update(auroc=_num(value), auroc_ci=None)
            if min(n_pos, y.size - n_pos) >= MIN_FOR_CI:
                low, high, used = bootstrap_auroc(y, s, n_boot=n_boot, seed=seed, level=ci_level)
                entry.update(auroc_ci=[_num(low), _num(high)], bootstrap_resamples=used)
            if min(n_pos, y.size - n_pos) < MIN_FOR_CI:
                entry["note"] = (f"fewer than {MIN_FOR_CI} positives or negatives: "
                                 "no confidence interval, AUROC is anecdotal")
            elif n_pos < MIN_POSITIVES or y.size - n_pos < MIN_POSITIVES:
                entry["note"] = f"fewer than {MIN_POSITIVES} positives or negatives: wide uncertainty"
        configured = threshold_for(label)
        entry["at_configured"] = at_threshold(y, s, configured).as_dict() if y.size else None
        entry["at_0.5"] = at_threshold(y, s, 0.5).as_dict() if y.size else None
        per_label[label] = entry
    aucs = [e["auroc"] for e in per_label.values() if e["auroc"] is not None]
    return {
        "labels": per_label,
        "mean_auroc": _num(float(np.mean(aucs))) if aucs else None,
        "mean_auroc_over": [lbl for lbl, e in per_label.items() if e["auroc"] is not None],
        "not_scored": {
            "not_in_model": [lbl for lbl in table.labels if lbl not in model_labels],
            "not_in_data": [lbl for lbl in model_labels if lbl not in table.labels and lbl != OTHER],
            "single_class": single_class,
        },
        "bootstrap": {"resamples": n_boot, "seed": seed, "level": ci_level, "method": "percentile"},
    }


def caveats(doc: dict[str, Any]) -> list[str]:
    """Plain statements of what the figures can and cannot mean, written into every report."""
    out: list[str] = []
    if doc["model"].get("is_demo"):
        out.append("DEMO MODEL, NOT FOR CLINICAL USE: seeded random weights. These figures measure "
                   "nothing about any trained model; they only show that the evaluation runs.")
    n = doc["data"]["n_scored_images"]
    if n < 200:
        out.append(f"Only {n} images were scored: per-label AUROCs and their intervals are very "
                   "uncertain, and a label with a handful of positives can swing from one extreme to the other.")
    out.append("AUROC measures ranking on this data set only; it says nothing about other sites, "
               "scanners or populations, nor about whether probabilities are calibrated.")
    out.append("Confidence intervals are percentile bootstraps over images; images of the same "
               "patient are not grouped, so intervals are optimistic where patients repeat.")
    if (doc.get("calibration") or {}).get("thresholds"):
        out.append("Thresholds were calibrated on this same data: the metrics at those thresholds "
                   "are optimistic; check them on held-out images before relying on them.")
    if doc["data"]["failures"]:
        out.append(f"{len(doc['data']['failures'])} image(s) could not be read and were left out.")
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(doc: dict[str, Any]) -> str:
    model, data = doc["model"], doc["data"]
    lines = [
        f"# Evaluation: {doc['dataset']}",
        "",
        f"- date: {doc['date']}",
        f"- model: `{model['model_id']}` ({model['version']}, weights sha256 `{model['weights_sha256'][:16]}...`)"
        + (" **DEMO MODEL, NOT FOR CLINICAL USE**" if model.get("is_demo") else ""),
        f"- images: {data['n_images']} listed, {data['n_scored_images']} scored, {len(data['failures'])} unreadable"
        f" (labels: {data['format']} format)",
        f"- mean AUROC: **{_fmt(doc['mean_auroc'])}** over {len(doc['mean_auroc_over'])} label(s)",
        "",
        "| label | n | pos | AUROC | 95% CI | thr | sens | spec | F1 | sens@0.5 | spec@0.5 | F1@0.5 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, e in doc["labels"].items():
        c, h = e["at_configured"] or {}, e["at_0.5"] or {}
        ci = e.get("auroc_ci")
        ci_text = f"{_fmt(ci[0])}-{_fmt(ci[1])}" if ci and ci[0] is not None else "-"
        lines.append(
            f"| {label} | {e['n']} | {e['positives']} | {_fmt(e['auroc'])} | {ci_text} | "
            f"{_fmt(c.get('threshold'), 2)} | {_fmt(c.get('sensitivity'), 2)} | {_fmt(c.get('specificity'), 2)} | "
            f"{_fmt(c.get('f1'), 2)} | {_fmt(h.get('sensitivity'), 2)} | {_fmt(h.get('specificity'), 2)} | "
            f"{_fmt(h.get('f1'), 2)} |"
        )
    notes = [f"- {label}: {e['note']}" for label, e in doc["labels"].items() if e.get("note")]
    if notes:
        lines += ["", *notes]
    ns = doc["not_scored"]
    lines += ["", "## Not scored", ""]
    lines.append(f"- in the data but not output by the model: {', '.join(ns['not_in_model']) or 'none'}")
    lines.append(f"- output by the model but not in the data: {', '.join(ns['not_in_data']) or 'none'}")
    lines.append(f"- only one class present (AUROC undefined): {', '.join(ns['single_class']) or 'none'}")
    if doc.get("calibration"):
        cal = doc["calibration"]
        where = f"written to `{cal['file']}`" if cal["file"] else "no file written"
        lines += ["", "## Calibration", "", f"Method `{cal['method']}`, {where}:", ""]
        lines += [f"- {label}: {t:.4f}" for label, t in cal["thresholds"].items()]
        if cal.get("skipped"):
            lines.append(f"- not calibrated (fewer than {cal['min_per_class']} positives or negatives): "
                         f"{', '.join(cal['skipped'])}")
    lines += ["", "## What these figures can and cannot mean", ""]
    lines += [f"- {c}" for c in doc["caveats"]]
    if data["failures"]:
        lines += ["", "## Unreadable images", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in data["failures"][:50]]
    return "\n".join(lines) + "\n"


def write_report(doc: dict[str, Any], out_dir: Path, *, table: LabelTable | None = None,
                 model_labels: Sequence[str] | None = None, scores: np.ndarray | None = None,
                 plots: bool = True) -> dict[str, Path]:
    """report.json, report.md and (with plots) roc/<label>.png + roc_summary.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if plots and table is not None and model_labels is not None and scores is not None:
        from workers.evaluation.plots import roc_png, safe_name, summary_png

        curves: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        roc_dir = out_dir / "roc"
        roc_dir.mkdir(exist_ok=True)
        for label, entry in doc["labels"].items():
            if entry["auroc"] is None:
                continue
            y, s = known(table.y[:, table.labels.index(label)], scores[:, list(model_labels).index(label)])
            ci = tuple(entry["auroc_ci"]) if entry.get("auroc_ci") else None
            roc_png(roc_dir / f"{safe_name(label)}.png", label, y, s, entry["auroc"], ci)  # type: ignore[arg-type]
            curves[label] = (y, s, entry["auroc"])
        if curves:
            title = f"{doc['dataset']}: {doc['model']['model_id']} (mean AUROC {_fmt(doc['mean_auroc'])})"
            written["summary_png"] = summary_png(out_dir / "roc_summary.png", curves, title)
        written["roc_dir"] = roc_dir
    doc.setdefault("outputs", {}).update({k: str(v) for k, v in written.items()})
    (out_dir / "report.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(doc), encoding="utf-8")
    written["json"], written["markdown"] = out_dir / "report.json", out_dir / "report.md"
    return written


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
