"""Per-process singletons: the classifier and the retriever are loaded once per worker process,
after the fork, on first use; never at import time (a forked pool must not share a model or a
CUDA context with its parent)."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

from shared.config import get_settings

if TYPE_CHECKING:
    from workers.models.base import Classifier
    from workers.retrieval import Retriever

logger = logging.getLogger(__name__)

_cache: dict[tuple[int, str], Any] = {}


def _cached(key: str, build: Any, on_loaded: Any = None) -> Any:
    slot = (os.getpid(), key)
    if slot not in _cache:
        started = time.perf_counter()
        _cache[slot] = build()
        elapsed = time.perf_counter() - started
        logger.info("loaded %s in %.2f s", key, elapsed)
        if on_loaded is not None:
            on_loaded(elapsed)
    return _cache[slot]


def get_classifier() -> Classifier:
    from workers.models.registry import load_classifier

    import torch

    from shared.metrics import MODEL_LOAD_SECONDS
    from workers.models.fastpath import apply_fast_path

    settings = get_settings()
    # The worker's CPU share (affinity mask, e.g. a container's cpuset), not the host's cores.
    torch.set_num_threads(settings.torch_threads or max(1, len(os.sched_getaffinity(0))))

    def build() -> Classifier:
        classifier = load_classifier(settings.model, weights_dir=settings.resolved_weights_dir,
                                     device=settings.device, expected_sha256=settings.model_sha256)
        return apply_fast_path(classifier, precision=settings.precision, channels_last=settings.channels_last,
                               compile_model=settings.torch_compile)

    return _cached(f"classifier:{settings.model}", build, on_loaded=MODEL_LOAD_SECONDS.labels(settings.model).set)


def get_retriever() -> Retriever:
    from workers.retrieval import get_retriever as build_retriever

    settings = get_settings()
    return _cached("retriever", lambda: build_retriever(settings.resolved_index_dir))


def clear() -> None:
    _cache.clear()
