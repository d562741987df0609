"""`radstack worker --queues classify|retrieve|generate|maintenance`: one Celery worker pool."""

from __future__ import annotations

import argparse
import os
import socket

from shared.queues import Queue


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("worker", help="run a Celery worker for one or more queues")
    parser.add_argument("--queues", required=True,
                        help="comma-separated: " + ", ".join(q.value for q in Queue))
    parser.add_argument("--concurrency", type=int, default=1,
                        help="processes; keep 1 per GPU on the classify pool")
    parser.add_argument("--pool", default=None, choices=("prefork", "solo", "threads"),
                        help="default: prefork on Redis; solo on the embedded filesystem broker")
    parser.add_argument("--beat", action="store_true", help="also run the sweeper's schedule (maintenance)")
    parser.add_argument("--loglevel", default="INFO")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    known = {q.value for q in Queue}
    unknown = sorted(set(queues) - known)
    if unknown:
        raise SystemExit(f"unknown queue(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")

    from shared.celery_app import celery_app, ensure_broker_folders
    from shared.config import get_settings
    import workers.tasks  # noqa: F401  (registers the tasks)
    import workers.warmup  # noqa: F401  (connects the warm-up signals)

    settings = get_settings()
    ensure_broker_folders(settings)
    # On a polling transport Celery's consumer loop handles a prefork child's "done" (and so the
    # late ack that frees the prefetch slot) only between 2-second polls; solo runs the task in
    # the consumer itself and acks at once.
    pool = args.pool or ("solo" if settings.uses_filesystem_broker else "prefork")
    os.environ[workers.warmup.QUEUES_ENV] = ",".join(queues)
    os.environ[workers.warmup.POOL_ENV] = pool
    argv = [
        "worker", "--queues", ",".join(queues), "--concurrency", str(args.concurrency), "--pool", pool,
        "--loglevel", args.loglevel, "--hostname", f"{'-'.join(queues)}@{socket.gethostname()}",
        # No gossip, mingle or heartbeats: workers coordinate through the database, and the
        # embedded filesystem broker has no fanout for them anyway.
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]
    if "classify" in queues:
        # The batcher can only gather what the worker has prefetched: prefetch = batch size.
        argv += ["--prefetch-multiplier", str(settings.classify_batch_size)]
    if args.beat:
        schedule = settings.data_dir.resolve() / "celerybeat-schedule"
        schedule.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(schedule)]
    celery_app.worker_main(argv)
    return 0
