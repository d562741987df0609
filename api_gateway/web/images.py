"""The radiograph and heat-map pixels for the study page, behind the page session (an <img>
cannot send the API's bearer key), and the per-image data the viewer script reads."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api_gateway.deps import SessionDep
from api_gateway.errors import ApiError
from api_gateway.web.sessions import CurrentSession
from shared.labels import display_name
from shared.models import HeatMap, Image, Study
from shared.storage import BlobNotFound, default_store

router = APIRouter(include_in_schema=False)


def image_views(session: Session, study: Study) -> list[dict[str, Any]]:
    maps: dict[str, list[dict[str, Any]]] = {}
    for heat_map in session.scalars(select(HeatMap).where(HeatMap.study_id == study.id).order_by(HeatMap.label)):
        maps.setdefault(heat_map.image_id, []).append({
            "id": heat_map.id, "label": heat_map.label, "name": display_name(heat_map.label),
            "method": heat_map.method, "url": f"/ui/studies/{study.id}/heatmaps/{heat_map.id}.png",
        })
    return [{
        "id": image.id, "position": image.position, "url": f"/ui/studies/{study.id}/images/{image.id}.png",
        "label": " ".join(filter(None, [image.view_position, image.modality, image.source_format.upper()])),
        "width": image.width, "height": image.height,
        "window": {"center": image.window_center, "width": image.window_width} if image.window_width else None,
        "heat_maps": maps.get(image.id, []),
    } for image in study.images]


def _blob(sha256: str) -> Response:
    try:
        data = default_store().get(sha256)
    except BlobNotFound as exc:
        raise ApiError(404, "not_found", "image data is missing from the blob store") from exc
    return Response(content=data, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/ui/studies/{study_id}/images/{image_id}.png")
def image_png(session: SessionDep, web: CurrentSession, study_id: str, image_id: str) -> Response:
    image = session.get(Image, image_id)
    if image is None or image.study_id != study_id:
        raise ApiError(404, "not_found", f"no image {image_id} in study {study_id}")
    return _blob(image.pixels_sha256)


@router.get("/ui/studies/{study_id}/heatmaps/{heat_map_id}.png")
def heat_map_png(session: SessionDep, web: CurrentSession, study_id: str, heat_map_id: int) -> Response:
    heat_map = session.get(HeatMap, heat_map_id)
    if heat_map is None or heat_map.study_id != study_id:
        raise ApiError(404, "not_found", f"no heat map {heat_map_id} in study {study_id}")
    return _blob(heat_map.overlay_sha256)
