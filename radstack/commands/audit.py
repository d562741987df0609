"""`radstack audit verify`: check the audit trail's hash chain."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("audit", help="audit trail tools")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="verify the hash chain; exit 1 if it is broken")
    verify.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from shared.audit import verify_chain
    from shared.db import session_scope

    with session_scope() as session:
        report = verify_chain(session)
    if report.ok:
        print(f"audit chain OK: {report.rows} rows")
        return 0
    print(f"audit chain BROKEN at row {report.first_bad_id}: {report.problem}")
    return 1
