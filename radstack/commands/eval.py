"""`radstack eval IMAGES LABELS.csv`: check a model on a site's own labelled films before
trusting it; optionally calibrate per-label thresholds (`--calibrate`) for the workers."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

from workers.evaluation.labels import FORMATS, POLICIES


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "eval", help="evaluate a model on labelled images (AUROC, F1, ROC plots, calibration)",
        description="Run a model over a folder of films listed in a label CSV and write per-label AUROC "
                    "with bootstrap CIs, mean AUROC, sensitivity/specificity/F1 at the configured "
                    "thresholds and at 0.5, ROC plots, and a JSON + Markdown report.",
    )
    p.add_argument("images", type=Path, help="folder the CSV's image paths are relative to")
    p.add_argument("labels", type=Path, help="label CSV (NIH Data_Entry, CheXpert, or multi-hot)")
    p.add_argument("--format", dest="label_format", choices=FORMATS, default="auto")
    p.add_argument("--uncertain", choices=POLICIES, default="exclude", help="CheXpert -1 cells (default exclude)")
    p.add_argument("--blank", choices=POLICIES, default=None,
                   help="blank cells (default: negative for CheXpert, exclude for multi-hot)")
    p.add_argument("--model", help="model spec (default: RADSTACK_MODEL)")
    p.add_argument("--weights-dir", type=Path, help="weights folder (default: the configured one)")
    p.add_argument("--device", help="torch device (default: RADSTACK_DEVICE)")
    p.add_argument("--sha256", help="refuse weights whose SHA-256 differs")
    p.add_argument("--name", help="data set name for the report and thresholds file (default: CSV name)")
    p.add_argument("--out", type=Path, help="report folder (default: <data_dir>/eval/<name>-<time>)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the AUROC CI")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help="only the first N rows of the CSV")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--calibrate", nargs="?", const="youden", choices=("youden", "sensitivity"),
                   help="pick per-label thresholds (Youden's J, or a target sensitivity) and write them")
    p.add_argument("--target-sensitivity", type=float, default=0.9)
    p.add_argument("--min-per-class", type=int, default=5,
                   help="calibrate only labels with at least this many positives and negatives")
    p.add_argument("--thresholds-out", type=Path,
                   help="thresholds file to write (default: the one the workers read)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from shared.config import get_settings
    from workers.evaluation.pipeline import EvalOptions, run_evaluation
    from workers.evaluation.thresholds import threshold_function, thresholds_file_path
    from workers.models import WeightsChecksumMismatch, WeightsNotFound, load_classifier

    settings = get_settings()
    if getattr(settings, "torch_threads", 0):
        import torch

        torch.set_num_threads(settings.torch_threads)
    spec = args.model or settings.model
    try:
        classifier = load_classifier(spec, weights_dir=args.weights_dir or settings.resolved_weights_dir,
                                     device=args.device or settings.device, expected_sha256=args.sha256)
    except (WeightsNotFound, WeightsChecksumMismatch, ValueError) as exc:
        print(f"radstack eval: {exc}", file=sys.stderr)
        return 2
    name = args.name or args.labels.stem
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    out = args.out or settings.data_dir / "eval" / f"{slug}-{datetime.now():%Y%m%d-%H%M%S}"
    options = EvalOptions(
        images_dir=args.images, labels_csv=args.labels, out_dir=out, dataset=name,
        label_format=args.label_format, uncertain=args.uncertain, blank=args.blank,
        batch_size=args.batch_size, n_boot=args.bootstrap, seed=args.seed, limit=args.limit,
        plots=not args.no_plots, progress=not args.no_progress, calibrate=args.calibrate,
        target_sensitivity=args.target_sensitivity, min_per_class=args.min_per_class,
        thresholds_out=args.thresholds_out or (thresholds_file_path(settings) if args.calibrate else None),
    )
    try:
        doc = run_evaluation(classifier, options, threshold_function(settings, classifier.info.weights_sha256))
    except (FileNotFoundError, ValueError) as exc:
        print(f"radstack eval: {exc}", file=sys.stderr)
        return 2
    _print_summary(doc)
    return 0


def _print_summary(doc: dict) -> None:  # type: ignore[type-arg]
    model, data = doc["model"], doc["data"]
    demo = "  DEMO MODEL, NOT FOR CLINICAL USE" if model["is_demo"] else ""
    print(f"model {model['model_id']} ({model['version']}){demo}")
    print(f"data  {doc['dataset']}: {data['n_scored_images']}/{data['n_images']} images scored "
          f"({data['format']} labels)")
    for label, e in doc["labels"].items():
        auc = "   -  " if e["auroc"] is None else f"{e['auroc']:.3f}"
        ci = e.get("auroc_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and ci[0] is not None else ""
        print(f"  {label:28s} n={e['n']:<5d} pos={e['positives']:<5d} AUROC {auc}{ci_text}")
    mean = doc["mean_auroc"]
    print(f"mean AUROC {'-' if mean is None else f'{mean:.3f}'} over {len(doc['mean_auroc_over'])} label(s)")
    for key, labels in doc["not_scored"].items():
        if labels:
            print(f"not scored ({key.replace('_', ' ')}): {', '.join(labels)}")
    cal = doc.get("calibration")
    if cal:
        print(f"thresholds ({cal['method']}) written to {cal['file']}" if cal["file"]
              else "no thresholds file written: no label had enough positives and negatives")
        if cal["skipped"]:
            print(f"not calibrated (too few positives or negatives): {', '.join(cal['skipped'])}")
    for caveat in doc["caveats"]:
        print(f"note: {caveat}")
    print(f"report: {doc['outputs'].get('markdown')}")
