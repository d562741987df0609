"""The Indiana University collection: parsing, MeSH -> labels, the train/test split."""

from __future__ import annotations

from collections import Counter

from workers.retrieval import heldout_reports, load_iu_reports, split_of, train_reports
from workers.retrieval.mesh import labels_for_mesh, labels_for_term


def test_all_reports_parse_with_sections_and_mesh() -> None:
    reports = load_iu_reports()
    assert 3900 <= len(reports) <= 3960
    assert len({r.report_id for r in reports}) == len(reports)
    assert sum(bool(r.findings) for r in reports) > 3300
    assert sum(bool(r.impression) for r in reports) > 3850
    assert sum(bool(r.mesh) for r in reports) > 3900
    first = next(r for r in reports if r.report_id == "CXR1")
    assert first.mesh == ("normal",) and first.labels == frozenset({"Normal"})
    assert "pneumothorax" in first.findings and first.impression
    # Only FINDINGS and IMPRESSION are kept: INDICATION carries ages and histories.
    assert all("year-old" not in r.text for r in reports)


def test_parsing_is_cached_per_process() -> None:
    assert load_iu_reports()[0] is load_iu_reports()[0]


def test_mesh_terms_map_onto_the_vocabulary() -> None:
    assert labels_for_term("Pulmonary Atelectasis/base/left") == ("Atelectasis",)
    assert labels_for_term("Cardiac Shadow/enlarged/mild") == ("Cardiomegaly",)
    assert labels_for_term("Cardiac Shadow") == ()
    assert labels_for_term("Costophrenic Angle/right/blunted") == ("Effusion",)
    assert labels_for_term("Calcified Granuloma/lung/upper lobe/right") == ("Nodule",)
    assert labels_for_term("Cicatrix/pleura/apex") == ("Pleural_Thickening",)
    assert labels_for_term("Cicatrix/lung/base/left") == ("Fibrosis",)
    assert labels_for_term("Lung/hyperdistention/mild") == ("Emphysema",)
    assert labels_for_term("Lung/hypoinflation") == ()
    assert labels_for_term("Subcutaneous Emphysema/neck") == ()
    assert labels_for_term("Spine/degenerative") == ()
    assert labels_for_mesh(["normal", "Catheters, Indwelling"]) == frozenset({"Support_Devices"})


def test_mapped_labels_cover_the_common_findings() -> None:
    counts = Counter(label for r in load_iu_reports() for label in r.labels)
    for label in ("Normal", "Cardiomegaly", "Atelectasis", "Effusion", "Lung_Opacity", "Nodule", "Emphysema"):
        assert counts[label] > 150, label
    assert counts["Pneumothorax"] > 15


def test_split_is_deterministic_disjoint_and_about_one_fifth() -> None:
    reports = load_iu_reports()
    assert split_of("CXR1") == split_of("CXR1")
    train, test = train_reports(reports), heldout_reports(reports)
    assert not {r.report_id for r in train} & {r.report_id for r in test}
    share = sum(r.split == "test" for r in reports) / len(reports)
    assert 0.17 < share < 0.23
    assert all(r.findings for r in test)
