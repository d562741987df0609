"""The TF-IDF index over the IU train reports, built once per test session (about 7 s) and
shared by the retrieval and drafting tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def iu_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One folder per session, shared with tests/workers/drafting: the second get_retriever call
    # for it is a per-process cache hit.
    return tmp_path_factory.getbasetemp() / "iu-index"


@pytest.fixture(scope="session")
def iu_retriever(iu_index_dir: Path):
    from workers.retrieval import get_retriever

    return get_retriever(iu_index_dir, "tfidf")
