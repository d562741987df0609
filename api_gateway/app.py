"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from api_gateway import web
from api_gateway.errors import install_error_handlers
from api_gateway.routes import dicomweb, fhir, health, metrics, studies


def create_app() -> FastAPI:
    app = FastAPI(
        title="radstack",
        version="0.1.0",
        description=(
            "Chest X-ray triage and draft reports. AI output is decision support: nothing is final "
            "until a radiologist signs it off."
        ),
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(studies.router)
    app.include_router(fhir.router)
    app.include_router(dicomweb.router)
    web.mount(app)
    return app
