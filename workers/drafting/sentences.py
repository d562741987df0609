"""Sentences of retrieved reports as composer candidates, and the rules for reusing one.

A sentence written about another patient may go into a draft only if the labeller finds that
it asserts nothing that is not positive, denies nothing that is, and it mentions no history
("stable", "prior") and no finding outside the vocabulary ("degenerative change"), which the
classifier cannot vouch for.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workers.knowledge.labeller import Mention, label_sentence, split_sentences

if TYPE_CHECKING:  # only attributes are read; no import cycle with the retrieval package
    from workers.retrieval import EvidenceHit

NORMAL = "Normal"

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
# The classifier says nothing about side or position, so a sentence that does is a last resort.
_LOCATION = re.compile(
    r"\b(?:right|left|bilateral\w*|bibasilar|basilar|bases?|apex|apical|upper|lower|middle|lingula\w*|"
    r"retrocardiac|perihilar|lobe|lateral|anterior|posterior|medial)\b"
)
# Nor does it grade severity or size: "small", "large" and the like would be invented detail.
_SEVERITY = re.compile(
    r"\b(?:small|tiny|minimal|mild\w*|moderate\w*|large|severe|massive|trace|subtle|slight\w*|marked\w*|"
    r"extensive|significant\w*|prominent|borderline|\d+(?:\.\d+)?\s*(?:cm|mm))\b"
)
_NORMAL_CUE = re.compile(r"\b(?:no|normal|clear|unremarkable|within normal limits|intact|negative|without)\b")
_SECTION = re.compile(r"\b(FINDINGS|IMPRESSION):\s*")


@dataclass(frozen=True)
class Candidate:
    section: str
    text: str
    source: str
    asserted: frozenset[str]     # labels stated present or possible
    stated: frozenset[str]       # labels stated present (not hedged)
    negated: frozenset[str]
    normal_claim: bool           # "No acute cardiopulmonary abnormality"

    @property
    def localised(self) -> bool:
        return bool(_LOCATION.search(self.text.lower()))

    @property
    def graded(self) -> bool:
        return bool(_SEVERITY.search(self.text.lower()))


def sections(text: str) -> list[tuple[str, str]]:
    """("FINDINGS", body), ("IMPRESSION", body) from an evidence text; unheaded text is FINDINGS."""
    parts = _SECTION.split(text)
    if len(parts) == 1:
        return [("FINDINGS", text)]
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def candidate(section: str, text: str, source: str) -> Candidate:
    status = label_sentence(text)
    return Candidate(
        section, text, source,
        frozenset(lb for lb, m in status.items() if lb != NORMAL and m in (Mention.POSITIVE, Mention.UNCERTAIN)),
        frozenset(lb for lb, m in status.items() if lb != NORMAL and m is Mention.POSITIVE),
        frozenset(lb for lb, m in status.items() if m is Mention.NEGATIVE),
        status.get(NORMAL) is Mention.POSITIVE,
    )


def candidates(hit: EvidenceHit) -> list[Candidate]:
    return [candidate(section, sentence, hit.source_id)
            for section, body in sections(hit.text) for sentence in split_sentences(body)]


def usable(c: Candidate, allowed: frozenset[str]) -> bool:
    """May this sentence go into a draft whose positive (and implied) findings are `allowed`?"""
    lower = c.text.lower()
    if _HISTORY.search(lower) or _OUT_OF_VOCABULARY.search(lower) or len(lower.split()) > 30:
        return False
    if c.asserted - allowed or c.negated & allowed or (c.normal_claim and allowed):
        return False
    # A sentence naming nothing must at least be a normal statement ("The lungs are clear"),
    # not an unlabelled observation the labeller cannot read.
    return bool(c.asserted) or bool(c.negated) or c.normal_claim or bool(_NORMAL_CUE.search(lower))


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+|\.", text.lower().replace("xxxx", ""))


def overlap(hypothesis: list[str], reference: list[str]) -> float:
    """Smoothed sentence BLEU-4 (add-one on n-gram counts, with the brevity penalty)."""
    if not hypothesis or not reference:
        return 0.0
    log_sum = 0.0
    for n in range(1, 5):
        hyp = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
        ref = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
        matched = sum(min(count, ref[gram]) for gram, count in hyp.items())
        log_sum += math.log((matched + 1) / (sum(hyp.values()) + 1))
    return math.exp(log_sum / 4 + min(0.0, 1 - len(reference) / len(hypothesis)))


def most_typical(options: Sequence[Candidate]) -> Candidate:
    """The option that agrees most with the others (minimum-Bayes-risk selection): the phrasing
    most radiologists used for this finding in the retrieved reports, not an outlier. Ties go to
    the earlier (better-ranked) option."""
    if len(options) == 1:
        return options[0]
    token_lists = [tokens(o.text) for o in options]

    def expected(i: int) -> float:
        return sum(overlap(token_lists[i], other) for j, other in enumerate(token_lists) if j != i)

    return options[max(range(len(options)), key=lambda i: (expected(i), -i))]
