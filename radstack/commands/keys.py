"""`radstack keys create|list|revoke`: API keys for PACS, radiologists and admins."""

from __future__ import annotations

import argparse

from shared.auth import Role


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="manage API keys")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create a key; it is printed once and stored only hashed")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True)
    create.set_defaults(handler=run_create)
    listing = sub.add_parser("list", help="list keys (never the keys themselves)")
    listing.set_defaults(handler=run_list)
    revoke = sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(handler=run_revoke)


def run_create(args: argparse.Namespace) -> int:
    from shared.auth import create_key
    from shared.db import session_scope

    with session_scope() as session:
        key, raw = create_key(session, name=args.name, role=Role(args.role))
        key_id = key.id
    print(raw)
    print(f"(key id {key_id}, role {args.role}; store it now: it is not shown again)", flush=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import ApiKey

    with session_scope() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = "revoked" if key.revoked_at else "active"
            print(f"{key.id}  {key.role:<12} {state:<8} {key.prefix}…  {key.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    from shared import audit
    from shared.db import session_scope
    from shared.models import ApiKey, utcnow

    with session_scope() as session:
        key = session.get(ApiKey, args.key_id)
        if key is None:
            print(f"no key {args.key_id}")
            return 1
        key.revoked_at = utcnow()
        audit.record(session, actor="cli", action="api_key.revoked", details={"key_id": key.id})
    print(f"revoked {args.key_id}")
    return 0
