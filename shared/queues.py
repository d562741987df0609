"""Queue and task names, in one place: the gateway enqueues by name without importing workers."""

from __future__ import annotations

import enum

from shared.status import StudyStatus


class Queue(str, enum.Enum):
    CLASSIFY = "classify"
    RETRIEVE = "retrieve"
    GENERATE = "generate"
    MAINTENANCE = "maintenance"


class TaskName(str, enum.Enum):
    CLASSIFY = "studies.classify"
    RETRIEVE = "studies.retrieve"
    GENERATE = "studies.generate"
    SWEEP = "studies.sweep"
    DELIVER_CALLBACKS = "callbacks.deliver"


# The chain, in order: each stage's task, its queue, and the status a study has while it waits
# for or runs that stage (what the sweeper uses to resume a study at the right place).
STAGES: tuple[tuple[TaskName, Queue, frozenset[StudyStatus]], ...] = (
    (TaskName.CLASSIFY, Queue.CLASSIFY, frozenset({StudyStatus.QUEUED, StudyStatus.CLASSIFYING})),
    (TaskName.RETRIEVE, Queue.RETRIEVE, frozenset({StudyStatus.RETRIEVING})),
    (TaskName.GENERATE, Queue.GENERATE, frozenset({StudyStatus.DRAFTING})),
)

TASK_ROUTES = {task.value: {"queue": queue.value} for task, queue, _ in STAGES} | {
    TaskName.SWEEP.value: {"queue": Queue.MAINTENANCE.value},
    TaskName.DELIVER_CALLBACKS.value: {"queue": Queue.MAINTENANCE.value},
}


def stage_index_for(status: StudyStatus) -> int | None:
    """Which stage a study in `status` resumes at, or None if no stage is owed."""
    for index, (_, _, statuses) in enumerate(STAGES):
        if status in statuses:
            return index
    return None
