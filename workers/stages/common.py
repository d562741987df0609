"""What every stage does first: claim the study if it is at this stage, else skip it."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from shared.models import Study
from shared.status import StudyStatus
from shared.studies import lock_study

logger = logging.getLogger(__name__)


def claim(session: Session, study_id: str, owned: frozenset[StudyStatus]) -> Study | None:
    """The locked study if this stage owes it work, else None (already done, or cancelled)."""
    study = lock_study(session, study_id)
    if StudyStatus(study.status) not in owned:
        logger.info("study %s is %s: nothing for this stage to do", study_id, study.status)
        return None
    return study
