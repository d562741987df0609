"""Celery tasks: thin adapters that take a study id and call the stage services.

Each returns the study id, which Celery's chain hands to the next stage as its argument.
Transient database errors are retried with back-off; anything else fails the study, with the
reason on the audit trail, and stops the chain (Celery records the task as failed, not done).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery_batches import Batches
from sqlalchemy.exc import DBAPIError, OperationalError

from shared import callbacks
from shared.celery_app import celery_app
from shared.config import get_settings
from shared.db import session_scope
from shared.metrics import BATCH_SIZE, STAGE_SECONDS
from shared.pipeline import try_enqueue
from shared.queues import Queue, TaskName
from shared.studies import StudyNotFound, mark_failed
from workers import sweeper
from workers.stages import classify, generate, retrieve

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, DBAPIError, ConnectionError, TimeoutError)


class StageTask(Task):
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 1
    retry_backoff_max = 30
    retry_jitter = True
    max_retries = 10
    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        study_id = args[0] if args else kwargs.get("study_id")
        if not study_id or isinstance(exc, StudyNotFound):
            return
        reason = f"{self.name} failed: {type(exc).__name__}: {exc}"[:2000]
        try:
            with session_scope() as session:
                mark_failed(session, study_id, actor=f"worker:{self.name}", reason=reason)
        except TRANSIENT_ERRORS:
            # The database is unreachable too: the study stays in its pipeline status and the
            # sweeper resumes it once the database is back.
            logger.warning("could not mark study %s failed; the sweeper will pick it up", study_id)


def stage_task(name: TaskName, queue: Queue) -> Any:
    return celery_app.task(name=name.value, base=StageTask, queue=queue.value, bind=False)


def _classify_task() -> Any:
    settings = get_settings()
    if settings.classify_batch_size <= 1:
        @stage_task(TaskName.CLASSIFY, Queue.CLASSIFY)
        def classify_study(study_id: str) -> str:
            with STAGE_SECONDS.labels("classify").time():
                classify.run(study_id)
            BATCH_SIZE.observe(1)
            return study_id

        return classify_study

    @celery_app.task(name=TaskName.CLASSIFY.value, base=Batches, queue=Queue.CLASSIFY.value, acks_late=True,
                     flush_every=settings.classify_batch_size,
                     flush_interval=settings.classify_batch_wait_ms / 1000.0)
    def classify_studies(requests: list[Any]) -> list[str]:
        """Micro-batched classify: one forward pass for every study gathered. celery-batches
        does not follow chains, so each study done here is sent on to retrieve explicitly."""
        study_ids = [r.args[0] if r.args else r.kwargs["study_id"] for r in requests]
        with STAGE_SECONDS.labels("classify").time():
            done = with_db_retries(lambda: classify.run_batch(study_ids))
        BATCH_SIZE.observe(len(study_ids))
        for study_id in done:
            try_enqueue(study_id, stage_index=1)
        return done

    return classify_studies


def with_db_retries(work: Any, attempts: int = 8, first_delay: float = 0.5, max_delay: float = 15.0) -> Any:
    """Retry `work` on transient database errors with exponential back-off. A batch cannot use
    Celery's per-task retry; if the database stays away longer, the sweeper resumes the studies."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except TRANSIENT_ERRORS:
            if attempt == attempts:
                raise
            logger.warning("database unavailable (attempt %d of %d); retrying in %.1f s", attempt, attempts, delay)
            time.sleep(delay)
            delay = min(max_delay, delay * 2)
    return None


classify_task = _classify_task()


@stage_task(TaskName.RETRIEVE, Queue.RETRIEVE)
def retrieve_evidence(study_id: str) -> str:
    with STAGE_SECONDS.labels("retrieve").time():
        retrieve.run(study_id)
    return study_id


@stage_task(TaskName.GENERATE, Queue.GENERATE)
def generate_draft(study_id: str) -> str:
    with STAGE_SECONDS.labels("generate").time():
        generate.run(study_id)
    return study_id


@celery_app.task(name=TaskName.SWEEP.value, queue=Queue.MAINTENANCE.value, acks_late=True)
def sweep_stuck_studies() -> dict[str, int]:
    return sweeper.sweep()


@celery_app.task(name=TaskName.DELIVER_CALLBACKS.value, queue=Queue.MAINTENANCE.value, acks_late=True)
def deliver_callbacks() -> dict[str, int]:
    return callbacks.deliver_due()
