"""A negation-aware report labeller in the spirit of NIH NegBio and the CheXpert labeller.

It finds mentions of each label (workers/knowledge/lexicon.py) and decides, from cue words in
the same clause, whether each mention is asserted, negated or hedged. NegBio reads negation
scope off a dependency parse; here scope is approximated by clause boundaries, which is
enough for the short, formulaic sentences of chest radiograph reports and needs no model.

Per sentence and per report a label is POSITIVE > UNCERTAIN > NEGATIVE > ABSENT (the strongest
statement wins, as in CheXpert's aggregation).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum
from functools import lru_cache

from workers.knowledge.lexicon import LABELLED, LEXICON


class Mention(str, Enum):
    POSITIVE = "positive"
    UNCERTAIN = "uncertain"
    NEGATIVE = "negative"
    ABSENT = "absent"


_RANK = {Mention.POSITIVE: 3, Mention.UNCERTAIN: 2, Mention.NEGATIVE: 1, Mention.ABSENT: 0}

# A clause ends at these; a cue on one side never governs a mention on the other.
_HARD_BREAK = re.compile(
    r"[;:]|\b(?:but|however|although|though|whereas|except|otherwise|apart from|aside from|which|"
    r"with the exception of)\b|\band (?:there|the)\b"
)
# A comma (or "and"/"with") before a severity word or a new subject usually starts a new
# statement ("No effusion, mild cardiomegaly"), unless an "or" further on shows it is a list
# ("No consolidation, large effusion, or pneumothorax").
_SOFT_BREAK = re.compile(
    r"(?:,|\band\b|\bwith\b)\s+(?=(?:mild|mildly|moderate|moderately|severe|severely|small|large|minimal|trace|"
    r"marked|markedly|stable|new|increased|increasing|decreased|persistent|there|the|a|an|is|are|this)\b)"
)
_LIST_GOES_ON = re.compile(r"\b(?:or|nor)\b")
# "No change in the effusion" does not negate the effusion (NegBio's pseudo-negations).
_PSEUDO_NEGATION = re.compile(
    r"\b(?:no|without) (?:significant |interval |appreciable |definite )?(?:change|increase|decrease|worsening)\b|"
    r"\bnot (?:significantly )?(?:changed|increased|decreased)\b|\bnot only\b"
)
# Hedges that contain a negation word, so they are looked for before negation.
_HEDGED_NEGATION = re.compile(
    r"(?:cannot|can not|can't|could not|not) (?:be )?(?:entirely |completely |definitely )?(?:excluded|exclude|"
    r"ruled out|rule out)|\brule out\b|\br/o\b|difficult to exclude|to exclude"
)
_NEGATION_BEFORE = re.compile(
    r"\b(?:no|not|without|negative for|free of|clear of|absence of|absent|resolution of|resolved|removal of|"
    r"rather than|nor|neither|never|none)\b"
)
_NEGATION_AFTER = re.compile(
    r"^\W*(?:(?:is|are|was|were|has|have|had)\s+)?(?:(?:been|now)\s+)?(?:not\s+(?:seen|identified|present|visualized|"
    r"demonstrated|appreciated|evident|noted|detected|visible|apparent)|absent|resolved|cleared|no longer|removed)\b"
)
_NEGATION_INSIDE = re.compile(r"\b(?:no|not|without)\b")
_UNCERTAIN_BEFORE = re.compile(
    r"\b(?:may|might|could|possibl\w*|probabl\w*|likely|questionabl\w*|question of|suspect\w*|suspicious|"
    r"suggest\w*|concern\w* for|worrisome|differential|versus|vs|equivocal|indeterminate|"
    r"borderline|favou?r\w*|presumed|presumably|cannot exclude|query)\b|\?"
)
_UNCERTAIN_AFTER = re.compile(
    r"^[^.;]{0,40}?(?:\b(?:versus|vs|or less likely)\b|\?|\b(?:is|are) (?:suspected|questioned|possible|likely|"
    r"favou?red)\b|\b(?:may|might|could) (?:be|represent)\b|\bnot (?:entirely )?excluded\b)"
)
_LIST_NUMBER = re.compile(r"(?:(?<=\s)|^)\d{1,2}[.)]\s+(?=[A-Za-z])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])|\n+")
_SPACE = re.compile(r"\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of a report, list numbers ("1.", "2)") removed, empty pieces dropped."""
    text = _LIST_NUMBER.sub(" ", text or "")
    pieces = (_SPACE.sub(" ", piece).strip() for piece in _SENTENCE_END.split(text))
    return [piece for piece in pieces if re.search(r"[A-Za-z]", piece)]


@lru_cache(maxsize=1)
def _compiled() -> dict[str, tuple[re.Pattern[str], re.Pattern[str] | None, re.Pattern[str] | None,
                                   re.Pattern[str] | None]]:
    def join(patterns: Iterable[str]) -> re.Pattern[str] | None:
        patterns = tuple(patterns)
        return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    table = {}
    for label, terms in LEXICON.items():
        mention = join(terms.mention)
        assert mention is not None, label
        table[label] = (mention, join(terms.normal), join(terms.hedge), join(terms.exclude))
    return table


def _blank(text: str, pattern: re.Pattern[str] | None) -> str:
    """Overwrite matches with spaces, keeping offsets, so that excluded phrases never match."""
    if pattern is None:
        return text
    return pattern.sub(lambda m: " " * len(m.group()), text)


def _clause(breaks: list[tuple[int, int]], start: int, end: int) -> tuple[int, int]:
    left = max((b_end for b_start, b_end in breaks if b_end <= start), default=0)
    right = min((b_start for b_start, b_end in breaks if b_start >= end), default=None)
    return left, right if right is not None else 10**9


def _classify(text: str, cues: str, breaks: list[tuple[int, int]], start: int, end: int) -> Mention:
    left, right = _clause(breaks, start, end)
    before, inside, after = cues[left:start], cues[start:end], cues[end:right]
    if _HEDGED_NEGATION.search(before) or _HEDGED_NEGATION.search(after[:60]):
        return Mention.UNCERTAIN
    if _NEGATION_INSIDE.search(inside) or _NEGATION_BEFORE.search(before) or _NEGATION_AFTER.search(after):
        return Mention.NEGATIVE
    if _UNCERTAIN_BEFORE.search(before) or _UNCERTAIN_AFTER.search(after):
        return Mention.UNCERTAIN
    return Mention.POSITIVE


def label_sentence(sentence: str) -> dict[str, Mention]:
    """The labels one sentence speaks about, each with what it says (absent labels left out)."""
    text = _SPACE.sub(" ", sentence.lower())
    cues = _blank(text, _PSEUDO_NEGATION)
    breaks = [m.span() for m in _HARD_BREAK.finditer(text)]
    for soft in _SOFT_BREAK.finditer(text):
        hard_after = min((start for start, _ in breaks if start >= soft.end()), default=len(text))
        if not _LIST_GOES_ON.search(text, soft.end(), hard_after):
            breaks.append(soft.span())
    found: dict[str, Mention] = {}

    def note(label: str, status: Mention) -> None:
        if _RANK[status] > _RANK[found.get(label, Mention.ABSENT)]:
            found[label] = status

    for label, (mention, normal, hedge, exclude) in _compiled().items():
        view = _blank(text, exclude)
        if label == "Normal":
            # "No acute cardiopulmonary abnormality" carries its own negation: it asserts normal.
            if mention.search(view):
                note(label, Mention.POSITIVE)
            continue
        for match in mention.finditer(view):
            note(label, _classify(text, cues, breaks, match.start(), match.end()))
        if hedge is not None and hedge.search(view):
            note(label, Mention.UNCERTAIN)
        if normal is not None and normal.search(view):
            note(label, Mention.NEGATIVE)
    return found


def merge(statuses: Iterable[dict[str, Mention]]) -> dict[str, Mention]:
    merged: dict[str, Mention] = {}
    for status in statuses:
        for label, mention in status.items():
            if _RANK[mention] > _RANK[merged.get(label, Mention.ABSENT)]:
                merged[label] = mention
    return merged


def label_report(text: str) -> dict[str, Mention]:
    """Every labelled label with what the whole text says about it (ABSENT where silent)."""
    merged = merge(label_sentence(sentence) for sentence in split_sentences(text))
    return {label: merged.get(label, Mention.ABSENT) for label in LABELLED}


def asserted(statuses: dict[str, Mention], *, uncertain_is_positive: bool = False) -> set[str]:
    """Labels stated as present (optionally counting hedged ones too)."""
    wanted = {Mention.POSITIVE, Mention.UNCERTAIN} if uncertain_is_positive else {Mention.POSITIVE}
    return {label for label, status in statuses.items() if status in wanted}
