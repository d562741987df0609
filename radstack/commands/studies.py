"""`radstack studies retry ID`: send a FAILED study through the pipeline again."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("studies", help="operate on studies")
    sub = parser.add_subparsers(dest="studies_command", required=True)
    retry = sub.add_parser("retry", help="retry a FAILED study from the classify stage")
    retry.add_argument("study_id")
    retry.set_defaults(handler=run_retry)
    sweep = sub.add_parser("sweep", help="run the sweeper once now (re-send stuck studies)")
    sweep.set_defaults(handler=run_sweep)


def run_retry(args: argparse.Namespace) -> int:
    from shared.db import session_scope
    from shared.pipeline import try_enqueue
    from shared.status import IllegalTransition
    from shared.studies import StudyNotFound, lock_study, retry_failed

    try:
        with session_scope() as session:
            retry_failed(session, lock_study(session, args.study_id), actor="cli")
    except StudyNotFound:
        print(f"no study {args.study_id}")
        return 1
    except IllegalTransition as exc:
        print(str(exc))
        return 1
    queued = try_enqueue(args.study_id)
    print(f"study {args.study_id} is QUEUED" + ("" if queued else " (broker unreachable: the sweeper will send it)"))
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    from workers.sweeper import sweep

    print(sweep())
    return 0
