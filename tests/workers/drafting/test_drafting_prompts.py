"""PHI-free prompts: the builder cannot receive identifiers, and the scan catches any that leak."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from workers.drafting import FindingInput, build_messages, prompt_text, scan_for_identifiers, write_draft
from workers.retrieval import EvidenceHit, Retriever

STUDY_IDENTIFIERS = ["ACC-20240131-0077", "DOE^JANE^Q", "PID-99887766", "20240131", "1.2.840.113619.2.55.3.604688"]


def findings() -> list[FindingInput]:
    return [FindingInput("Effusion", 0.77, 0.5, True), FindingInput("Cardiomegaly", 0.66, 0.5, True),
            FindingInput("Pneumothorax", 0.03, 0.5, False)]


def test_the_prompt_builder_takes_only_findings_and_evidence() -> None:
    assert list(inspect.signature(build_messages).parameters) == ["findings", "evidence"]


def test_prompts_built_from_real_evidence_hold_no_study_identifier(iu_retriever: Retriever) -> None:
    for positive in (["Effusion", "Cardiomegaly"], [], ["Pneumothorax"], ["Nodule", "Emphysema"]):
        hits = iu_retriever.search(positive, ["Pneumothorax"], 5)
        text = prompt_text(build_messages(findings(), hits))
        assert scan_for_identifiers(text, STUDY_IDENTIFIERS) == []
        assert "0.77 / 0.50 -> POSITIVE" in text and "FINDINGS" in text


@pytest.mark.parametrize(("text", "identifier"), [
    ("Patient Jane Doe, seen today.", "DOE^JANE^Q"),
    ("accession acc-20240131-0077 pending", "ACC-20240131-0077"),
    ("Study date 2024-01-31.", "20240131"),
    ("Study date 31/01/2024.", "20240131"),
    ("MRN 99887766 on file", "PID-99887766"),
])
def test_the_scan_finds_identifiers_in_their_usual_spellings(text: str, identifier: str) -> None:
    assert scan_for_identifiers(text, [identifier, None, ""]) == [identifier]


def test_the_scan_ignores_partial_tokens() -> None:
    assert scan_for_identifiers("values 200240131 and 202401319", ["20240131"]) == []
    assert scan_for_identifiers("ACC-20240131-00771", ["ACC-20240131-0077"]) == []


def test_every_prompt_sent_is_free_of_the_study_identifiers(llm: Any, llm_settings: Any, iu_retriever: Retriever) -> None:
    for positive in (["Effusion", "Cardiomegaly"], []):
        hits = iu_retriever.search(positive, ["Pneumothorax"], 5)
        write_draft(findings(), hits, is_demo=False, identifiers=STUDY_IDENTIFIERS, settings=llm_settings(llm))
    assert len(llm.requests) == 2
    for request in llm.requests:
        assert scan_for_identifiers(request["raw"], STUDY_IDENTIFIERS) == []


def test_a_prompt_with_an_identifier_is_never_sent(llm: Any, llm_settings: Any) -> None:
    leaky = [EvidenceHit("prior_report", "CXR1", "FINDINGS: Jane Doe has an effusion. IMPRESSION: Effusion.",
                         ("Effusion",), 0.5, "tfidf-v1")]
    draft = write_draft(findings(), leaky, is_demo=False, identifiers=STUDY_IDENTIFIERS, settings=llm_settings(llm))
    assert not llm.requests
    assert draft.writer == "composer" and "identifier" in (draft.fallback_reason or "")
    assert "Jane" not in (draft.fallback_reason or "") and "Doe" not in draft.text
