"""Turn the classifier's findings into retrieval queries.

The sparse index sees each report's words plus label tokens ("lbl_cardiomegaly" for a MeSH
label, "neg_pneumothorax" for a finding the report rules out), so a query for "cardiomegaly,
no pneumothorax" matches reports that say so and not reports that merely use the word.
The dense index gets the same request as a plain-English sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.labels import OTHER, canonical_label, display_name, is_chest_finding
from workers.knowledge.lexicon import LEXICON

NORMAL = "Normal"
# Label tokens count as much as several words: the label is the most reliable signal we have.
LABEL_TOKEN_WEIGHT = 3


def label_token(label: str, *, negated: bool = False) -> str:
    return ("neg_" if negated else "lbl_") + re.sub(r"[^a-z0-9]", "", label.lower())


@dataclass(frozen=True)
class Query:
    positive: tuple[str, ...]      # canonical chest labels asserted, strongest first
    negative: tuple[str, ...]      # canonical labels ruled out
    sparse_text: str
    dense_text: str

    @property
    def target_labels(self) -> frozenset[str]:
        """The label set a perfect match would carry: the positives, or Normal when none."""
        return frozenset(self.positive) if self.positive else frozenset({NORMAL})


def canonical_labels(labels: Iterable[str]) -> tuple[str, ...]:
    """Canonical, de-duplicated, order kept; unknown names become OTHER (logged) and are dropped."""
    out: list[str] = []
    for name in labels:
        label = canonical_label(name)
        if label != OTHER and label not in out:
            out.append(label)
    return tuple(out)


def build_query(positive: Sequence[str], negative: Sequence[str]) -> Query:
    pos = tuple(label for label in canonical_labels(positive) if is_chest_finding(label))
    neg = tuple(label for label in canonical_labels(negative) if label not in pos and label != NORMAL)
    words: list[str] = []
    for label in pos or (NORMAL,):
        words += [label_token(label)] * LABEL_TOKEN_WEIGHT
        words.append(display_name(label))
        terms = LEXICON.get(label)
        words += list(terms.query) if terms else []
    for label in neg:
        words += [label_token(label, negated=True), "no", display_name(label)]
    if pos:
        dense = "Findings: " + ", ".join(display_name(label) for label in pos) + "."
    else:
        dense = "The heart and lungs are normal. No acute cardiopulmonary abnormality."
    if neg:
        dense += " No " + ", no ".join(display_name(label) for label in neg) + "."
    return Query(positive=pos, negative=neg, sparse_text=" ".join(words), dense_text=dense)
