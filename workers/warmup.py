"""Load what a worker's queues need before it takes its first task, then say so.

Without this the first study after a deploy pays for the model and index loading, and a
supervisor cannot tell a worker that is up from one that is still importing torch. A worker
writes `<data dir>/ready/<queues>` once it is warm; `radstack.stack` waits for those files.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_process_init, worker_ready

from shared.config import get_settings
from shared.queues import Queue

logger = logging.getLogger(__name__)

QUEUES_ENV = "RADSTACK_WORKER_QUEUES"
POOL_ENV = "RADSTACK_WORKER_POOL"


def ready_file(queues: str) -> Any:
    return get_settings().data_dir.resolve() / "ready" / queues.replace(",", "-")


def warm_up() -> None:
    queues = set(os.environ.get(QUEUES_ENV, "").split(","))
    from workers import runtime

    if Queue.CLASSIFY.value in queues:
        runtime.get_classifier()
    if Queue.RETRIEVE.value in queues:
        runtime.get_retriever()
    path = ready_file(os.environ.get(QUEUES_ENV, "unknown"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))


@worker_process_init.connect
def _warm_prefork_child(**_: Any) -> None:
    warm_up()


@worker_ready.connect
def _warm_inline_pool(**_: Any) -> None:
    # solo and threads pools run tasks in this very process; prefork children warm themselves.
    if os.environ.get(POOL_ENV) != "prefork":
        warm_up()
