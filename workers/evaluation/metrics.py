"""Per-label metrics: AUROC with a bootstrap confidence interval, and threshold metrics.

AUROC is computed here from ranks (the Mann-Whitney U statistic, ties counted half), which is
what scikit-learn's roc_auc_score computes too; the tests check the two agree. Ranks make the
bootstrap cheap: all resamples of a label are ranked in one vectorised call.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata


def auroc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present."""
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(y_score, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auroc(y_true: np.ndarray, y_score: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                    level: float = 0.95, chunk: int = 200) -> tuple[float, float, int]:
    """Percentile bootstrap CI of the AUROC over images: (low, high, resamples used).

    Resamples that happen to contain one class only are skipped (AUROC undefined), so `used`
    may be below n_boot for rare labels; a small `used` is itself a warning sign.
    """
    y = np.asarray(y_true, dtype=bool)
    s = np.asarray(y_score, dtype=np.float64)
    n = y.size
    if n == 0 or n_boot <= 0 or y.all() or not y.any():
        return float("nan"), float("nan"), 0
    rng = np.random.default_rng(seed)
    values: list[np.ndarray] = []
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        ys, ss = y[idx], s[idx]
        ranks = rankdata(ss, axis=1)
        n_pos = ys.sum(axis=1)
        n_neg = n - n_pos
        ok = (n_pos > 0) & (n_neg > 0)
        rank_sum = (ranks * ys).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        values.append(auc[ok])
    aucs = np.concatenate(values)
    if aucs.size == 0:
        return float("nan"), float("nan"), 0
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(aucs, [tail, 100 - tail])
    return float(low), float(high), int(aucs.size)


@dataclass(frozen=True)
class ThresholdMetrics:
    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None  # recall, TPR
    specificity: float | None  # TNR
    precision: float | None  # PPV
    f1: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def at_threshold(y_true: np.ndarray, y_score: np.ndarray, threshold: float) -> ThresholdMetrics:
    """Positive means score >= threshold (the same rule the workers use)."""
    y = np.asarray(y_true, dtype=bool)
    pred = np.asarray(y_score, dtype=np.float64) >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    tn = int((~pred & ~y).sum())
    fn = int((~pred & y).sum())
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return ThresholdMetrics(float(threshold), tp, fp, tn, fn, _ratio(tp, tp + fn), _ratio(tn, tn + fp),
                            _ratio(tp, tp + fp), f1)


def known(y_column: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop images whose label is unknown (NaN) or whose score is missing (failed image)."""
    mask = ~np.isnan(y_column) & ~np.isnan(scores)
    return y_column[mask].astype(bool), scores[mask]
