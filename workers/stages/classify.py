"""Classify stage: per-image multi-label findings from the configured model."""

from __future__ import annotations

import logging

from sqlalchemy import delete

from shared.config import get_settings
from shared.db import session_scope
from shared.ingest import decode_png8
from shared.models import Finding
from shared.status import StudyStatus
from shared.storage import default_store
from shared.studies import transition
from workers import runtime
from workers.stages.common import claim

logger = logging.getLogger(__name__)

ACTOR = "worker:classify"
OWNED = frozenset({StudyStatus.QUEUED, StudyStatus.CLASSIFYING})


def run(study_id: str) -> None:
    settings = get_settings()
    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return
        if study.status == StudyStatus.QUEUED:
            transition(session, study, StudyStatus.CLASSIFYING, actor=ACTOR)
        images = [(image.id, image.pixels_sha256) for image in study.images]

    # The model runs outside any transaction: no lock is held during the slow part.
    store = default_store()
    pixels = [decode_png8(store.get(digest)) for _, digest in images]
    classifier = runtime.get_classifier()
    scores = classifier.predict(pixels)
    info = classifier.info

    with session_scope() as session:
        study = claim(session, study_id, frozenset({StudyStatus.CLASSIFYING}))
        if study is None:
            return
        # A redelivered task replaces the earlier attempt's findings: one result set per study.
        session.execute(delete(Finding).where(Finding.study_id == study_id))
        positives: set[str] = set()
        for (image_id, _), per_image in zip(images, scores, strict=True):
            for label, probability in per_image.items():
                threshold = settings.threshold_for(label)
                positive = probability >= threshold
                if positive:
                    positives.add(label)
                session.add(Finding(
                    study_id=study_id, image_id=image_id, label=label, probability=float(probability),
                    threshold=threshold, positive=positive, model_id=info.model_id,
                    model_version=info.version, weights_sha256=info.weights_sha256, is_demo=info.is_demo,
                ))
        transition(session, study, StudyStatus.RETRIEVING, actor=ACTOR, action="stage.classified", details={
            "model_id": info.model_id, "model_version": info.version, "weights_sha256": info.weights_sha256,
            "is_demo": info.is_demo, "images": len(images), "positive": sorted(positives),
        })
