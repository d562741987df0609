"""Every error leaves the gateway as JSON {"error": {"code", "message"}} with the right status."""

from __future__ import annotations

import logging
import traceback

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.ingest import IngestError
from shared.status import IllegalTransition

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.headers = headers


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code, headers=headers)


_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "unprocessable", 429: "rate_limited",
}


def loggable(path: str) -> str:
    # A path is the client's text: escaped so that %0A or a NUL cannot forge or break log lines.
    return ascii(path)[1:-1][:300]


def log_unexpected(exc: BaseException, method: str, path: str) -> None:
    """Log a 500 by exception types, route and stack frames only. Messages are left out on
    purpose: a database error quotes the row it was writing (file names, accession numbers),
    and a decoder error may quote header values."""
    causes = []
    inner = exc.__cause__ or exc.__context__
    while inner is not None and len(causes) < 5:
        causes.append(type(inner).__name__)
        inner = inner.__cause__ or inner.__context__
    frames = "".join(traceback.format_tb(exc.__traceback__)).rstrip()
    logger.error("unhandled %s%s on %s %s\n%s", type(exc).__name__,
                 f" (from {' <- '.join(causes)})" if causes else "", method, loggable(path), frames)


class CatchUnexpected:
    """Turn an exception no handler took into the JSON 500, inside the app.

    Starlette's own last-resort handler answers too, but then re-raises so that the server
    logs the error, and uvicorn logs it with its full message (see log_unexpected). This
    middleware answers and stops there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log_unexpected(exc, scope.get("method", ""), scope.get("path", ""))
            if not started:  # else the client sees a cut-off response, which is all we can do
                response = error_response(500, "internal_error", "internal error; the request was not applied")
                await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(CatchUnexpected)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.headers)

    @app.exception_handler(IngestError)
    async def _ingest_error(_: Request, exc: IngestError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, str(exc))

    @app.exception_handler(IllegalTransition)
    async def _illegal(_: Request, exc: IllegalTransition) -> JSONResponse:
        return error_response(409, "illegal_transition", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()) if p != 'body')}: {err.get('msg')}" for err in exc.errors()
        )
        return error_response(400, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # PostgreSQL refuses what SQLite stores (a NUL byte, a string over a VARCHAR's length),
        # so a value from the request that the edges did not catch ends here: the request is
        # at fault, not the server. The session dependency has rolled the transaction back.
        logger.warning("database refused a value (%s) on %s %s", type(exc.orig).__name__, request.method,
                       loggable(request.url.path))
        return error_response(400, "invalid_value", "a value in the request cannot be stored or searched for")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Only reached for errors raised outside CatchUnexpected (in an outer middleware).
        log_unexpected(exc, request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; the request was not applied")
