"""Keys and roles on every route, and the radiologist's decisions."""

from __future__ import annotations

import pytest

from shared.audit import verify_chain
from shared.db import session_scope
from shared.models import ReportVersion, Study
from shared.status import StudyStatus
from tests.conftest import SAMPLES, auth


def _submit(client, key: str, accession: str = "ACC") -> str:
    png = (SAMPLES / "h0001.png").read_bytes()
    response = client.post("/v1/studies", files={"files": ("x.png", png)}, data={"accession_number": accession},
                           headers=auth(key))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _make_reviewable(study_id: str, text: str = "FINDINGS: clear lungs.\nIMPRESSION: normal.") -> None:
    """Stand in for the workers: move the study through its stages and add a draft."""
    from shared.studies import lock_study, transition

    with session_scope() as session:
        study = lock_study(session, study_id)
        for status in (StudyStatus.CLASSIFYING, StudyStatus.RETRIEVING, StudyStatus.DRAFTING, StudyStatus.AWAITING_REVIEW):
            transition(session, study, status, actor="test")
        session.add(ReportVersion(study_id=study_id, version=1, kind="draft", text=text, author="ai:test", flags=[]))


def test_missing_and_unknown_keys_are_401(client, api_keys) -> None:
    assert client.get("/v1/studies").status_code == 401
    response = client.get("/v1/studies", headers=auth("rsk_not-a-key"))
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_wrong_roles_are_403(client, api_keys) -> None:
    png = (SAMPLES / "h0001.png").read_bytes()
    response = client.post("/v1/studies", files={"files": ("x.png", png)}, data={"accession_number": "A"},
                           headers=auth(api_keys["radiologist"]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    study_id = _submit(client, api_keys["submitter"])
    _make_reviewable(study_id)
    for key in ("submitter", "admin"):
        response = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"}, headers=auth(api_keys[key]))
        assert response.status_code == 403
    assert client.get("/v1/worklist", headers=auth(api_keys["submitter"])).status_code == 403


def test_submitter_sees_only_its_own_studies(client, api_keys) -> None:
    mine = _submit(client, api_keys["submitter"], "MINE")
    theirs = _submit(client, api_keys["other_submitter"], "THEIRS")
    assert client.get(f"/v1/studies/{theirs}", headers=auth(api_keys["submitter"])).status_code == 404
    assert client.get(f"/v1/studies/{theirs}/audit", headers=auth(api_keys["submitter"])).status_code == 404
    listed = client.get("/v1/studies", headers=auth(api_keys["submitter"])).json()["studies"]
    assert [s["id"] for s in listed] == [mine]
    everything = client.get("/v1/studies", headers=auth(api_keys["radiologist"])).json()["studies"]
    assert {s["id"] for s in everything} == {mine, theirs}
    by_accession = client.get("/v1/studies", params={"accession_number": "THEIRS"}, headers=auth(api_keys["admin"]))
    assert [s["id"] for s in by_accession.json()["studies"]] == [theirs]


def test_unknown_study_is_404(client, api_keys) -> None:
    response = client.get("/v1/studies/does-not-exist", headers=auth(api_keys["radiologist"]))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_image_is_served_as_png(client, api_keys) -> None:
    study_id = _submit(client, api_keys["submitter"])
    detail = client.get(f"/v1/studies/{study_id}", headers=auth(api_keys["submitter"])).json()
    response = client.get(detail["images"][0]["links"]["pixels"], headers=auth(api_keys["submitter"]))
    assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_approve_then_amend_keeps_the_signed_text(client, api_keys) -> None:
    study_id = _submit(client, api_keys["submitter"])
    _make_reviewable(study_id)
    radiologist = auth(api_keys["radiologist"])
    signed = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "version": 1}, headers=radiologist)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "SIGNED_OFF" and signed.json()["ups_state"] == "COMPLETED"
    amended = client.post(f"/v1/studies/{study_id}/signoff",
                          json={"decision": "amend", "report_text": "ADDENDUM: small left effusion.", "reason": "second look"},
                          headers=radiologist)
    assert amended.status_code == 200 and amended.json()["status"] == "AMENDED"
    body = amended.json()
    assert body["report"]["kind"] == "addendum"
    assert [r["kind"] for r in body["report_history"]] == ["draft", "signed"]
    assert body["report_history"][1]["text"].startswith("FINDINGS: clear lungs.")
    audit = client.get(f"/v1/studies/{study_id}/audit", headers=radiologist).json()["events"]
    actions = [e["action"] for e in audit]
    assert "review.approve" in actions and "review.amend" in actions and "study.viewed" not in actions[:2]
    assert all(e["actor"] for e in audit)
    with session_scope() as session:
        assert verify_chain(session).ok


def test_stale_version_and_illegal_moves_are_409(client, api_keys) -> None:
    study_id = _submit(client, api_keys["submitter"])
    radiologist = auth(api_keys["radiologist"])
    early = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"}, headers=radiologist)
    assert early.status_code == 409
    _make_reviewable(study_id)
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "version": 7},
                       headers=radiologist).status_code == 409
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"}, headers=radiologist).status_code == 200
    again = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"}, headers=radiologist)
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"


def test_reject_needs_a_reason(client, api_keys) -> None:
    study_id = _submit(client, api_keys["submitter"])
    _make_reviewable(study_id)
    radiologist = auth(api_keys["radiologist"])
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "reject"}, headers=radiologist).status_code == 400
    response = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "reject", "reason": "motion artefact"},
                           headers=radiologist)
    assert response.status_code == 200 and response.json()["status"] == "REJECTED"


@pytest.mark.parametrize("extra", [{"status": "SIGNED_OFF"}, {"signed_by": "someone"}])
def test_mass_assignment_is_refused(client, api_keys, extra) -> None:
    study_id = _submit(client, api_keys["submitter"])
    _make_reviewable(study_id)
    response = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"} | extra,
                           headers=auth(api_keys["radiologist"]))
    assert response.status_code == 400
    with session_scope() as session:
        assert session.get(Study, study_id).status == StudyStatus.AWAITING_REVIEW


def test_worklist_orders_stat_then_critical_then_age(client, api_keys) -> None:
    ids = {}
    for accession, priority in (("OLD-ROUTINE", "routine"), ("STAT", "stat"), ("NEW-ROUTINE", "routine")):
        png = (SAMPLES / "h0001.png").read_bytes()
        response = client.post("/v1/studies", files={"files": ("x.png", png)},
                               data={"accession_number": accession, "priority": priority},
                               headers=auth(api_keys["submitter"]))
        ids[accession] = response.json()["id"]
        _make_reviewable(ids[accession])
    worklist = client.get("/v1/worklist", headers=auth(api_keys["radiologist"])).json()["studies"]
    assert [s["accession_number"] for s in worklist] == ["STAT", "OLD-ROUTINE", "NEW-ROUTINE"]


def test_healthz_reports_database_and_broker(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}
    queues = response.json()["queues"]
    assert queues["depth"]["classify"] == 0 and queues["accepting"] and queues["max_classify_depth"] > 0


def test_openapi_lists_the_contract(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/v1/studies", "/v1/studies/{study_id}", "/v1/studies/{study_id}/audit", "/v1/worklist",
                 "/v1/studies/{study_id}/signoff", "/dicomweb/studies", "/healthz"):
        assert path in paths
