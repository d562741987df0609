"""Classify stage: per-image multi-label findings from the configured model.

Works on a batch of studies (one forward pass for all their images); a single study is a batch
of one. Each study is claimed, written and moved in its own transactions, so a bad image fails
only its own study and a redelivered study is skipped or re-scored without duplicates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from shared.config import get_settings
from shared.db import session_scope
from shared.ingest import IngestError, decode_png8
from shared.models import Finding, HeatMap
from shared.status import StudyStatus
from shared.storage import BlobNotFound, default_store
from shared.studies import mark_failed, transition
from workers import runtime
from workers.evaluation.thresholds import threshold_function
from workers.models.base import Classifier, ModelInfo
from workers.stages import heatmaps
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
    pixels: list[np.ndarray] = field(default_factory=list)
    tensors: list[torch.Tensor] = field(default_factory=list)


def run(study_id: str) -> list[str]:
    return run_batch([study_id])


def run_batch(study_ids: list[str]) -> list[str]:
    """Classify every study in `study_ids` that still owes this stage; return the ids done."""
    classifier = runtime.get_classifier()
    started = time.perf_counter()
    # Each study's images decode and preprocess in threads as soon as it is claimed: PIL's
    # decoder and torch's resize release the GIL, so this overlaps the remaining claims.
    pending: list[Future[Job | None]] = []
    _claim_all(sorted(set(study_ids)), lambda job: pending.append(_decoder.submit(_prepare, job, classifier)))
    ready = [job for job in (future.result() for future in pending) if job is not None]
    if not ready:
        return []
    settings = get_settings()
    batch = torch.stack([tensor for job in ready for tensor in job.tensors])
    # Calibrated thresholds apply only to the weights they were calibrated for.
    threshold_for = threshold_function(settings, classifier.info.weights_sha256)
    if settings.heatmaps:
        pixels = [image for job in ready for image in job.pixels]
        scores, maps = heatmaps.score_and_map(classifier, batch, pixels, threshold_for, default_store(),
                                              settings.gradcam_layer)
    else:
        scores = classifier.forward_batch(batch)
        maps = [[] for _ in scores]
    compute_ms = round((time.perf_counter() - started) * 1000, 1)
    done = []
    offset = 0
    # One transaction for the whole batch: a commit (an fsync) per study would cost more than
    # the batching saves. Results of a study are still all-or-nothing, and a rerun replaces them.
    with session_scope() as session:
        for job in ready:
            span = slice(offset, offset + len(job.tensors))
            offset += len(job.tensors)
            if _write(session, job, scores[span], maps[span], classifier.info, threshold_for, compute_ms, len(ready)):
                done.append(job.study_id)
    return done


def _claim_all(study_ids: list[str], on_claimed: Callable[[Job], object]) -> None:
    """Claim, in one transaction and in id order (no lock-order deadlocks between workers),
    every study that still owes this stage, handing each to `on_claimed`."""
    with session_scope() as session:
        for study_id in study_ids:
            study = claim(session, study_id, OWNED)
            if study is None:
                continue
            if study.status == StudyStatus.QUEUED:
                transition(session, study, StudyStatus.CLASSIFYING, actor=ACTOR)
            on_claimed(Job(study_id, [i.id for i in study.images], [i.pixels_sha256 for i in study.images]))


def _prepare(job: Job, classifier: Classifier) -> Job | None:
    store = default_store()
    try:
        job.pixels = [decode_png8(store.get(digest)) for digest in job.digests]
        job.tensors = [classifier.preprocess(image) for image in job.pixels]
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


def _write(session: Session, job: Job, scores: list[dict[str, float]], maps: list[list[heatmaps.StoredMap]],
           info: ModelInfo, threshold_for: Callable[[str], float], compute_ms: float, batch_size: int) -> bool:
    study = claim(session, job.study_id, frozenset({StudyStatus.CLASSIFYING}))
    if study is None:
        return False
    # A redelivered task replaces the earlier attempt's findings: one result set per study.
    session.execute(delete(Finding).where(Finding.study_id == job.study_id))
    session.execute(delete(HeatMap).where(HeatMap.study_id == job.study_id))
    positives: set[str] = set()
    finding_rows, map_rows = [], []
    for image_id, per_image, image_maps in zip(job.image_ids, scores, maps, strict=True):
        map_rows += [{"study_id": job.study_id, "image_id": image_id, "label": stored.label,
                      "method": heatmaps.METHOD, "overlay_sha256": stored.overlay_sha256,
                      "array_sha256": stored.array_sha256} for stored in image_maps]
        for label, probability in per_image.items():
            threshold = threshold_for(label)
            positive = probability >= threshold
            if positive:
                positives.add(label)
            finding_rows.append({
                "study_id": job.study_id, "image_id": image_id, "label": label, "probability": float(probability),
                "threshold": threshold, "positive": positive, "model_id": info.model_id,
                "model_version": info.version, "weights_sha256": info.weights_sha256, "is_demo": info.is_demo,
            })
    # Core executemany, not one ORM object per row: ~20 findings an image would otherwise cost
    # the classify worker more than a tenth of its forward pass in unit-of-work bookkeeping.
    session.execute(insert(Finding), finding_rows)
    if map_rows:
        session.execute(insert(HeatMap), map_rows)
    transition(session, study, StudyStatus.RETRIEVING, actor=ACTOR, action="stage.classified", details={
        "model_id": info.model_id, "model_version": info.version, "weights_sha256": info.weights_sha256,
        "is_demo": info.is_demo, "images": len(job.image_ids), "positive": sorted(positives),
        "thresholds": {label: threshold_for(label) for label in sorted(positives)},
        # Decode, forward pass and heat maps of the whole batch this study was part of.
        "compute_ms": compute_ms, "batch_size": batch_size,
    })
    return True
