"""The consistency check: does the draft say what the classifier found, and only that?

The negation-aware labeller reads the draft's narrative; each disagreement with the findings
becomes a flag that is stored with the report version and shown to the radiologist.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.labels import canonical_label, display_name, is_chest_finding
from workers.drafting.composer import narrative
from workers.drafting.types import FindingInput
from workers.knowledge.labeller import Mention, label_report
from workers.knowledge.lexicon import with_implied

ASSERTED_NOT_DETECTED = "asserted_not_detected"      # a hallucinated finding
DETECTED_NOT_MENTIONED = "detected_not_mentioned"    # an omitted finding
DETECTED_BUT_NEGATED = "detected_but_negated"        # the draft denies a finding the model found
NORMAL_WITH_FINDINGS = "normal_claim_with_findings"  # "no acute abnormality" beside positives


def check(text: str, findings: Sequence[FindingInput]) -> list[dict]:
    """Flags, one per label in disagreement, in a stable order."""
    statuses = label_report(narrative(text))
    detected: dict[str, FindingInput] = {}
    for finding in findings:
        label = canonical_label(finding.label)
        if finding.positive and is_chest_finding(label):
            detected[label] = finding
    allowed = with_implied(set(detected))
    flags: list[dict] = []
    for label, status in statuses.items():
        if label == "Normal" or label in allowed:
            continue
        if status in (Mention.POSITIVE, Mention.UNCERTAIN):
            flags.append({
                "type": ASSERTED_NOT_DETECTED, "label": label, "statement": status.value,
                "message": f"the draft {'suggests' if status is Mention.UNCERTAIN else 'states'} "
                           f"{display_name(label)}, which the model did not detect",
            })
    for label, finding in sorted(detected.items()):
        status = statuses.get(label, Mention.ABSENT)
        if status is Mention.ABSENT:
            flags.append({
                "type": DETECTED_NOT_MENTIONED, "label": label, "probability": round(finding.probability, 4),
                "message": f"the model detected {display_name(label)} ({finding.probability:.2f}); the draft does not mention it",
            })
        elif status is Mention.NEGATIVE:
            flags.append({
                "type": DETECTED_BUT_NEGATED, "label": label, "probability": round(finding.probability, 4),
                "message": f"the model detected {display_name(label)} ({finding.probability:.2f}); the draft rules it out",
            })
    if detected and statuses.get("Normal") is Mention.POSITIVE:
        flags.append({"type": NORMAL_WITH_FINDINGS, "label": "Normal",
                      "message": "the draft calls the study normal although the model detected findings"})
    return flags


def hallucinated(flags: Sequence[dict]) -> bool:
    return any(flag["type"] in (ASSERTED_NOT_DETECTED, NORMAL_WITH_FINDINGS) for flag in flags)
