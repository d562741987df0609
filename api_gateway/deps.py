"""Request dependencies: a database session per request and the caller's API key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from api_gateway.errors import ApiError
from shared.auth import Role, find_key
from shared.db import session_factory
from shared.models import ApiKey, Study


def get_session() -> Iterator[Session]:
    session = session_factory()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def current_key(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(401, "unauthorized", "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
    key = find_key(session, authorization[7:].strip())
    if key is None:
        raise ApiError(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    # End the lookup's transaction now: on SQLite it holds the single write lock, which a
    # submission must not keep while it decodes images.
    session.commit()
    return key


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
