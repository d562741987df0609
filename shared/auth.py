"""API keys: random bearer tokens, stored only as SHA-256, each with one role."""

from __future__ import annotations

import enum
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import audit
from shared.models import ApiKey

KEY_PREFIX = "rsk_"


class Role(str, enum.Enum):
    SUBMITTER = "submitter"
    RADIOLOGIST = "radiologist"
    ADMIN = "admin"


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: Role, actor: str = "cli") -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role.value, key_hash=hash_key(raw), prefix=raw[:10])
    session.add(key)
    session.flush()
    audit.record(session, actor=actor, action="api_key.created", details={"key_id": key.id, "name": name, "role": role.value})
    return key, raw


def find_key(session: Session, raw_key: str) -> ApiKey | None:
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(raw_key)))
    if key is None or key.revoked_at is not None:
        return None
    return key
