"""ROC curve PNGs: one per scored label and one summary with every curve."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")  # no display on workers / CI
    import matplotlib.pyplot as plt

    return plt


def safe_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def roc_png(path: Path, label: str, y: np.ndarray, s: np.ndarray, auc: float,
            ci: tuple[float, float] | None, title_note: str = "") -> Path:
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fpr, tpr, _ = roc_curve(y, s)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and not np.isnan(ci[0]) else ""
    ax.plot(fpr, tpr, lw=2, label=f"AUROC {auc:.3f}{ci_text}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
           title=f"{label} (n={y.size}, {int(y.sum())} positive){title_note}")
    ax.title.set_fontsize(9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def summary_png(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str) -> Path:
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    for label, (y, s, auc) in sorted(curves.items(), key=lambda kv: -kv[1][2]):
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, lw=1.3, label=f"{label} {auc:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity", title=title)
    ax.title.set_fontsize(10)
    ax.legend(loc="lower right", fontsize=7, ncol=2 if len(curves) > 9 else 1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
