"""The knowledge base: every label covered, every passage labelled, malformed files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.labels import VOCABULARY, is_chest_finding
from workers.knowledge import KINDS, KnowledgeBaseError, knowledge_version, load_passages

REQUIRED = [label for label in VOCABULARY if is_chest_finding(label)] + ["Normal"]


def test_every_chest_label_has_each_kind_of_passage() -> None:
    passages = load_passages()
    for label in REQUIRED:
        kinds = {p.kind for p in passages if label in p.labels}
        assert kinds == set(KINDS), (label, kinds)


def test_passages_have_unique_ids_valid_labels_and_text() -> None:
    passages = load_passages()
    assert len({p.passage_id for p in passages}) == len(passages)
    for passage in passages:
        assert passage.labels and set(passage.labels) <= set(VOCABULARY)
        assert 10 <= len(passage.text.split()) <= 80, passage.passage_id


@pytest.mark.parametrize(("body", "problem"), [
    ("passages:\n  - {id: a, kind: definition, text: one two three four five six}\n", "no labels"),
    ("passages:\n  - {id: a, labels: [], kind: definition, text: one two three four five six}\n", "no labels"),
    ("passages:\n  - {id: a, labels: [Dragons], kind: definition, text: one two three four five six}\n", "outside"),
    ("passages:\n  - {id: a, labels: [Mass], kind: poem, text: one two three four five six}\n", "kind"),
    ("passages:\n  - {id: a, labels: [Mass], kind: definition, text: one two three four five six}\n"
     "  - {id: a, labels: [Mass], kind: followup, text: one two three four five six}\n", "duplicate"),
])
def test_malformed_passages_are_refused(tmp_path: Path, body: str, problem: str) -> None:
    (tmp_path / "kb.yaml").write_text(body)
    with pytest.raises(KnowledgeBaseError, match=problem):
        load_passages(tmp_path)


def test_the_version_changes_when_a_passage_changes(tmp_path: Path) -> None:
    body = "passages:\n  - {id: a, labels: [Mass], kind: definition, text: one two three four five six}\n"
    (tmp_path / "kb.yaml").write_text(body)
    before = knowledge_version(tmp_path)
    (tmp_path / "kb.yaml").write_text(body.replace("six", "seven"))
    assert knowledge_version(tmp_path) != before
