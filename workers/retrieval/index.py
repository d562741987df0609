"""The retriever: two corpora (IU train reports, knowledge passages), one index each, cached on
disk by corpus version and loaded once per process."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from workers.knowledge import Passage, knowledge_version, load_passages
from workers.knowledge.labeller import Mention, label_sentence, split_sentences
from workers.retrieval.backends import HybridRanker, Ranker, make_ranker
from workers.retrieval.corpus import SPLIT_VERSION, PriorReport, file_sha256, iu_reports_path, load_iu_reports, train_reports
from workers.retrieval.query import Query, build_query, label_token

logger = logging.getLogger(__name__)

# Bump to invalidate every cache by hand; code_version() already follows the source files.
INDEX_CODE_VERSION = "3"
# The index stores what these modules compute (document text, sentence labels, fitted rankers):
# any change to them must rebuild it.
_INDEXED_CODE = ("workers/retrieval/index.py", "workers/retrieval/backends.py", "workers/retrieval/query.py",
                 "workers/retrieval/corpus.py", "workers/retrieval/mesh.py", "workers/knowledge/lexicon.py",
                 "workers/knowledge/labeller.py")
# Label-aware re-ranking: reward reports whose MeSH labels match the request, penalise reports
# that assert a finding the classifier ruled out.
LABEL_MATCH_WEIGHT = 0.5
RULED_OUT_PENALTY = 0.5

_lock = threading.Lock()
_loaded: dict[tuple[str, str], "Retriever"] = {}


@dataclass(frozen=True)
class EvidenceHit:
    kind: str              # "prior_report" | "knowledge"
    source_id: str         # IU report id ("CXR1234") or knowledge passage id ("kb-effusion-appearance")
    text: str              # prior report: "FINDINGS: ... IMPRESSION: ...", ruled-out sentences removed
    labels: tuple[str, ...]
    score: float
    retriever: str         # ranker name and version, e.g. "tfidf-v1"


@dataclass(frozen=True)
class _Sentence:
    section: str                    # "FINDINGS" | "IMPRESSION"
    text: str
    asserted: frozenset[str]        # labels stated as present or possible


def _sentences(report: PriorReport) -> tuple[_Sentence, ...]:
    out = []
    for section, body in (("FINDINGS", report.findings), ("IMPRESSION", report.impression)):
        for sentence in split_sentences(body):
            status = label_sentence(sentence)
            out.append(_Sentence(section, sentence, frozenset(
                label for label, mention in status.items() if mention in (Mention.POSITIVE, Mention.UNCERTAIN))))
    return tuple(out)


def _report_document(report: PriorReport, sentences: tuple[_Sentence, ...]) -> str:
    negated = {label for s in sentences for label, m in label_sentence(s.text).items() if m is Mention.NEGATIVE}
    tokens = [label_token(label) for label in sorted(report.labels)]
    tokens += [label_token(label, negated=True) for label in sorted(negated - report.labels)]
    return f"{report.text} {' '.join(tokens)}"


def _passage_document(passage: Passage) -> str:
    return f"{passage.text} {' '.join(label_token(label) for label in passage.labels)}"


class Retriever:
    def __init__(self, reports: Sequence[PriorReport], passages: Sequence[Passage], backend: str = "tfidf") -> None:
        self.backend = backend
        self.reports = list(reports)
        self.passages = list(passages)
        self.sentences = [_sentences(report) for report in self.reports]
        self.report_ranker: Ranker = make_ranker(backend, [_report_document(r, s) for r, s in zip(self.reports, self.sentences)])
        self.passage_ranker: Ranker = make_ranker(backend, [_passage_document(p) for p in self.passages])

    @property
    def name(self) -> str:
        return self.report_ranker.name

    def _ranked(self, ranker: Ranker, query: Query, labels: Sequence[frozenset[str]]) -> np.ndarray:
        target, ruled_out = query.target_labels, set(query.negative)
        bonus = np.array([len(target & doc) / len(target | doc) if doc else 0.0 for doc in labels])
        penalty = np.array([len(ruled_out & doc) for doc in labels], dtype=np.float64)

        def adjust(raw: np.ndarray) -> np.ndarray:
            return raw + LABEL_MATCH_WEIGHT * bonus - RULED_OUT_PENALTY * penalty

        if isinstance(ranker, HybridRanker):
            return HybridRanker.fuse(adjust(ranker.sparse.scores(query)), adjust(ranker.dense.scores(query)))
        return adjust(ranker.scores(query))

    def search_reports(self, query: Query, top_k: int) -> list[EvidenceHit]:
        scores = self._ranked(self.report_ranker, query, [r.labels for r in self.reports])
        ruled_out = set(query.negative)
        hits = []
        for index in np.argsort(-scores, kind="stable")[: max(top_k, 0)]:
            report = self.reports[index]
            kept = [s for s in self.sentences[index] if not (s.asserted & ruled_out)]
            sections = [f"{name}: {' '.join(s.text for s in kept if s.section == name)}"
                        for name in ("FINDINGS", "IMPRESSION") if any(s.section == name for s in kept)]
            hits.append(EvidenceHit("prior_report", report.report_id, " ".join(sections),
                                    tuple(sorted(report.labels)), float(scores[index]), self.name))
        return hits

    def search_knowledge(self, query: Query, per_label: int) -> list[EvidenceHit]:
        labels = [frozenset(p.labels) for p in self.passages]
        scores = self._ranked(self.passage_ranker, query, labels)
        order = np.argsort(-scores, kind="stable")
        hits: list[EvidenceHit] = []
        seen: set[str] = set()
        # Passages are only ever about a requested label: a strong text match to another label
        # would be evidence for a finding nobody asked about.
        for label in query.positive or ("Normal",):
            taken = 0
            for index in order:
                passage = self.passages[index]
                if taken >= per_label or label not in passage.labels:
                    continue
                taken += 1
                if passage.passage_id not in seen:
                    seen.add(passage.passage_id)
                    hits.append(EvidenceHit("knowledge", passage.passage_id, passage.text, passage.labels,
                                            float(scores[index]), self.name))
        return hits

    def search(self, positive: Sequence[str], negative: Sequence[str], top_k: int,
               *, knowledge_per_label: int = 2) -> list[EvidenceHit]:
        """Top-k similar prior reports, then up to `knowledge_per_label` passages per positive
        label (per "Normal" when nothing is positive). Unknown labels map to Other and are ignored."""
        query = build_query(positive, negative)
        return self.search_reports(query, top_k) + self.search_knowledge(query, knowledge_per_label)


def code_version() -> str:
    root = Path(__file__).resolve().parents[2]
    return hashlib.sha256(b"".join((root / name).read_bytes() for name in _INDEXED_CODE)).hexdigest()


def corpus_version(backend: str) -> str:
    """What the cached index was built from: the IU archive, the knowledge base, the split, the
    indexing code and the backend. Any change gives a new key, hence a new index file."""
    parts = [file_sha256(iu_reports_path()), knowledge_version(), SPLIT_VERSION, INDEX_CODE_VERSION,
             code_version(), backend]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _load_cached(path: Path, key: str) -> Retriever | None:
    if not path.is_file():
        return None
    try:
        payload: Any = joblib.load(path)
        if isinstance(payload, dict) and payload.get("key") == key and isinstance(payload.get("retriever"), Retriever):
            return payload["retriever"]
        logger.warning("index cache %s does not match this corpus version: rebuilding", path)
    except Exception as exc:  # any unreadable cache (truncated, foreign, corrupt) is rebuilt, never trusted
        logger.warning("index cache %s is unreadable (%s: %s): rebuilding", path, type(exc).__name__, exc)
    return None


def _save(path: Path, key: str, retriever: Retriever) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename: workers starting together never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        joblib.dump({"key": key, "retriever": retriever}, tmp, compress=3)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; worker users must be able to read it
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def index_path(index_dir: Path, backend: str) -> Path:
    return Path(index_dir) / f"retriever-{backend}-{corpus_version(backend)[:16]}.joblib"


def build_index(index_dir: Path, backend: str = "tfidf") -> Retriever:
    """Load the cached index for this corpus version, or build and cache it."""
    key = corpus_version(backend)
    path = index_path(index_dir, backend)
    retriever = _load_cached(path, key)
    if retriever is None:
        retriever = Retriever(train_reports(load_iu_reports()), load_passages(), backend)
        _save(path, key, retriever)
        # Indexes of older corpus or code versions are never read again.
        for stale in path.parent.glob(f"retriever-{backend}-*.joblib"):
            if stale != path:
                stale.unlink(missing_ok=True)
        logger.info("built %s index over %d reports and %d passages at %s",
                    backend, len(retriever.reports), len(retriever.passages), path)
    return retriever


def get_retriever(index_dir: Path, backend: str | None = None) -> Retriever:
    """The process-wide retriever for (index_dir, backend): built once, then reused. The backend
    defaults to the `retrieval_backend` setting, "tfidf" when unset."""
    if backend is None:
        from shared.config import get_settings

        backend = get_settings().retrieval_backend
    slot = (str(Path(index_dir).resolve()), backend)
    with _lock:
        if slot not in _loaded:
            _loaded[slot] = build_index(Path(index_dir), backend)
        return _loaded[slot]
