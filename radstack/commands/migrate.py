"""`radstack migrate`: bring the database schema to the newest migration."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="apply database migrations (alembic upgrade)")
    parser.add_argument("--revision", default="head")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from shared.migrate import upgrade

    upgrade(revision=args.revision)
    print("database schema is at", args.revision)
    return 0
