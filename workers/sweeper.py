"""The sweeper: the database, not the broker, decides what work is owed.

A message lost to a Redis restart or a killed worker leaves its study sitting in a pipeline
status. Past the stage deadline the sweeper re-sends the chain from that study's stage; after
`max_attempts` re-sends it marks the study FAILED, with the reason on the audit trail.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from shared import audit
from shared.config import get_settings
from shared.db import session_scope
from shared.models import Study, as_utc, utcnow
from shared.pipeline import try_enqueue
from shared.queues import stage_index_for
from shared.status import PIPELINE_STATUSES, StudyStatus
from shared.studies import lock_study_if_free, transition

logger = logging.getLogger(__name__)

ACTOR = "worker:sweeper"


def sweep() -> dict[str, int]:
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.stage_deadline_s)
    with session_scope() as session:
        stuck = list(session.scalars(
            select(Study.id).where(Study.status.in_(PIPELINE_STATUSES), Study.updated_at < cutoff)
        ))
    resent = failed = 0
    for study_id in stuck:
        stage = None
        with session_scope() as session:
            study = lock_study_if_free(session, study_id)
            if study is None:
                continue  # a worker holds it right now: not stuck after all
            status = StudyStatus(study.status)
            if status not in PIPELINE_STATUSES or as_utc(study.updated_at) >= cutoff:
                continue  # it moved on while we looked
            if study.attempts >= settings.max_attempts:
                study.error = f"stuck in {status.value} after {study.attempts} re-sends"
                transition(session, study, StudyStatus.FAILED, actor=ACTOR, action="sweeper.gave_up",
                           details={"reason": study.error})
                failed += 1
                continue
            study.attempts += 1
            # Touch the row so the next sweep waits a full deadline before re-sending again.
            study.updated_at = utcnow()
            stage = stage_index_for(status)
            audit.record(session, actor=ACTOR, action="sweeper.resent", study_id=study_id,
                         details={"status": status.value, "attempt": study.attempts})
        if stage is not None and try_enqueue(study_id, stage):
            resent += 1
    if stuck:
        logger.info("sweeper: %d stuck, %d re-sent, %d failed", len(stuck), resent, failed)
    return {"stuck": len(stuck), "resent": resent, "failed": failed}
