"""Classify stage: per-image multi-label findings from the configured model.

Works on a batch of studies (one forward pass for all their images); a single study is a batch
of one. Each study is claimed, written and moved in its own transactions, so a bad image fails
only its own study and a redelivered study is skipped or re-scored without duplicates.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
from sqlalchemy import delete

from shared.config import get_settings
from shared.db import session_scope
from shared.ingest import IngestError, decode_png8
from shared.models import Finding
from shared.status import StudyStatus
from shared.storage import BlobNotFound, default_store
from shared.studies import mark_failed, transition
from workers import runtime
from workers.stages.common import claim

logger = logging.getLogger(__name__)

ACTOR = "worker:classify"
OWNED = frozenset({StudyStatus.QUEUED, StudyStatus.CLASSIFYING})
_decoder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")


@dataclass
class Job:
    study_id: str
    image_ids: list[str]
    digests: list[str]
    tensors: list[torch.Tensor] = field(default_factory=list)


def run(study_id: str) -> list[str]:
    return run_batch([study_id])


def run_batch(study_ids: list[str]) -> list[str]:
    """Classify every study in `study_ids` that still owes this stage; return the ids done."""
    jobs = [job for job in map(_claim, dict.fromkeys(study_ids)) if job is not None]
    if not jobs:
        return []
    classifier = runtime.get_classifier()
    # Decode and preprocess in threads: PIL and torch's resize release the GIL, so this
    # overlaps with itself and keeps the forward pass fed.
    ready = [job for job in _decoder.map(lambda j: _prepare(j, classifier), jobs) if job is not None]
    if not ready:
        return []
    batch = torch.stack([tensor for job in ready for tensor in job.tensors])
    scores = classifier.forward_batch(batch)
    done = []
    offset = 0
    for job in ready:
        per_image = scores[offset:offset + len(job.tensors)]
        offset += len(job.tensors)
        if _write(job, per_image, classifier.info):
            done.append(job.study_id)
    return done


def _claim(study_id: str) -> Job | None:
    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return None
        if study.status == StudyStatus.QUEUED:
            transition(session, study, StudyStatus.CLASSIFYING, actor=ACTOR)
        return Job(study_id, [i.id for i in study.images], [i.pixels_sha256 for i in study.images])


def _prepare(job: Job, classifier) -> Job | None:  # type: ignore[no-untyped-def]
    store = default_store()
    try:
        job.tensors = [classifier.preprocess(decode_png8(store.get(digest))) for digest in job.digests]
    except (BlobNotFound, IngestError, ValueError) as exc:
        # Only this study fails; the rest of the batch goes on.
        logger.warning("study %s: image unusable (%s)", job.study_id, type(exc).__name__)
        with session_scope() as session:
            mark_failed(session, job.study_id, actor=ACTOR, reason=f"image unusable: {type(exc).__name__}: {exc}")
        return None
    if not job.tensors:
        with session_scope() as session:
            mark_failed(session, job.study_id, actor=ACTOR, reason="study has no images")
        return None
    return job


def _write(job: Job, scores: list[dict[str, float]], info) -> bool:  # type: ignore[no-untyped-def]
    settings = get_settings()
    with session_scope() as session:
        study = claim(session, job.study_id, frozenset({StudyStatus.CLASSIFYING}))
        if study is None:
            return False
        # A redelivered task replaces the earlier attempt's findings: one result set per study.
        session.execute(delete(Finding).where(Finding.study_id == job.study_id))
        positives: set[str] = set()
        for image_id, per_image in zip(job.image_ids, scores, strict=True):
            for label, probability in per_image.items():
                threshold = settings.threshold_for(label)
                positive = probability >= threshold
                if positive:
                    positives.add(label)
                session.add(Finding(
                    study_id=job.study_id, image_id=image_id, label=label, probability=float(probability),
                    threshold=threshold, positive=positive, model_id=info.model_id,
                    model_version=info.version, weights_sha256=info.weights_sha256, is_demo=info.is_demo,
                ))
        transition(session, study, StudyStatus.RETRIEVING, actor=ACTOR, action="stage.classified", details={
            "model_id": info.model_id, "model_version": info.version, "weights_sha256": info.weights_sha256,
            "is_demo": info.is_demo, "images": len(job.image_ids), "positive": sorted(positives),
            "thresholds": {label: settings.threshold_for(label) for label in sorted(positives)},
        })
    return True
