"""The Celery application: broker settings, queues and routes. Tasks register themselves from
workers/; the gateway only sends by name, so it never imports model code."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery
from kombu import Queue as KombuQueue

from shared.config import Settings, get_settings
from shared.queues import TASK_ROUTES, Queue

# Longest a stage may legitimately run; Redis redelivers unacknowledged messages after the
# visibility timeout, so it must sit above this or a slow task would run twice in parallel.
STAGE_HARD_TIME_LIMIT_S = 15 * 60
VISIBILITY_TIMEOUT_S = 2 * STAGE_HARD_TIME_LIMIT_S


def _filesystem_folders(settings: Settings) -> tuple[Path, Path, Path]:
    return settings.broker_dir / "messages", settings.broker_dir / "processed", settings.broker_dir / "control"


def ensure_broker_folders(settings: Settings) -> None:
    """The filesystem transport needs its folders to exist; made on first use, not at import."""
    if settings.uses_filesystem_broker:
        for folder in _filesystem_folders(settings):
            folder.mkdir(parents=True, exist_ok=True)


def broker_transport_options(settings: Settings) -> dict[str, Any]:
    if settings.uses_filesystem_broker:
        folder, processed, control = _filesystem_folders(settings)
        return {
            # Exchange tables; kombu's default is a "control" folder in the working directory.
            "control_folder": str(control),
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(processed),
            "store_processed": False,
            "polling_interval": settings.filesystem_poll_interval,
        }
    return {"visibility_timeout": VISIBILITY_TIMEOUT_S}


def configure_celery(app: Celery, settings: Settings) -> Celery:
    """(Re)apply settings to the app; the CLI and tests call it after changing the environment."""
    filesystem = settings.uses_filesystem_broker
    # Connections made under the old settings must not be reused under the new ones.
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    app.conf.update(
        broker_url=settings.resolved_broker_url,
        broker_transport_options=broker_transport_options(settings),
        broker_connection_retry_on_startup=True,
        # The database is the source of truth; Celery results would only duplicate it.
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_queues=[KombuQueue(q.value, routing_key=q.value) for q in Queue],
        task_default_queue=Queue.MAINTENANCE.value,
        task_routes=TASK_ROUTES,
        # At-least-once delivery: a task is acknowledged only after it ran, and a worker that
        # dies mid-task hands the message back. Stages are idempotent, so a rerun is harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=STAGE_HARD_TIME_LIMIT_S,
        task_soft_time_limit=STAGE_HARD_TIME_LIMIT_S - 30,
        worker_hijack_root_logger=False,
        # A prefork child loads its model before it reports alive (workers/warmup.py).
        worker_proc_alive_timeout=120,
        # The filesystem transport has no fanout exchanges: remote control and events need them.
        worker_enable_remote_control=not filesystem,
        worker_send_task_events=not filesystem,
        beat_schedule={
            "sweep-stuck-studies": {
                "task": "studies.sweep",
                "schedule": timedelta(seconds=settings.sweep_interval_s),
                "options": {"queue": Queue.MAINTENANCE.value},
            },
            # Integrator callbacks: frequent, so a draft-ready POST goes out within seconds;
            # an expired tick is dropped rather than piling up while the worker is down.
            "deliver-callbacks": {
                "task": "callbacks.deliver",
                "schedule": timedelta(seconds=5),
                "options": {"queue": Queue.MAINTENANCE.value, "expires": 60},
            },
        },
    )
    return app


celery_app = configure_celery(Celery("radstack"), get_settings())
