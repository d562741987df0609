"""Liveness and readiness: is the database reachable, is the broker reachable."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared.config import get_settings
from shared.db import get_engine
from shared.queue_depth import queue_depths

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Database and broker reachability")
def healthz() -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready"; report its type only
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        from shared.celery_app import celery_app

        with celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:  # same: readiness, not diagnosis
        checks["broker"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", "checks": checks}
    if checks["broker"] == "ok":
        settings = get_settings()
        try:
            depths = queue_depths(settings)
        except Exception:  # depth is informative; its failure must not fail the health check
            depths = {}
        # Submissions are refused (503) while the classify queue is at its bound.
        body["queues"] = {"depth": depths, "max_classify_depth": settings.max_queue_depth,
                          "accepting": depths.get("classify", 0) < settings.max_queue_depth}
    return JSONResponse(body, status_code=200 if healthy else 503)
