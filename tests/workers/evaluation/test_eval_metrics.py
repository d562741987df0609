from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score, roc_curve

from workers.evaluation.calibration import sensitivity_threshold, youden_threshold
from workers.evaluation.metrics import at_threshold, auroc, bootstrap_auroc


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.random(200) < 0.3
    s = np.round(rng.random(200) * 0.5 + 0.3 * y, 2)  # rounding makes ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_auroc_single_class_is_nan() -> None:
    assert np.isnan(auroc(np.zeros(5), np.arange(5)))
    assert bootstrap_auroc(np.ones(5), np.arange(5))[2] == 0


def test_bootstrap_interval() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.4
    s = rng.random(300) + 0.5 * y
    point = auroc(y, s)
    low, high, used = bootstrap_auroc(y, s, n_boot=500, seed=3)
    assert used == 500 and low < point < high and high - low < 0.2
    assert bootstrap_auroc(y, s, n_boot=500, seed=3) == (low, high, used)  # seeded
    small_low, small_high, _ = bootstrap_auroc(y[:30], s[:30], n_boot=500, seed=3)
    assert small_high - small_low > high - low


def test_threshold_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.random(100) < 0.5
    s = rng.random(100)
    m = at_threshold(y, s, 0.4)
    tn, fp, fn, tp = confusion_matrix(y, s >= 0.4).ravel()
    assert (m.tp, m.fp, m.tn, m.fn) == (tp, fp, tn, fn)
    assert m.f1 == pytest.approx(f1_score(y, s >= 0.4))
    assert m.sensitivity == pytest.approx(tp / (tp + fn)) and m.specificity == pytest.approx(tn / (tn + fp))


def test_youden_and_sensitivity_thresholds() -> None:
    rng = np.random.default_rng(4)
    y = rng.random(400) < 0.3
    s = rng.random(400) + 0.6 * y
    fpr, tpr, thr = roc_curve(y, s)
    best = thr[int(np.argmax(tpr - fpr))]
    assert youden_threshold(y, s) == pytest.approx(best)
    t = sensitivity_threshold(y, s, 0.9)
    assert at_threshold(y, s, t).sensitivity >= 0.9
    higher = np.min(s[s > t])  # the next score up would miss the target
    assert at_threshold(y, s, higher).sensitivity < 0.9
