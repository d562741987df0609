"""Request dependencies: a database session per request and the caller's API key."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from api_gateway.errors import ApiError
from shared.auth import Role, find_key, hash_key
from shared.db import session_scope
from shared.models import ApiKey, Study


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


# Recently verified keys, by hash, so that a busy PACS does not cost a database round trip (on
# SQLite, a turn at the single write lock) per request. A revoked key stops working within
# KEY_CACHE_SECONDS; unknown keys are never cached.
KEY_CACHE_SECONDS = 5.0
_verified: dict[str, tuple[float, ApiKey]] = {}
_verified_lock = threading.Lock()


def current_key(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    raw = authorization[7:].strip()
    digest = hash_key(raw)
    now = time.monotonic()
    with _verified_lock:
        cached = _verified.get(digest)
    if cached is not None and cached[0] > now:
        return cached[1]
    key = find_key(session, raw)
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    # End the lookup's transaction now: on SQLite it holds the single write lock, which a
    # submission must not keep while it decodes images.
    session.commit()
    session.expunge(key)  # a detached, read-only copy may be shared between requests
    with _verified_lock:
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[digest] = (now + KEY_CACHE_SECONDS, key)
    return key


def forget_verified_keys() -> None:
    """Tests and key revocation in this process call this to take effect at once."""
    with _verified_lock:
        _verified.clear()


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require_role(*roles: Role) -> Callable[[ApiKey], ApiKey]:
    allowed = {role.value for role in roles}

    def check(key: CurrentKey) -> ApiKey:
        if key.role not in allowed:
            raise ApiError(403, "forbidden", f"this action needs the role {' or '.join(sorted(allowed))}")
        return key

    return check


Submitter = Annotated[ApiKey, Depends(require_role(Role.SUBMITTER, Role.ADMIN))]
Radiologist = Annotated[ApiKey, Depends(require_role(Role.RADIOLOGIST))]
Admin = Annotated[ApiKey, Depends(require_role(Role.ADMIN))]
Reader = Annotated[ApiKey, Depends(require_role(Role.SUBMITTER, Role.RADIOLOGIST, Role.ADMIN))]


def visible_study(session: Session, key: ApiKey, study_id: str) -> Study:
    """The study if this key may see it. A submitter sees only its own; for anyone else's it
    gets 404, not 403, so that ids cannot be probed."""
    study = session.get(Study, study_id)
    if study is None or (key.role == Role.SUBMITTER.value and study.client_id != key.id):
        raise ApiError(404, "not_found", f"no study {study_id}")
    return study


def actor_of(key: ApiKey) -> str:
    return f"{key.role}:{key.name}"
