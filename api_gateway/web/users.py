"""People who log in to the review UI: argon2id password hashes, creation and authentication.

API clients use bearer keys (shared/auth.py); these accounts are only for the browser pages.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import audit
from shared.auth import Role
from shared.models import User

USER_ROLES = (Role.RADIOLOGIST, Role.ADMIN)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; a cap keeps a login from being a CPU sink
_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")

# argon2id with the library's defaults (RFC 9106 "low memory" profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()


class UserError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("radstack-timing-equaliser")


def actor_for(user: User) -> str:
    return f"user:{user.username}"


def password_fingerprint(user: User) -> str:
    """Put in the session cookie: a password change (new salt, new hash) logs every session out."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")


def create_user(session: Session, *, username: str, role: Role, password: str, display_name: str | None = None,
                actor: str = "cli") -> User:
    if not _USERNAME.match(username):
        raise UserError("the user name must be 1-100 letters, digits or . _ @ -")
    if role not in USER_ROLES:
        raise UserError(f"people log in as {' or '.join(r.value for r in USER_ROLES)}; PACS use API keys")
    validate_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"a user named {username!r} already exists")
    user = User(username=username, role=role.value, password_hash=hash_password(password),
                display_name=(display_name or "").strip() or None)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.created",
                 details={"user_id": user.id, "username": username, "role": role.value})
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user if the password matches and the account is enabled, else None.

    An unknown name still costs one argon2 verification, so response time does not tell which
    user names exist."""
    user = session.scalar(select(User).where(User.username == username)) if username else None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user
