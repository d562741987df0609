"""`radstack users create|list|disable`: people who log in to the review UI.

A password never goes on the command line (it would sit in the shell history and in `ps`):
it is prompted for, or read from standard input with --password-stdin.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from shared.auth import Role

USER_ROLES = (Role.RADIOLOGIST.value, Role.ADMIN.value)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("users", help="manage review-UI logins (radiologists, admins)")
    sub = parser.add_subparsers(dest="users_command", required=True)
    create = sub.add_parser("create", help="create a login; the password is prompted for or read from stdin")
    create.add_argument("--role", required=True, choices=USER_ROLES)
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", default=None, help="shown on pages and as the report's interpreter")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    create.set_defaults(handler=run_create)
    listing = sub.add_parser("list", help="list logins (never passwords)")
    listing.set_defaults(handler=run_list)
    disable = sub.add_parser("disable", help="disable a login; its sessions end at their next request")
    disable.add_argument("username")
    disable.set_defaults(handler=run_disable)


def read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        print("no terminal to prompt on: pipe the password in with --password-stdin", file=sys.stderr)
        return None
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        print("the passwords differ", file=sys.stderr)
        return None
    return first


def run_create(args: argparse.Namespace) -> int:
    from api_gateway.web.users import UserError, create_user, validate_password
    from shared.db import session_scope

    password = read_password(args.password_stdin)
    if password is None:
        return 2
    try:
        validate_password(password)  # before opening a transaction
        with session_scope() as session:
            user = create_user(session, username=args.username, role=Role(args.role), password=password,
                               display_name=args.display_name)
            user_id = user.id
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {args.role} {args.username} (user id {user_id}); log in at /ui/login", flush=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import User

    with session_scope() as session:
        for user in session.scalars(select(User).order_by(User.created_at)):
            state = "disabled" if user.disabled_at else "active"
            print(f"{user.id}  {user.role:<12} {state:<8} {user.username}  {user.display_name or ''}".rstrip())
    return 0


def run_disable(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from shared import audit
    from shared.db import session_scope
    from shared.models import User, utcnow

    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == args.username))
        if user is None:
            print(f"no user {args.username}", file=sys.stderr)
            return 1
        user.disabled_at = utcnow()
        audit.record(session, actor="cli", action="user.disabled", details={"user_id": user.id,
                                                                           "username": user.username})
    print(f"disabled {args.username}")
    return 0
