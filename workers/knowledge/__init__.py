"""The knowledge base: short passages per label, written for this project, shipped as YAML.

Each passage has an id, its labels (from shared.labels.VOCABULARY), a kind (definition,
appearance, differential, followup) and text. The files are package data, so an installed
wheel carries them (pyproject: [tool.setuptools.package-data] workers.knowledge = ["passages/*.yaml"]).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from shared.labels import VOCABULARY

PASSAGE_DIR = Path(__file__).resolve().parent / "passages"
KINDS = ("definition", "appearance", "differential", "followup")


class KnowledgeBaseError(ValueError):
    """A passage file is malformed: the index is never built from a half-valid knowledge base."""


@dataclass(frozen=True)
class Passage:
    passage_id: str
    labels: tuple[str, ...]
    kind: str
    text: str


def _validate(raw: object, where: str) -> Passage:
    if not isinstance(raw, dict):
        raise KnowledgeBaseError(f"{where}: a passage must be a mapping")
    passage_id, labels, kind, text = raw.get("id"), raw.get("labels"), raw.get("kind"), raw.get("text")
    if not isinstance(passage_id, str) or not passage_id.strip():
        raise KnowledgeBaseError(f"{where}: passage without an id")
    if not isinstance(labels, list) or not labels:
        raise KnowledgeBaseError(f"{where}: passage {passage_id} has no labels (every passage needs at least one)")
    unknown = [label for label in labels if label not in VOCABULARY]
    if unknown:
        raise KnowledgeBaseError(f"{where}: passage {passage_id} has labels outside the vocabulary: {unknown}")
    if kind not in KINDS:
        raise KnowledgeBaseError(f"{where}: passage {passage_id} has kind {kind!r}, expected one of {KINDS}")
    if not isinstance(text, str) or len(text.split()) < 5:
        raise KnowledgeBaseError(f"{where}: passage {passage_id} has no text")
    return Passage(passage_id=passage_id.strip(), labels=tuple(labels), kind=kind, text=" ".join(text.split()))


def load_passages(directory: Path = PASSAGE_DIR) -> list[Passage]:
    """Every passage, validated; ids are unique across files."""
    passages: list[Passage] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for index, raw in enumerate(document.get("passages", [])):
            passage = _validate(raw, f"{path.name}[{index}]")
            if passage.passage_id in seen:
                raise KnowledgeBaseError(f"{path.name}: duplicate passage id {passage.passage_id}")
            seen.add(passage.passage_id)
            passages.append(passage)
    if not passages:
        raise KnowledgeBaseError(f"no passages under {directory}")
    return passages


def knowledge_version(directory: Path = PASSAGE_DIR) -> str:
    """SHA-256 over the passage files: part of the index cache key, so an edit rebuilds the index."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.yaml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
