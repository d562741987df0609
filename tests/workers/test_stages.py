"""The stage services in-process, on the demo model: results, status moves, idempotency."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shared.db import session_scope
from shared.models import AuditEvent, Evidence, Finding, ReportVersion, Study
from shared.status import StudyStatus
from tests.conftest import SAMPLES, auth
from workers.stages import classify, generate, retrieve


@pytest.fixture
def queued_study(client, api_keys) -> str:
    files = [("files", ("a.dcm", (SAMPLES / "rsna_cr_pa_monochrome1.dcm").read_bytes())),
             ("files", ("b.png", (SAMPLES / "00000001_000.png").read_bytes()))]
    response = client.post("/v1/studies", files=files, data={"accession_number": "STAGES"},
                           headers=auth(api_keys["submitter"]))
    assert response.status_code == 202
    return response.json()["id"]


def _counts(study_id: str) -> dict[str, int]:
    with session_scope() as session:
        def count(model):
            return session.scalar(select(func.count()).select_from(model).where(model.study_id == study_id))
        return {"findings": count(Finding), "evidence": count(Evidence), "reports": count(ReportVersion)}


def _status(study_id: str) -> StudyStatus:
    with session_scope() as session:
        return StudyStatus(session.get(Study, study_id).status)


def test_stages_run_in_order_and_record_the_model(queued_study) -> None:
    classify.run(queued_study)
    assert _status(queued_study) == StudyStatus.RETRIEVING
    with session_scope() as session:
        findings = session.scalars(select(Finding).where(Finding.study_id == queued_study)).all()
        assert {f.model_id for f in findings} == {"demo"}
        assert all(f.is_demo and len(f.weights_sha256) == 64 and f.threshold == 0.5 for f in findings)
        assert len({f.image_id for f in findings}) == 2
    retrieve.run(queued_study)
    assert _status(queued_study) == StudyStatus.DRAFTING
    generate.run(queued_study)
    assert _status(queued_study) == StudyStatus.AWAITING_REVIEW
    with session_scope() as session:
        report = session.scalar(select(ReportVersion).where(ReportVersion.study_id == queued_study))
        assert report.kind == "draft" and report.is_demo and "DEMO MODEL, NOT FOR CLINICAL USE" in report.text


def test_redelivered_tasks_leave_one_result(queued_study) -> None:
    classify.run(queued_study)
    first = _counts(queued_study)
    # A redelivery after the study moved on is a no-op ...
    classify.run(queued_study)
    assert _counts(queued_study) == first
    retrieve.run(queued_study)
    retrieve.run(queued_study)
    generate.run(queued_study)
    generate.run(queued_study)
    counts = _counts(queued_study)
    assert counts["reports"] == 1 and counts["findings"] == first["findings"] and counts["evidence"] > 0
    with session_scope() as session:
        moves = session.scalars(select(AuditEvent.to_status).where(
            AuditEvent.study_id == queued_study, AuditEvent.to_status.is_not(None))).all()
    assert moves == ["RECEIVED", "QUEUED", "CLASSIFYING", "RETRIEVING", "DRAFTING", "AWAITING_REVIEW"]


def test_a_rerun_mid_stage_replaces_its_own_results(queued_study) -> None:
    """A worker killed after writing nothing, or a task delivered twice while CLASSIFYING."""
    from shared.studies import lock_study, transition

    with session_scope() as session:
        transition(session, lock_study(session, queued_study), StudyStatus.CLASSIFYING, actor="test")
    classify.run(queued_study)
    with session_scope() as session:
        study = lock_study(session, queued_study)
        study.status = StudyStatus.CLASSIFYING  # as if the first run's commit raced a redelivery
    classify.run(queued_study)
    assert _counts(queued_study)["findings"] > 0
    with session_scope() as session:
        per_label = session.execute(select(Finding.image_id, Finding.label, func.count()).where(
            Finding.study_id == queued_study).group_by(Finding.image_id, Finding.label)).all()
    assert all(n == 1 for *_, n in per_label)


def test_heat_maps_for_every_positive_chest_finding(queued_study, client, api_keys) -> None:
    from shared.labels import is_chest_finding
    from shared.models import HeatMap

    classify.run(queued_study)
    with session_scope() as session:
        positives = {(f.image_id, f.label) for f in session.scalars(select(Finding).where(
            Finding.study_id == queued_study, Finding.positive)) if is_chest_finding(f.label)}
        maps = {(h.image_id, h.label) for h in session.scalars(select(HeatMap).where(HeatMap.study_id == queued_study))}
    assert positives and maps == positives
    detail = client.get(f"/v1/studies/{queued_study}", headers=auth(api_keys["submitter"])).json()
    link = detail["images"][0]["heat_maps"][0]["links"]["overlay"]
    response = client.get(link, headers=auth(api_keys["submitter"]))
    assert response.status_code == 200 and response.content[:4] == b"\x89PNG"
    array = client.get(link.replace(".png", ".npy"), headers=auth(api_keys["submitter"]))
    assert array.status_code == 200 and array.content[:6] == b"\x93NUMPY"


def test_calibrated_thresholds_file_is_what_the_worker_applies(queued_study, data_dir) -> None:
    import json

    from workers import runtime

    sha = runtime.get_classifier().info.weights_sha256
    (data_dir / "thresholds.json").write_text(json.dumps({
        "dataset": "test", "model": {"weights_sha256": sha}, "thresholds": {"Cardiomegaly": 0.999},
    }))
    classify.run(queued_study)
    with session_scope() as session:
        cardio = session.scalars(select(Finding).where(Finding.study_id == queued_study,
                                                       Finding.label == "Cardiomegaly")).all()
    assert cardio and all(f.threshold == 0.999 and not f.positive for f in cardio)
