"""The OpenAI-compatible writer against a real HTTP server on loopback (the `llm` fixture in
conftest.py): success, timeout, 500, garbage, empty and format-ignoring answers, retries, and
the fallback recorded on the draft."""

from __future__ import annotations

import time
from typing import Any

import pytest

from workers.drafting import DEMO_MARKER, FindingInput, write_draft
from workers.drafting.consistency import ASSERTED_NOT_DETECTED
from workers.retrieval import EvidenceHit

GOOD = "FINDINGS: The heart is enlarged. There is no pneumothorax or pleural effusion.\nIMPRESSION: Cardiomegaly."
FINDINGS = [FindingInput("Cardiomegaly", 0.91, 0.5, True), FindingInput("Pneumothorax", 0.04, 0.5, False),
            FindingInput("Effusion", 0.12, 0.5, False)]
EVIDENCE = [EvidenceHit("prior_report", "CXR2003", "FINDINGS: Enlarged heart. No pleural effusion or pneumothorax. "
                        "IMPRESSION: Cardiomegaly.", ("Cardiomegaly",), 0.7, "tfidf-v1"),
            EvidenceHit("knowledge", "kb-cardiomegaly-definition", "Cardiomegaly is enlargement of the cardiac silhouette.",
                        ("Cardiomegaly",), 0.8, "tfidf-v1")]


def test_success_uses_the_llm_text(llm: Any, llm_settings: Any) -> None:
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=llm_settings(llm))
    assert draft.writer == "openai:test-model" and draft.fallback_reason is None
    assert draft.text == GOOD and draft.flags == []
    (request,) = llm.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    payload = request["json"]
    assert payload["model"] == "test-model" and payload["temperature"] == 0 and payload["max_tokens"] == 300
    assert [m["role"] for m in payload["messages"]] == ["system", "user"]
    assert "cardiomegaly: 0.91 / 0.50 -> POSITIVE" in payload["messages"][1]["content"]
    assert "CXR2003" not in payload["messages"][1]["content"]  # evidence text, not database ids


def test_demo_marker_is_added_to_llm_drafts(llm: Any, llm_settings: Any) -> None:
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=True, settings=llm_settings(llm))
    assert draft.text.splitlines()[0] == DEMO_MARKER and draft.text.count(DEMO_MARKER) == 1


def test_a_transient_500_is_retried(llm: Any, llm_settings: Any) -> None:
    llm.mode = "flaky"
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=llm_settings(llm))
    assert draft.writer == "openai:test-model" and len(llm.requests) == 2


@pytest.mark.parametrize(("mode", "reason", "attempts"), [
    ("slow", "timed out", 2),
    ("500", "HTTP 500", 2),
    ("400", "HTTP 400", 1),
    ("garbage", "unparseable", 1),
    ("no_choices", "no choices", 1),
    ("empty", "empty", 1),
    ("no_format", "format", 1),
])
def test_failures_fall_back_to_the_composer_with_the_reason(llm: Any, llm_settings: Any, mode: str, reason: str,
                                                            attempts: int) -> None:
    llm.mode = mode
    started = time.perf_counter()
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=llm_settings(llm))
    assert time.perf_counter() - started < 5  # bounded by timeout x attempts: the study never stalls
    assert draft.writer == "composer"
    assert draft.fallback_reason and draft.fallback_reason.startswith("openai:") and reason in draft.fallback_reason
    assert "FINDINGS:" in draft.text and "Enlarged heart." in draft.text  # the composer's draft
    assert len(llm.requests) == attempts


def test_an_unreachable_endpoint_falls_back(llm: Any, llm_settings: Any) -> None:
    settings = llm_settings(llm, llm_base_url="http://127.0.0.1:9/v1", llm_retries=0)
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=settings)
    assert draft.writer == "composer" and "connection failed" in (draft.fallback_reason or "")


def test_no_base_url_configured_falls_back(llm: Any, llm_settings: Any) -> None:
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=llm_settings(llm, llm_base_url=None))
    assert draft.writer == "composer" and "RADSTACK_LLM_BASE_URL" in (draft.fallback_reason or "")


def test_llm_hallucinations_are_flagged(llm: Any, llm_settings: Any) -> None:
    llm.content = "FINDINGS: The heart is enlarged. Large right pneumothorax.\nIMPRESSION: Cardiomegaly and pneumothorax."
    draft = write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=llm_settings(llm))
    assert draft.writer == "openai:test-model"
    assert {(f["type"], f["label"]) for f in draft.flags} == {(ASSERTED_NOT_DETECTED, "Pneumothorax")}


def test_the_writer_defaults_to_the_setting(llm: Any, llm_settings: Any) -> None:
    settings = llm_settings(llm, draft_writer="composer")
    assert write_draft(FINDINGS, EVIDENCE, is_demo=False, settings=settings).writer == "composer"
    assert not llm.requests
    with pytest.raises(ValueError):
        write_draft(FINDINGS, EVIDENCE, is_demo=False, writer="gpt-17")
