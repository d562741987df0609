"""Sending a study down the classify -> retrieve -> generate chain.

Callers enqueue only after the transaction that made the study visible has committed, so a
worker can never pick up an id whose row it cannot read yet.
"""

from __future__ import annotations

import logging

from celery import chain

from shared.celery_app import celery_app, ensure_broker_folders
from shared.config import get_settings
from shared.queues import STAGES

logger = logging.getLogger(__name__)


def enqueue_from_stage(study_id: str, stage_index: int = 0) -> None:
    """Send the chain starting at `stage_index` (0 = classify). Raises if the broker refuses."""
    ensure_broker_folders(get_settings())
    signatures = []
    for position, (task, queue, _) in enumerate(STAGES[stage_index:]):
        # The first task gets the id; each later one receives it as its predecessor's result.
        args = (study_id,) if position == 0 else ()
        signatures.append(celery_app.signature(task.value, args=args, queue=queue.value, immutable=False))
    # Bounded retries: a broker outage must not hang the request that submitted the study.
    chain(*signatures).apply_async(
        retry=True, retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
    )
    logger.info("study %s enqueued from stage %s", study_id, STAGES[stage_index][0].value)


def try_enqueue(study_id: str, stage_index: int = 0) -> bool:
    """Enqueue, but never fail the caller: the study is already committed, and the sweeper
    re-sends any study that sits in a pipeline status past its deadline."""
    try:
        enqueue_from_stage(study_id, stage_index)
        return True
    except Exception:  # the broker's own errors vary by transport (kombu, redis, OS errors)
        logger.exception("could not enqueue study %s; the sweeper will retry it", study_id)
        return False
