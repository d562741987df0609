"""The grounded composer: a deterministic draft from findings and retrieved prior reports.

The CXR-RePaiR idea (Endo et al. 2021): reuse sentences that radiologists wrote for similar
studies, but only those whose labels match what the classifier found. A sentence is used only
if the labeller finds that it asserts nothing that is not positive, denies nothing that is,
and mentions no history ("stable", "prior") or finding outside the vocabulary ("degenerative
change") that the classifier cannot vouch for. What the retrieved reports do not cover is said
with a fixed sentence per label (workers/knowledge/lexicon.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.labels import CRITICAL, canonical_label, display_name, is_chest_finding
from workers.drafting.types import DEMO_MARKER, FindingInput
from workers.knowledge.labeller import Mention, label_sentence, split_sentences
from workers.knowledge.lexicon import LEXICON, with_implied

if TYPE_CHECKING:  # only attributes are read; no import cycle with the retrieval package
    from workers.retrieval import EvidenceHit

NORMAL = "Normal"
NORMAL_FINDINGS = (
    "The heart size and mediastinal contours are within normal limits.",
    "The lungs are clear.",
)
NORMAL_IMPRESSION = "No acute cardiopulmonary abnormality."
# The line listing the classifier's positive findings with their scores. It is not narrative:
# the consistency check and the benchmark read the draft without it (narrative()).
SCORE_PREFIX = "AI-detected findings:"
SCORE_SOURCE = "findings"

# A sentence about another patient's history or about a finding outside the vocabulary can
# never be vouched for by this study's classifier.
_HISTORY = re.compile(
    r"\b(?:prior|previous\w*|stable|unchanged|again|interval|compared?|comparison|redemonstrat\w*|since|"
    r"status post|s/p|post-?operative|postsurgical|healed|healing|old|chronic|known|persistent\w*|"
    r"improv\w*|worsen\w*|increas\w*|decreas\w*|resolv\w*|new|previously|history|clinical\w*|correlat\w*)\b"
)
_OUT_OF_VOCABULARY = re.compile(
    r"degenerat|tortu|calcifi(?!ed granuloma)|calcinosis|osteophyt|scolio|kypho|spondyl|arthrit|scleros|"
    r"hypoinflat|low lung volume|eventration|elevat|sternotomy|cabg|cholecystectomy|granulomatous|atheroscl|"
    r"ectatic|aneurysm|hil(?:ar|um)|lymph|adenopathy|deformit|osteopen|compression|nipple|mastectomy|implant|"
    r"hyperostosis|rotat|lordotic|pectus|surg|aort|hemidiaphragm|thyroid|azygos|crowding|bronchovascular|"
    r"markings|epicardial|vascularity|trachea|spine|vertebra|shoulder|humer|clavic|abdomen|bowel|"
    r"artifact|limited|technique|portable|view|film|exam|patient|dr\.|phone|called|notified|discussed|"
    r"xxxx|\d"
)
_NORMAL_CUE = re.compile(r"\b(?:no|normal|clear|unremarkable|within normal limits|intact|negative|without)\b")
_SECTION = re.compile(r"\b(FINDINGS|IMPRESSION):\s*")


@dataclass(frozen=True)
class _Candidate:
    section: str
    text: str
    source: str
    asserted: frozenset[str]     # labels stated present or possible
    negated: frozenset[str]
    normal_claim: bool           # "No acute cardiopulmonary abnormality"


def _sections(text: str) -> list[tuple[str, str]]:
    """("FINDINGS", body), ("IMPRESSION", body) from an evidence text; unheaded text is FINDINGS."""
    parts = _SECTION.split(text)
    if len(parts) == 1:
        return [("FINDINGS", text)]
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def _candidates(hit: EvidenceHit) -> list[_Candidate]:
    out = []
    for section, body in _sections(hit.text):
        for sentence in split_sentences(body):
            status = label_sentence(sentence)
            out.append(_Candidate(
                section, sentence, hit.source_id,
                frozenset(l for l, m in status.items() if l != NORMAL and m in (Mention.POSITIVE, Mention.UNCERTAIN)),
                frozenset(l for l, m in status.items() if m is Mention.NEGATIVE),
                status.get(NORMAL) is Mention.POSITIVE,
            ))
    return out


def _usable(c: _Candidate, positive: frozenset[str]) -> bool:
    """May this sentence go into a draft whose allowed findings are `positive`?"""
    lower = c.text.lower()
    if _HISTORY.search(lower) or _OUT_OF_VOCABULARY.search(lower) or len(lower.split()) > 30:
        return False
    if c.asserted - positive or c.negated & positive or (c.normal_claim and positive):
        return False
    # A sentence naming nothing must at least be a normal statement ("The lungs are clear"),
    # not an unlabelled observation the labeller cannot read.
    return bool(c.asserted) or bool(c.negated) or c.normal_claim or bool(_NORMAL_CUE.search(lower))


def narrative(text: str) -> str:
    """The draft without the demo marker and the score line: what a report says in words."""
    text = text.replace(DEMO_MARKER, " ")
    return re.sub(re.escape(SCORE_PREFIX) + r"[^\n]*?\.(?=\s|$)", " ", text)


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Draft:
    def __init__(self) -> None:
        self.lines: dict[str, list[tuple[str, str]]] = {"FINDINGS": [], "IMPRESSION": []}

    def add(self, section: str, text: str, source: str) -> None:
        text = text.strip()
        if text and text[-1] not in ".!?":
            text += "."
        if all(existing.lower() != text.lower() for existing, _ in self.lines[section]):
            self.lines[section].append((text, source))

    def said(self, mention: Mention) -> set[str]:
        return {label for lines in self.lines.values() for text, _ in lines
                for label, m in label_sentence(text).items() if m is mention}


def compose(findings: Sequence[FindingInput], evidence: Sequence[EvidenceHit], *, is_demo: bool,
            show_scores: bool = True) -> tuple[str, list[dict]]:
    """(draft text, provenance). Deterministic: the same inputs give the same draft."""
    by_label: dict[str, FindingInput] = {}
    for finding in findings:
        label = canonical_label(finding.label)
        if is_chest_finding(label) and (label not in by_label or finding.probability > by_label[label].probability):
            by_label[label] = finding
    ranked = sorted(by_label.items(), key=lambda item: (-item[1].probability, item[0]))
    positives = [label for label, f in ranked if f.positive]
    allowed = with_implied(set(positives))   # what a sentence may assert (COVID-19 implies pneumonia)
    assessed_negative = {label for label, f in ranked if not f.positive} - allowed

    reports = sorted((h for h in evidence if h.kind == "prior_report"), key=lambda h: -h.score)
    usable = [[c for c in _candidates(hit) if _usable(c, allowed)] for hit in reports]
    draft = _Draft()

    if show_scores and positives:
        scored = ", ".join(f"{display_name(label)} {by_label[label].probability:.2f}" for label in positives)
        draft.add("FINDINGS", f"{SCORE_PREFIX} {scored}.", SCORE_SOURCE)

    for section in ("FINDINGS", "IMPRESSION"):
        # The most similar report that has this section gives the skeleton, in its own order.
        for candidates in usable:
            in_section = [c for c in candidates if c.section == section]
            if in_section:
                for c in in_section:
                    draft.add(section, c.text, c.source)
                break
        # Positives the skeleton does not state: the best sentence from the next reports.
        for label in positives:
            if label in draft_labels(draft, section):
                continue
            match = next((c for candidates in usable for c in candidates
                          if c.section == section and label in c.asserted and _states(c.text, label)), None)
            if match is not None:
                draft.add(section, match.text, match.source)
            elif section == "FINDINGS":
                terms = LEXICON.get(label)
                draft.add(section, terms.sentence if terms and terms.sentence else
                          f"{_capitalise(display_name(label))} is present.", f"finding:{label}")
            else:
                draft.add(section, f"{_capitalise(display_name(label))}.", f"finding:{label}")

    if not positives:
        if not draft.lines["FINDINGS"]:
            for sentence in NORMAL_FINDINGS:
                draft.add("FINDINGS", sentence, "template:normal")
        if not any(label_sentence(t).get(NORMAL) is Mention.POSITIVE for t, _ in draft.lines["IMPRESSION"]):
            draft.add("IMPRESSION", NORMAL_IMPRESSION, "template:normal")

    # Pertinent negatives: critical findings looked for and not found, unless already said.
    missing = [label for label in sorted(CRITICAL & assessed_negative) if label not in draft.said(Mention.NEGATIVE)]
    if missing:
        phrases = [LEXICON[label].negative if label in LEXICON else display_name(label) for label in missing]
        draft.add("FINDINGS", f"No {_join(phrases)}.", "template:pertinent_negative")

    lines = [DEMO_MARKER] if is_demo else []
    provenance: list[dict] = []
    for section in ("FINDINGS", "IMPRESSION"):
        body = draft.lines[section]
        lines.append(f"{section}: " + " ".join(text for text, _ in body))
        provenance += [{"section": section, "text": text, "source": source} for text, source in body]
    return "\n".join(lines), provenance


def _states(text: str, label: str) -> bool:
    return label_sentence(text).get(label) is Mention.POSITIVE


def draft_labels(draft: _Draft, section: str) -> set[str]:
    """Labels the narrative of a section already states as present (the score line does not count:
    a finding should be described, not only listed)."""
    return {label for text, source in draft.lines[section] if source != SCORE_SOURCE
            for label, m in label_sentence(text).items() if m is Mention.POSITIVE}
