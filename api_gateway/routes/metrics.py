"""GET /metrics: Prometheus text format, merged over every radstack process."""

from __future__ import annotations

import os
from collections.abc import Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select

from shared.db import session_scope
from shared.metrics_setup import MULTIPROC_ENV
from shared.models import Study
from shared.queue_depth import queue_depths
from shared.status import StudyStatus

router = APIRouter(tags=["health"])


class LiveCollector:
    """Gauges read from the database and the broker at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        studies = GaugeMetricFamily("radstack_studies", "Studies by status", labels=["status"])
        with session_scope() as session:
            counts = dict(session.execute(select(Study.status, func.count()).group_by(Study.status)).all())
        for status in StudyStatus:
            studies.add_metric([status.value], counts.get(status, 0))
        yield studies
        depth = GaugeMetricFamily("radstack_queue_depth", "Messages waiting per queue", labels=["queue"])
        try:
            for queue, count in queue_depths().items():
                depth.add_metric([queue], count)
        except Exception:  # broker down: report no depth rather than fail the whole scrape
            pass
        yield depth


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics() -> Response:
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY  # a single process (tests, a bare uvicorn): its own samples
    live = CollectorRegistry()
    live.register(LiveCollector())
    body = generate_latest(registry) + generate_latest(live)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
