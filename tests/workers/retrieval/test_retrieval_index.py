"""Retrieval: label-relevant hits, negative filtering, the on-disk cache and its rebuild."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.labels import CRITICAL
from workers.knowledge.labeller import Mention, label_report
from workers.retrieval import EvidenceHit, Retriever, build_index, get_retriever
from workers.retrieval import index as index_module

# Labels with enough train reports that the top hits must carry them.
FREQUENT = ("Cardiomegaly", "Atelectasis", "Effusion", "Lung_Opacity", "Nodule", "Emphysema", "Fibrosis",
            "Edema", "Support_Devices", "Fracture", "Infiltration", "Pleural_Thickening", "Hernia",
            "Pneumonia", "Consolidation", "Pneumothorax", "Mass", "Enlarged_Cardiomediastinum")
CHEST_LABELS = FREQUENT + ("COVID-19", "Viral_Pneumonia", "Tuberculosis", "Lung_Lesion")


def _mentions(hit: EvidenceHit, label: str) -> bool:
    return label_report(hit.text)[label] in (Mention.POSITIVE, Mention.UNCERTAIN)


def test_cardiomegaly_query_returns_reports_about_an_enlarged_heart(iu_retriever: Retriever) -> None:
    hits = iu_retriever.search(["Cardiomegaly"], ["Pneumothorax"], 5)
    reports = [h for h in hits if h.kind == "prior_report"]
    assert len(reports) == 5
    assert all(h.source_id.startswith("CXR") and h.retriever == "tfidf-v1" for h in reports)
    assert [h.score for h in reports] == sorted((h.score for h in reports), reverse=True)
    for hit in reports:
        assert "Cardiomegaly" in hit.labels
        assert any(word in hit.text.lower() for word in ("cardiomegaly", "enlarged", "enlargement")), hit.text


@pytest.mark.parametrize("label", FREQUENT)
def test_top_reports_carry_the_queried_label(iu_retriever: Retriever, label: str) -> None:
    reports = [h for h in iu_retriever.search([label], [], 3) if h.kind == "prior_report"]
    assert reports and all(label in h.labels for h in reports), [(h.source_id, h.labels) for h in reports]
    assert any(_mentions(h, label) for h in reports)


@pytest.mark.parametrize("label", CHEST_LABELS + ("Normal",))
def test_knowledge_passages_are_about_the_queried_label(iu_retriever: Retriever, label: str) -> None:
    positive = [] if label == "Normal" else [label]
    passages = [h for h in iu_retriever.search(positive, [], 3) if h.kind == "knowledge"]
    assert len(passages) == 2
    assert all(label in h.labels and h.source_id.startswith("kb-") for h in passages)


def test_no_positive_finding_retrieves_normal_reports(iu_retriever: Retriever) -> None:
    reports = [h for h in iu_retriever.search([], sorted(CRITICAL), 5) if h.kind == "prior_report"]
    assert all(h.labels == ("Normal",) for h in reports)


def test_retrieved_report_text_never_asserts_a_ruled_out_finding(iu_retriever: Retriever) -> None:
    # Knowledge passages discuss differentials; they are about the finding, not about a patient.
    for positive, negative in ((["Effusion"], ["Pneumothorax", "Edema"]), (["Cardiomegaly"], ["Effusion", "Edema"]),
                               (["Atelectasis"], ["Effusion", "Pneumonia", "Consolidation"])):
        for hit in iu_retriever.search(positive, negative, 10, knowledge_per_label=0):
            status = label_report(hit.text)
            assert all(status[n] not in (Mention.POSITIVE, Mention.UNCERTAIN) for n in negative), (hit.source_id, hit.text)


def test_unknown_labels_are_ignored_not_fatal(iu_retriever: Retriever) -> None:
    hits = iu_retriever.search(["Cardiomegaly", "Glioma", "no such finding"], ["made up"], 3)
    assert hits and all("Cardiomegaly" in h.labels for h in hits)


def test_get_retriever_is_built_once_per_process(iu_retriever: Retriever, iu_index_dir: Path) -> None:
    assert get_retriever(iu_index_dir, "tfidf") is iu_retriever


def test_cache_is_reused_and_a_corrupt_cache_is_rebuilt(iu_retriever: Retriever, iu_index_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = index_module.index_path(iu_index_dir, "tfidf")
    assert path.is_file()

    built: list[int] = []
    original = Retriever.__init__

    def counting_init(self: Retriever, *args: object, **kwargs: object) -> None:
        built.append(1)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Retriever, "__init__", counting_init)
    started = time.perf_counter()
    cached = build_index(iu_index_dir, "tfidf")
    assert not built and time.perf_counter() - started < 5
    assert len(cached.reports) == len(iu_retriever.reports)

    path.write_bytes(b"\x00 not a joblib file")
    stale = iu_index_dir / "retriever-tfidf-0123456789abcdef.joblib"
    stale.write_bytes(b"an index of an older corpus or code version")
    rebuilt = build_index(iu_index_dir, "tfidf")
    assert built and len(rebuilt.reports) == len(iu_retriever.reports)
    assert not stale.exists()
    assert build_index(iu_index_dir, "tfidf").search(["Effusion"], [], 1)[0].labels  # the rewrite loads


def test_cache_key_follows_the_corpus_version(iu_index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = index_module.index_path(iu_index_dir, "tfidf")
    monkeypatch.setattr(index_module, "INDEX_CODE_VERSION", "test-bump")
    assert index_module.index_path(iu_index_dir, "tfidf") != before


def test_only_train_reports_are_indexed(iu_retriever: Retriever) -> None:
    assert {r.split for r in iu_retriever.reports} == {"train"}
