"""The grounded composer: only positive findings asserted, pertinent negatives, demo marker."""

from __future__ import annotations

import itertools
import re

import pytest

from shared.labels import CRITICAL
from workers.drafting import DEMO_MARKER, FindingInput, narrative, write_draft
from workers.knowledge.labeller import Mention, label_report, label_sentence, split_sentences
from workers.knowledge.lexicon import with_implied
from workers.retrieval import EvidenceHit, Retriever, heldout_reports, load_iu_reports

CHEST = ("Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia", "Pneumothorax",
         "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia", "COVID-19",
         "Viral_Pneumonia", "Tuberculosis", "Lung_Opacity", "Lung_Lesion", "Fracture",
         "Enlarged_Cardiomediastinum", "Support_Devices")


def findings_for(positive: set[str], labels: tuple[str, ...] = CHEST) -> list[FindingInput]:
    return [FindingInput(label, 0.83 if label in positive else 0.07, 0.5, label in positive) for label in labels]


def draft_for(retriever: Retriever, positive: set[str], *, is_demo: bool = False):
    hits = retriever.search(sorted(positive), sorted(CRITICAL - positive), 5)
    return write_draft(findings_for(positive), hits, is_demo=is_demo, writer="composer")


def asserted(text: str) -> set[str]:
    return {label for label, m in label_report(narrative(text)).items()
            if label != "Normal" and m in (Mention.POSITIVE, Mention.UNCERTAIN)}


def label_sets() -> list[frozenset[str]]:
    """Every single label, some pairs, and the label sets of 150 held-out IU reports."""
    sets = [frozenset({label}) for label in CHEST] + [frozenset(pair) for pair in itertools.combinations(CHEST[:10], 2)]
    sets += [r.labels - {"Normal"} for r in heldout_reports(load_iu_reports())[:150]]
    return list(dict.fromkeys(sets))


def test_composer_never_asserts_a_label_that_is_not_positive(iu_retriever: Retriever) -> None:
    for positive in label_sets():
        draft = draft_for(iu_retriever, set(positive))
        extra = asserted(draft.text) - with_implied(set(positive))
        assert not extra, (sorted(positive), extra, draft.text)


def test_every_positive_finding_is_stated_with_its_score(iu_retriever: Retriever) -> None:
    for positive in label_sets()[:60]:
        draft = draft_for(iu_retriever, set(positive))
        statuses = label_report(narrative(draft.text))
        assert all(statuses[label] is Mention.POSITIVE for label in positive), (sorted(positive), draft.text)
        if positive:
            assert "AI-detected findings:" in draft.text and "0.83" in draft.text
        assert draft.flags == [], draft.flags


def test_sections_and_pertinent_negatives(iu_retriever: Retriever) -> None:
    draft = draft_for(iu_retriever, {"Cardiomegaly"})
    lines = draft.text.splitlines()
    assert lines[0].startswith("FINDINGS: ") and lines[1].startswith("IMPRESSION: ")
    statuses = label_report(draft.text)
    for label in CRITICAL:
        assert statuses[label] is Mention.NEGATIVE, (label, draft.text)
    assert draft.writer == "composer" and draft.fallback_reason is None


def test_no_positive_finding_gives_a_normal_study(iu_retriever: Retriever) -> None:
    draft = draft_for(iu_retriever, set())
    assert not asserted(draft.text)
    impression = draft.text.split("IMPRESSION:")[1]
    assert label_report(impression)["Normal"] is Mention.POSITIVE
    assert "AI-detected" not in draft.text


def test_no_positive_and_no_evidence_still_writes_a_normal_study() -> None:
    draft = write_draft(findings_for(set()), [], is_demo=False, writer="composer")
    assert "FINDINGS:" in draft.text and "IMPRESSION:" in draft.text
    assert "No acute cardiopulmonary abnormality." in draft.text
    assert label_report(draft.text)["Pneumothorax"] is Mention.NEGATIVE


@pytest.mark.parametrize("positive", [set(), {"Effusion"}])
def test_demo_marker_is_the_first_line(iu_retriever: Retriever, positive: set[str]) -> None:
    draft = draft_for(iu_retriever, positive, is_demo=True)
    assert draft.text.splitlines()[0] == DEMO_MARKER
    assert DEMO_MARKER not in draft_for(iu_retriever, positive, is_demo=False).text


def test_the_composer_is_deterministic(iu_retriever: Retriever) -> None:
    assert draft_for(iu_retriever, {"Effusion", "Atelectasis"}).text == draft_for(iu_retriever, {"Effusion", "Atelectasis"}).text


def test_unusable_evidence_sentences_are_never_copied() -> None:
    evidence = [EvidenceHit("prior_report", "CXR999999", (
        "FINDINGS: There is a large right pneumothorax. Stable cardiomegaly. Degenerative changes of the spine. "
        "XXXX opacity in the right base. The heart is enlarged. No pleural effusion. "
        "IMPRESSION: Cardiomegaly. No acute cardiopulmonary abnormality."), ("Cardiomegaly",), 0.9, "tfidf-v1")]
    draft = write_draft(findings_for({"Cardiomegaly"}), evidence, is_demo=False, writer="composer")
    for copied in ("large right pneumothorax", "Stable", "Degenerative", "XXXX", "No acute cardiopulmonary"):
        assert copied.lower() not in draft.text.lower(), (copied, draft.text)
    assert label_report(draft.text)["Pneumothorax"] is Mention.NEGATIVE
    assert "The heart is enlarged." in draft.text
    assert label_report(draft.text)["Effusion"] is Mention.NEGATIVE
    sources = {p["source"] for p in draft.provenance}
    assert "CXR999999" in sources


def test_every_sentence_has_a_source(iu_retriever: Retriever) -> None:
    draft = draft_for(iu_retriever, {"Effusion", "Nodule"})
    body = [s for s in split_sentences(narrative(draft.text).replace("FINDINGS:", "").replace("IMPRESSION:", ""))]
    sourced = {p["text"] for p in draft.provenance}
    assert all(any(sentence in text for text in sourced) for sentence in body), (body, sourced)
    assert all(p["source"] for p in draft.provenance)


def test_unknown_model_labels_do_not_crash_the_composer(iu_retriever: Retriever) -> None:
    findings = findings_for({"Cardiomegaly"}) + [FindingInput("Glioma", 0.99, 0.5, True),
                                                 FindingInput("Weird_New_Label", 0.9, 0.5, True)]
    draft = write_draft(findings, iu_retriever.search(["Cardiomegaly"], [], 5), is_demo=False, writer="composer")
    assert "glioma" not in draft.text.lower() and "weird" not in draft.text.lower()
    assert label_sentence(narrative(draft.text)).get("Cardiomegaly") is Mention.POSITIVE


def test_normal_statements_only_deny_what_the_model_assessed(iu_retriever: Retriever) -> None:
    from shared.labels import DENSENET22, is_chest_finding

    assessed = tuple(label for label in DENSENET22 if is_chest_finding(label))   # no Fracture, no Lung_Opacity
    for positive in (set(), {"Effusion"}, {"Nodule", "Cardiomegaly"}):
        hits = iu_retriever.search(sorted(positive), sorted(CRITICAL - positive), 5)
        draft = write_draft(findings_for(positive, assessed), hits, is_demo=True, writer="composer")
        assert "bony" not in draft.text and "mediastinal contours" not in draft.text, draft.text
        assert not asserted(draft.text) - positive, draft.text


def test_no_side_position_or_grade_is_copied_for_a_positive_finding() -> None:
    """The classifier knows neither laterality nor severity, so a draft must not borrow them."""
    evidence = [
        EvidenceHit("prior_report", "iu:1", "FINDINGS: Small left pleural effusion. Mild cardiomegaly. "
                    "IMPRESSION: Small left pleural effusion. Mild cardiomegaly.", ("Effusion", "Cardiomegaly"),
                    0.9, "test"),
        EvidenceHit("prior_report", "iu:2", "FINDINGS: Large right upper lobe mass measuring 3 cm. "
                    "IMPRESSION: Right upper lobe mass.", ("Mass",), 0.8, "test"),
    ]
    draft = write_draft(findings_for({"Effusion", "Cardiomegaly", "Mass"}), evidence, is_demo=False, writer="composer")
    text = narrative(draft.text).lower()
    for word in ("left", "right", "upper lobe", "small", "mild", "large", "3 cm"):
        assert not re.search(rf"\b{word}\b", text), f"{word!r} copied into: {draft.text}"
    assert {"Effusion", "Cardiomegaly", "Mass"} <= asserted(draft.text)
