"""Prompts for the LLM writers, and the identifier scan that guards them.

The prompt builder takes findings and evidence only; it has no parameter through which a
name, an id, an accession number or a date could arrive. `scan_for_identifiers` is the second
line of defence: the generate stage passes the study's identifiers and nothing is sent to a
model if any of them shows up in the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from shared.labels import canonical_label, display_name, is_chest_finding
from workers.drafting.types import FindingInput

if TYPE_CHECKING:
    from workers.retrieval import EvidenceHit

SYSTEM_PROMPT = (
    "You draft chest radiograph reports for a radiologist, who reviews and signs them. "
    "Use only the classifier findings and the evidence you are given. "
    "Write exactly two sections, starting with the lines 'FINDINGS:' and 'IMPRESSION:'. "
    "Describe every finding marked POSITIVE; state the pertinent negatives; never describe a finding "
    "that is not marked POSITIVE. Do not invent comparisons, history, measurements, names or dates. "
    "The prior reports are about other patients: reuse their wording only where it matches these findings."
)
MAX_EVIDENCE_CHARS = 700


def build_messages(findings: Sequence[FindingInput], evidence: Sequence[EvidenceHit]) -> list[dict[str, str]]:
    """OpenAI-style chat messages from findings (label, probability, threshold) and evidence."""
    lines = ["Classifier findings (probability / threshold):"]
    for finding in sorted(findings, key=lambda f: -f.probability):
        label = canonical_label(finding.label)
        if not is_chest_finding(label):
            continue
        verdict = "POSITIVE" if finding.positive else "not detected"
        lines.append(f"- {display_name(label)}: {finding.probability:.2f} / {finding.threshold:.2f} -> {verdict}")
    reports = [h for h in evidence if h.kind == "prior_report"]
    passages = [h for h in evidence if h.kind == "knowledge"]
    if reports:
        lines += ["", "Similar prior reports (other patients):"]
        lines += [f"[{i}] {h.text[:MAX_EVIDENCE_CHARS]}" for i, h in enumerate(reports, 1)]
    if passages:
        lines += ["", "Reference notes:"]
        lines += [f"- {h.text[:MAX_EVIDENCE_CHARS]}" for h in passages]
    lines += ["", "Write the report now, FINDINGS then IMPRESSION."]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(lines)}]


def prompt_text(messages: Iterable[dict[str, str]]) -> str:
    return "\n".join(message["content"] for message in messages)


def _variants(identifier: str) -> set[str]:
    """Ways an identifier may be written: as given, DICOM name parts ("DOE^JOHN"), digits only,
    and dates in the usual formats (20240131 -> 2024-01-31, 31/01/2024, 01/31/2024)."""
    value = identifier.strip()
    variants = {value}
    variants |= {part for part in re.split(r"[\^,\s]+", value) if len(part) >= 3}
    digits = re.sub(r"\D", "", value)
    if len(digits) >= 4:
        variants.add(digits)
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", value)
    if match:
        y, m, d = match.groups()
        variants |= {f"{y}{m}{d}", f"{y}-{m}-{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}"}
    return {v for v in variants if len(v) >= 3}


def scan_for_identifiers(text: str, identifiers: Iterable[str | None]) -> list[str]:
    """The identifiers (as given) that occur in text, case-insensitively, as whole tokens."""
    found = []
    for identifier in identifiers:
        if not identifier or not str(identifier).strip():
            continue
        for variant in _variants(str(identifier)):
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(variant)}(?![A-Za-z0-9])", text, re.IGNORECASE):
                found.append(str(identifier))
                break
    return found
