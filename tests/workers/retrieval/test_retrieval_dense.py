"""The dense (all-MiniLM-L6-v2, offline) and hybrid (reciprocal rank fusion) backends, on a
few hundred train reports so that the test stays fast."""

from __future__ import annotations

import numpy as np
import pytest

from workers.knowledge import load_passages
from workers.retrieval import Retriever, load_iu_reports, train_reports
from workers.retrieval.backends import HybridRanker


@pytest.fixture(scope="module")
def subset() -> list:
    train = train_reports(load_iu_reports())
    wanted = {"Cardiomegaly", "Effusion", "Pneumothorax"}
    labelled = [r for r in train if r.labels & wanted][:60]
    return labelled + [r for r in train if r.labels == frozenset({"Normal"})][:60]


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = HybridRanker.fuse(np.array([0.9, 0.5, 0.1]), np.array([0.2, 0.8, 0.1]))
    assert fused[2] == fused.min() and fused[0] == pytest.approx(fused[1])
    assert HybridRanker.fuse(np.array([3.0, 2.0, 1.0]), np.array([30.0, 20.0, 10.0])).argmax() == 0


@pytest.mark.parametrize("backend", ["dense", "hybrid"])
def test_dense_and_hybrid_find_reports_about_the_finding(subset: list, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    retriever = Retriever(subset, load_passages(), backend)
    assert retriever.name == {"dense": "dense-minilm-v1", "hybrid": "hybrid-rrf-v1"}[backend]
    for label in ("Cardiomegaly", "Pneumothorax"):
        hits = retriever.search([label], [], 3)
        reports = [h for h in hits if h.kind == "prior_report"]
        assert all(label in h.labels for h in reports), [(h.source_id, h.labels) for h in reports]
        assert all(label in h.labels for h in hits if h.kind == "knowledge")
    normal = [h for h in retriever.search([], ["Pneumothorax", "Effusion"], 3) if h.kind == "prior_report"]
    assert all(h.labels == ("Normal",) for h in normal)
