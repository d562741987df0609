"""Retrieve stage: evidence passages and similar prior reports for the positive findings."""

from __future__ import annotations

import time

from sqlalchemy import delete

from shared.config import get_settings
from shared.db import session_scope
from shared.findings import pertinent_negatives, positive_labels
from shared.models import Evidence
from shared.status import StudyStatus
from shared.studies import transition
from workers import runtime
from workers.stages.common import claim

ACTOR = "worker:retrieve"
OWNED = frozenset({StudyStatus.RETRIEVING})


def run(study_id: str) -> None:
    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return
        positive = positive_labels(study.findings)
        negative = pertinent_negatives(study.findings)

    started = time.perf_counter()
    hits = runtime.get_retriever().search(positive, negative, get_settings().retrieval_top_k)
    compute_ms = round((time.perf_counter() - started) * 1000, 2)

    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return
        session.execute(delete(Evidence).where(Evidence.study_id == study_id))
        seen: set[tuple[str, str]] = set()
        for rank, hit in enumerate(hits):
            if (hit.kind, hit.source_id) in seen:
                continue
            seen.add((hit.kind, hit.source_id))
            session.add(Evidence(
                study_id=study_id, kind=hit.kind, source_id=hit.source_id, labels=list(hit.labels),
                text=hit.text, score=float(hit.score), rank=rank, retriever=hit.retriever,
            ))
        transition(session, study, StudyStatus.DRAFTING, actor=ACTOR, action="stage.retrieved", details={
            "query_positive": positive, "query_negative": negative, "hits": len(seen), "compute_ms": compute_ms,
        })
