"""What the pages' forms may send, and the CSRF checks every POST from a page goes through."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import Request

from api_gateway.errors import ApiError
from api_gateway.review import SignoffRequest
from api_gateway.web.sessions import WebSession, tokens_match

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def refuse_cross_site(request: Request) -> None:
    """Browsers label every request with Sec-Fetch-Site; a page on another site has no business
    posting here even before the token check (defence in depth, and it needs no Host matching,
    which reverse proxies often rewrite)."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise ApiError(403, "csrf_failed", "cross-site form posts are refused")


def check_csrf(request: Request, web: WebSession, token: str | None) -> None:
    refuse_cross_site(request)
    if not tokens_match(web.csrf_token, token or request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf_failed", "missing or invalid CSRF token; reload the page and try again")


def check_login_csrf(request: Request, cookie_token: str | None, token: str | None) -> None:
    refuse_cross_site(request)
    if not tokens_match(cookie_token, token):
        raise ApiError(403, "csrf_failed", "the login form expired; reload the page and try again")


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside the UI, never another host (open redirect)."""
    default = "/ui/worklist"
    if not target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not parsed.path.startswith("/ui/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


def form_text(value: str | None) -> str:
    """Browsers submit textarea line breaks as CRLF; reports are stored with plain LF."""
    return (value or "").replace("\r\n", "\n").replace("\r", "\n")


def parse_version(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError as exc:
        raise ApiError(400, "invalid_version", "version must be a number") from exc


def signoff_request(decision: str, report_text: str | None, reason: str | None, version: str | None) -> SignoffRequest:
    """The page's decision as the API's request model, so both go through review.decide alike.

    "Approve" signs the draft as stored: text typed into the editor is ignored (the page only
    enables approve while the editor is unchanged), so an accidental edit is never signed."""
    if decision not in ("approve", "amend", "reject"):
        raise ApiError(400, "invalid_decision", "decision must be approve, amend or reject")
    return SignoffRequest(
        decision=decision,  # type: ignore[arg-type]
        report_text=form_text(report_text) if decision == "amend" else None,
        reason=reason or None,
        version=parse_version(version),
    )
