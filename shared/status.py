"""The study life cycle: every status, its legal moves, and its IHE AI-workflow (UPS) state.

Transitions are only ever made through `check_transition`, so an illegal move raises instead of
silently overwriting a status that another process has already advanced.
"""

from __future__ import annotations

import enum


class StudyStatus(str, enum.Enum):
    RECEIVED = "RECEIVED"
    QUEUED = "QUEUED"
    CLASSIFYING = "CLASSIFYING"
    RETRIEVING = "RETRIEVING"
    DRAFTING = "DRAFTING"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    SIGNED_OFF = "SIGNED_OFF"
    REJECTED = "REJECTED"
    AMENDED = "AMENDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def in_pipeline(self) -> bool:
        """A worker still owes this study some work (the sweeper watches these)."""
        return self in PIPELINE_STATUSES

    @property
    def ups_state(self) -> str:
        return _UPS[self]


PIPELINE_STATUSES = frozenset({
    StudyStatus.QUEUED, StudyStatus.CLASSIFYING, StudyStatus.RETRIEVING, StudyStatus.DRAFTING,
})
_TERMINAL = frozenset({StudyStatus.SIGNED_OFF, StudyStatus.REJECTED, StudyStatus.AMENDED, StudyStatus.CANCELLED})

S = StudyStatus
_ALLOWED: dict[StudyStatus, frozenset[StudyStatus]] = {
    S.RECEIVED: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.CLASSIFYING, S.FAILED, S.CANCELLED}),
    S.CLASSIFYING: frozenset({S.RETRIEVING, S.FAILED, S.CANCELLED}),
    S.RETRIEVING: frozenset({S.DRAFTING, S.FAILED, S.CANCELLED}),
    S.DRAFTING: frozenset({S.AWAITING_REVIEW, S.FAILED, S.CANCELLED}),
    S.AWAITING_REVIEW: frozenset({S.SIGNED_OFF, S.REJECTED, S.CANCELLED}),
    S.SIGNED_OFF: frozenset({S.AMENDED}),
    S.AMENDED: frozenset({S.AMENDED}),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset({S.QUEUED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}

# IHE AI Workflow for Imaging: the Unified Procedure Step state an integrator sees.
_UPS: dict[StudyStatus, str] = {
    S.RECEIVED: "SCHEDULED",
    S.QUEUED: "SCHEDULED",
    S.CLASSIFYING: "IN PROGRESS",
    S.RETRIEVING: "IN PROGRESS",
    S.DRAFTING: "IN PROGRESS",
    S.AWAITING_REVIEW: "COMPLETED",
    S.SIGNED_OFF: "COMPLETED",
    S.REJECTED: "COMPLETED",
    S.AMENDED: "COMPLETED",
    S.FAILED: "IN PROGRESS",
    S.CANCELLED: "CANCELED",
}


class IllegalTransition(Exception):
    def __init__(self, current: StudyStatus, target: StudyStatus) -> None:
        super().__init__(f"a study in status {current.value} cannot move to {target.value}")
        self.current = current
        self.target = target


def allowed_moves(current: StudyStatus) -> frozenset[StudyStatus]:
    return _ALLOWED[current]


def check_transition(current: StudyStatus, target: StudyStatus) -> None:
    if target not in _ALLOWED[current]:
        raise IllegalTransition(current, target)
