"""Browser sessions: a signed, expiring cookie naming the user and carrying the CSRF token.

The cookie is signed (itsdangerous, keyed by RADSTACK_SECRET_KEY), not encrypted: it holds
only the user id, the CSRF token and a password fingerprint, nothing clinical. It is HttpOnly,
SameSite and scoped to /ui, so the JSON API never sees it and scripts cannot read it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api_gateway.deps import SessionDep
from api_gateway.web.users import actor_for, password_fingerprint
from shared.auth import Role
from shared.config import Settings, get_settings
from shared.models import User

COOKIE_NAME = "radstack_session"
LOGIN_CSRF_COOKIE = "radstack_login_csrf"
COOKIE_PATH = "/ui"
_SALT = "radstack.web.session.v1"


def web_settings() -> Settings:
    return get_settings()


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, scripted requests get 401."""


@dataclass(frozen=True)
class WebSession:
    user: User
    csrf_token: str

    @property
    def actor(self) -> str:
        return actor_for(self.user)

    @property
    def can_sign(self) -> bool:
        return self.user.role == Role.RADIOLOGIST.value


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt=_SALT)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def start_session(response: Response, user: User) -> str:
    """Set a fresh session cookie (a new CSRF token each login) and return the token."""
    settings = web_settings()
    csrf = new_token()
    value = _serializer().dumps({"u": user.id, "c": csrf, "p": password_fingerprint(user)})
    response.set_cookie(COOKIE_NAME, value, max_age=settings.session_max_age_s, path=COOKIE_PATH, httponly=True,
                        secure=settings.cookie_secure, samesite=settings.session_same_site)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return csrf


def end_session(response: Response) -> None:
    settings = web_settings()
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH, httponly=True, secure=settings.cookie_secure,
                           samesite=settings.session_same_site)


def set_login_csrf(response: Response, token: str) -> None:
    """Double-submit token for the login form, which has no session yet (login CSRF)."""
    settings = web_settings()
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path=COOKIE_PATH, httponly=True,
                        secure=settings.cookie_secure, samesite="strict")


def read_session(request: Request, session: SessionDep) -> WebSession | None:
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=web_settings().session_max_age_s)
    except BadSignature:  # also SignatureExpired, its subclass
        return None
    if not isinstance(data, dict):
        return None
    user = session.get(User, str(data.get("u", "")))
    if user is None or user.disabled_at is not None or user.role not in (Role.RADIOLOGIST.value, Role.ADMIN.value):
        return None
    if not tokens_match(password_fingerprint(user), data.get("p")):
        return None
    return WebSession(user=user, csrf_token=str(data.get("c", "")))


def current_session(request: Request, session: SessionDep) -> WebSession:
    found = read_session(request, session)
    if found is None:
        raise LoginRequired()
    return found


CurrentSession = Annotated[WebSession, Depends(current_session)]
