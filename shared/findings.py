"""Study-level view of per-image findings: a finding is as strong as its strongest image."""

from __future__ import annotations

from collections.abc import Iterable

from shared.labels import CRITICAL, is_chest_finding
from shared.models import Finding


def study_level(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per label (the image with the highest probability), strongest first."""
    best: dict[str, Finding] = {}
    for finding in findings:
        current = best.get(finding.label)
        if current is None or finding.probability > current.probability:
            best[finding.label] = finding
    return sorted(best.values(), key=lambda f: f.probability, reverse=True)


def positive_labels(findings: Iterable[Finding]) -> list[str]:
    return [f.label for f in study_level(findings) if f.positive and is_chest_finding(f.label)]


def pertinent_negatives(findings: Iterable[Finding]) -> list[str]:
    """Critical findings the model looked for and did not find: worth saying in a report."""
    return [f.label for f in study_level(findings) if not f.positive and f.label in CRITICAL]


def has_critical(findings: Iterable[Finding]) -> bool:
    return any(f.positive and f.label in CRITICAL for f in study_level(findings))
