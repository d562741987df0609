"""The consistency check flags hallucinated, omitted and contradicted findings."""

from __future__ import annotations

from workers.drafting import DEMO_MARKER, FindingInput, check_consistency
from workers.drafting.consistency import (
    ASSERTED_NOT_DETECTED,
    DETECTED_BUT_NEGATED,
    DETECTED_NOT_MENTIONED,
    NORMAL_WITH_FINDINGS,
    hallucinated,
)

FINDINGS = [FindingInput("Cardiomegaly", 0.9, 0.5, True), FindingInput("Effusion", 0.8, 0.5, True),
            FindingInput("Pneumothorax", 0.1, 0.5, False), FindingInput("Glioma", 0.9, 0.5, True)]


def kinds(flags: list[dict]) -> set[tuple[str, str]]:
    return {(flag["type"], flag["label"]) for flag in flags}


def test_a_faithful_draft_has_no_flags() -> None:
    text = f"{DEMO_MARKER}\nFINDINGS: The heart is enlarged. Small pleural effusion. No pneumothorax.\nIMPRESSION: Cardiomegaly."
    assert check_consistency(text, FINDINGS) == []


def test_hallucinated_omitted_and_negated_findings_are_flagged() -> None:
    text = "FINDINGS: There is a right pneumothorax. Possible pneumonia. No pleural effusion.\nIMPRESSION: Pneumothorax."
    flags = check_consistency(text, FINDINGS)
    assert kinds(flags) == {
        (ASSERTED_NOT_DETECTED, "Pneumothorax"), (ASSERTED_NOT_DETECTED, "Pneumonia"),
        (DETECTED_NOT_MENTIONED, "Cardiomegaly"), (DETECTED_BUT_NEGATED, "Effusion"),
    }
    assert hallucinated(flags)
    assert all(flag["message"] for flag in flags)


def test_a_normal_claim_beside_findings_is_flagged() -> None:
    text = "FINDINGS: The heart is enlarged. Pleural effusion.\nIMPRESSION: No acute cardiopulmonary abnormality."
    assert (NORMAL_WITH_FINDINGS, "Normal") in kinds(check_consistency(text, FINDINGS))


def test_the_score_line_does_not_count_as_a_mention() -> None:
    text = "FINDINGS: AI-detected findings: cardiomegaly 0.90, pleural effusion 0.80. No pneumothorax.\nIMPRESSION: None."
    assert kinds(check_consistency(text, FINDINGS)) == {
        (DETECTED_NOT_MENTIONED, "Cardiomegaly"), (DETECTED_NOT_MENTIONED, "Effusion")}


def test_implied_findings_are_not_hallucinations() -> None:
    findings = [FindingInput("COVID-19", 0.9, 0.5, True), FindingInput("Pneumonia", 0.2, 0.5, False)]
    assert check_consistency("FINDINGS: Multifocal pneumonia compatible with COVID-19.\nIMPRESSION: COVID-19.", findings) == []
