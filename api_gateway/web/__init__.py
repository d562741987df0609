"""The radiologists' review UI: server-rendered pages under /ui, with cookie sessions."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api_gateway.errors import error_response
from api_gateway.web import images
from api_gateway.web.pages import STATIC_DIR, router
from api_gateway.web.sessions import LoginRequired

__all__ = ["mount"]


async def _login_required(request: Request, exc: Exception) -> Response:
    # Scripted refreshes must not follow a redirect into a login page's HTML.
    if request.method != "GET" or request.headers.get("x-requested-with", "").lower() == "fetch":
        return error_response(401, "login_required", "your session has ended; log in again")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?next={quote(target, safe='')}", status_code=303)


def mount(app: FastAPI) -> None:
    """Add the pages, their static files and the login redirect to the app."""
    app.include_router(router)
    app.include_router(images.router)
    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.add_exception_handler(LoginRequired, _login_required)
