"""The grounded composer: a deterministic draft from findings and retrieved prior reports.

The CXR-RePaiR idea (Endo et al. 2021): a positive finding is described with a sentence that a
radiologist wrote for a similar study, chosen among the retrieved reports' sentences that
state this finding and nothing the classifier did not find (sentences.py). Findings that no
usable sentence describes get a fixed sentence per label (workers/knowledge/lexicon.py).

The normal statements ("The lungs are clear.") are fixed, in the phrasing most common in the
Indiana University reports, and each is written only when the classifier looked for every
finding it denies and found none. The draft follows the order radiologists read a film in:
heart and mediastinum, lungs, pleura, devices and other findings, bones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.labels import CRITICAL, canonical_label, display_name, is_chest_finding
from workers.drafting.prompts import scan_for_identifiers
from workers.drafting.sentences import Candidate, candidate, candidates, most_typical, usable
from workers.drafting.types import DEMO_MARKER, FindingInput
from workers.knowledge.labeller import Mention, label_sentence
from workers.knowledge.lexicon import LEXICON, with_implied

if TYPE_CHECKING:  # only attributes are read; no import cycle with the retrieval package
    from workers.retrieval import EvidenceHit

NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
# The line listing the classifier's positive findings with their scores. It is not narrative:
# the consistency check and the benchmark read the draft without it (narrative()).
SCORE_PREFIX = "AI-detected findings:"
SCORE_SOURCE = "findings"

# (slot, its labels, its normal statements: (text, findings it denies, only when the whole slot is clear))
_Statement = tuple[str, frozenset[str], bool]
SLOTS: tuple[tuple[str, tuple[str, ...], tuple[_Statement, ...]], ...] = (
    ("heart", ("Cardiomegaly", "Enlarged_Cardiomediastinum"), (
        ("The heart size and mediastinal contours are within normal limits.",
         frozenset({"Cardiomegaly", "Enlarged_Cardiomediastinum"}), False),
        ("The heart is normal in size.", frozenset({"Cardiomegaly"}), False),
        ("The mediastinum is unremarkable.", frozenset({"Enlarged_Cardiomediastinum"}), False),
    )),
    ("lungs", ("Lung_Opacity", "Consolidation", "Pneumonia", "Atelectasis", "Edema", "Infiltration", "Nodule",
               "Mass", "Lung_Lesion", "Emphysema", "Fibrosis", "COVID-19", "Viral_Pneumonia", "Tuberculosis"), (
        ("The lungs are clear.", frozenset({"Consolidation"}), True),
        ("There is no focal airspace consolidation.", frozenset({"Consolidation"}), False),
    )),
    ("pleura", ("Effusion", "Pneumothorax", "Pleural_Thickening"), (
        ("There is no pneumothorax or pleural effusion.", frozenset({"Pneumothorax", "Effusion"}), False),
        ("There is no pneumothorax.", frozenset({"Pneumothorax"}), False),
        ("There is no pleural effusion.", frozenset({"Effusion"}), False),
    )),
    ("other", ("Hernia", "Support_Devices"), ()),
    ("bones", ("Fracture",), (("No acute bony abnormality.", frozenset({"Fracture"}), False),)),
)


def narrative(text: str) -> str:
    """The draft without the demo marker and the score line: what a report says in words."""
    text = text.replace(DEMO_MARKER, " ")
    return re.sub(re.escape(SCORE_PREFIX) + r"[^\n]*?\.(?=\s|$)", " ", text)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Section:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def add(self, text: str, source: str) -> None:
        text = text.strip()
        if text and text[-1] not in ".!?":
            text += "."
        if all(existing.lower() != text.lower() for existing, _ in self.lines):
            self.lines.append((text, source))

    def says(self, *mentions: Mention) -> set[str]:
        """Labels the narrative states with one of these mentions (the score line is not narrative)."""
        return {label for text, source in self.lines if source != SCORE_SOURCE
                for label, m in label_sentence(text).items() if m in mentions}


def _describe(section: _Section, name: str, label: str, pool: list[Candidate], positives: list[str]) -> None:
    """State a positive finding with the most fitting retrieved sentence, else the lexicon's."""
    if label in section.says(Mention.POSITIVE):
        return
    # A positive finding is never described with a side, a position or a grade taken from
    # another patient's report: the classifier knows none of these, so such a sentence would put
    # invented detail in front of the radiologist. Without a plain sentence, the lexicon's is used.
    options = [c for c in pool if c.section == name and label in c.stated and not c.localised and not c.graded]
    if options:
        uncovered = set(positives) - section.says(Mention.POSITIVE)
        best = max(len(c.stated & uncovered) for c in options)
        options = [c for c in options if len(c.stated & uncovered) == best]
        chosen = most_typical(options)
        section.add(chosen.text, chosen.source)
    elif name == "FINDINGS":
        terms = LEXICON.get(label)
        section.add(terms.sentence if terms and terms.sentence else f"{_capitalise(display_name(label))} is present.",
                    f"finding:{label}")
    else:
        section.add(f"{_capitalise(display_name(label))}.", f"finding:{label}")


def compose(findings: Sequence[FindingInput], evidence: Sequence[EvidenceHit], *, is_demo: bool,
            show_scores: bool = True, identifiers: Sequence[str | None] = ()) -> tuple[str, list[dict]]:
    """(draft text, provenance). Deterministic: the same inputs give the same draft. A retrieved
    sentence that contains one of the study's `identifiers` is never copied (defence in depth:
    evidence comes from de-identified reports and the knowledge base)."""
    by_label: dict[str, FindingInput] = {}
    for finding in findings:
        label = canonical_label(finding.label)
        if is_chest_finding(label) and (label not in by_label or finding.probability > by_label[label].probability):
            by_label[label] = finding
    ranked = sorted(by_label.items(), key=lambda item: (-item[1].probability, item[0]))
    positives = [label for label, f in ranked if f.positive]
    allowed = with_implied(set(positives))   # what a sentence may assert (COVID-19 implies pneumonia)
    denied = {label for label, f in ranked if not f.positive} - allowed   # looked for, not found

    reports = sorted((h for h in evidence if h.kind == "prior_report"), key=lambda h: -h.score)
    pool = [c for hit in reports for c in candidates(hit)
            if usable(c, allowed) and not (identifiers and scan_for_identifiers(c.text, identifiers))]
    findings_section, impression = _Section(), _Section()

    if show_scores and positives:
        scored = ", ".join(f"{display_name(label)} {by_label[label].probability:.2f}" for label in positives)
        findings_section.add(f"{SCORE_PREFIX} {scored}.", SCORE_SOURCE)

    for slot, labels, statements in SLOTS:
        in_slot = [label for label in positives if label in labels]
        for label in in_slot:
            _describe(findings_section, "FINDINGS", label, pool, positives)
        for text, denies, only_when_clear in statements:
            if (only_when_clear and in_slot) or not denies <= denied:
                continue
            if denies <= findings_section.says(Mention.NEGATIVE) or not usable(candidate("FINDINGS", text, ""), allowed):
                continue
            findings_section.add(text, f"template:normal:{slot}")

    # Pertinent negatives no statement has covered: critical findings looked for and not found.
    missing = [label for label in sorted(CRITICAL & denied) if label not in findings_section.says(Mention.NEGATIVE)]
    if missing:
        findings_section.add(f"No {_join([LEXICON[label].negative for label in missing])}.",
                             "template:pertinent_negative")

    for label in positives:
        _describe(impression, "IMPRESSION", label, pool, positives)
    if not positives:
        impression.add(NORMAL_IMPRESSION, "template:normal")

    lines = [DEMO_MARKER] if is_demo else []
    provenance: list[dict] = []
    for name, section in (("FINDINGS", findings_section), ("IMPRESSION", impression)):
        lines.append(f"{name}: " + " ".join(text for text, _ in section.lines))
        provenance += [{"section": name, "text": text, "source": source} for text, source in section.lines]
    return "\n".join(lines), provenance
