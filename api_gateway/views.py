"""JSON views of studies for the API: what integrators and the review UI read."""

from __future__ import annotations

from typing import Any

from shared.findings import has_critical, study_level
from shared.labels import display_name
from shared.models import AuditEvent, Evidence, Finding, HeatMap, Image, ReportVersion, Study, as_utc
from shared.status import StudyStatus

DEMO_WARNING = "DEMO MODEL, NOT FOR CLINICAL USE"


def _iso(value: Any) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def links(study: Study) -> dict[str, str]:
    base = f"/v1/studies/{study.id}"
    return {"self": base, "audit": f"{base}/audit", "signoff": f"{base}/signoff"}


def summary(study: Study) -> dict[str, Any]:
    status = StudyStatus(study.status)
    return {
        "id": study.id,
        "status": status.value,
        "ups_state": status.ups_state,
        "accession_number": study.accession_number,
        "priority": study.priority,
        "created_at": _iso(study.created_at),
        "updated_at": _iso(study.updated_at),
        "links": links(study),
    }


def finding_view(finding: Finding) -> dict[str, Any]:
    return {
        "label": finding.label,
        "name": display_name(finding.label),
        "probability": round(finding.probability, 4),
        "threshold": finding.threshold,
        "positive": finding.positive,
        "image_id": finding.image_id,
        "model": {"id": finding.model_id, "version": finding.model_version, "weights_sha256": finding.weights_sha256},
        "is_demo": finding.is_demo,
    }


def heat_map_view(study: Study, heat_map: HeatMap) -> dict[str, Any]:
    base = f"/v1/studies/{study.id}/heatmaps/{heat_map.id}"
    return {"label": heat_map.label, "method": heat_map.method,
            "links": {"overlay": f"{base}.png", "array": f"{base}.npy"}}


def image_view(study: Study, image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "position": image.position,
        "format": image.source_format,
        "filename": image.filename,
        "width": image.width,
        "height": image.height,
        "modality": image.modality,
        "view_position": image.view_position,
        "window": {"center": image.window_center, "width": image.window_width} if image.window_width else None,
        "links": {"pixels": f"/v1/studies/{study.id}/images/{image.id}.png"},
        "heat_maps": [heat_map_view(study, h) for h in study.heat_maps if h.image_id == image.id],
    }


def evidence_view(item: Evidence) -> dict[str, Any]:
    return {"kind": item.kind, "source_id": item.source_id, "labels": item.labels, "text": item.text,
            "score": round(item.score, 4), "rank": item.rank, "retriever": item.retriever}


def report_view(report: ReportVersion) -> dict[str, Any]:
    return {"version": report.version, "kind": report.kind, "text": report.text, "author": report.author,
            "writer": report.writer, "flags": report.flags, "reason": report.reason, "is_demo": report.is_demo,
            "created_at": _iso(report.created_at)}


def detail(study: Study) -> dict[str, Any]:
    view = summary(study)
    per_study = study_level(study.findings)
    is_demo = any(f.is_demo for f in study.findings)
    current = study.reports[-1] if study.reports else None
    view.update({
        "version": study.version,
        "study_instance_uid": study.study_instance_uid,
        "error": study.error,
        "is_demo": is_demo,
        "warning": DEMO_WARNING if is_demo else None,
        "critical": has_critical(study.findings),
        "images": [image_view(study, image) for image in study.images],
        "findings": [finding_view(f) for f in per_study],
        "image_findings": [finding_view(f) for f in study.findings] if len(study.images) > 1 else None,
        "evidence": [evidence_view(e) for e in study.evidence],
        "report": report_view(current) if current else None,
        "report_history": [report_view(r) for r in study.reports[:-1]],
    })
    return view


def audit_view(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": _iso(event.created_at), "actor": event.actor, "action": event.action,
            "from_status": event.from_status, "to_status": event.to_status, "details": event.details,
            "hash": event.hash, "prev_hash": event.prev_hash}
