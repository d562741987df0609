"""The sign-off rules the issue names: who may sign or see, concurrent signers, immutable text."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from shared.auth import Role, create_key
from shared.db import session_scope
from shared.models import AuditEvent, ReportVersion, Study
from shared.status import StudyStatus
from tests.conftest import auth
from tests.review_helpers import DRAFT, create_user, csrf_token, login, make_reviewable, submit


def _second_radiologist() -> str:
    with session_scope() as session:
        return create_key(session, name="test-radiologist-2", role=Role.RADIOLOGIST, actor="test")[1]


def _reports(study_id: str) -> list[tuple[int, str, str]]:
    with session_scope() as session:
        return [(r.version, r.kind, r.text) for r in session.scalars(
            select(ReportVersion).where(ReportVersion.study_id == study_id).order_by(ReportVersion.version))]


def test_submitter_cannot_sign_or_see_another_clients_study(client, api_keys) -> None:
    mine = submit(client, api_keys["submitter"], "MINE")
    theirs = submit(client, api_keys["other_submitter"], "THEIRS")
    make_reviewable(mine)
    make_reviewable(theirs)
    submitter = auth(api_keys["submitter"])
    for decision in ({"decision": "approve"}, {"decision": "amend", "report_text": "x"},
                     {"decision": "reject", "reason": "x"}):
        assert client.post(f"/v1/studies/{mine}/signoff", json=decision, headers=submitter).status_code == 403
        assert client.post(f"/v1/studies/{theirs}/signoff", json=decision, headers=submitter).status_code == 403
    for path in ("", "/audit", "/report.fhir.json"):
        response = client.get(f"/v1/studies/{theirs}{path}", headers=submitter)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.get("/v1/worklist", headers=submitter).status_code == 403
    # Nor can a bearer key of any role drive the pages: they want a person's session.
    assert client.get(f"/ui/studies/{mine}", headers=submitter, follow_redirects=False).status_code == 303
    with session_scope() as session:
        assert {session.get(Study, s).status for s in (mine, theirs)} == {StudyStatus.AWAITING_REVIEW}


def test_second_signer_with_the_same_version_gets_409(client, api_keys) -> None:
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    first, second = auth(api_keys["radiologist"]), auth(_second_radiologist())
    seen = client.get(f"/v1/studies/{study_id}", headers=second).json()["version"]
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "version": seen},
                       headers=first).status_code == 200
    late = client.post(f"/v1/studies/{study_id}/signoff",
                       json={"decision": "amend", "report_text": "My other reading.", "version": seen}, headers=second)
    assert late.status_code == 409 and late.json()["error"]["code"] == "stale_version"
    assert [kind for _, kind, _ in _reports(study_id)] == ["draft", "signed"]


def test_truly_concurrent_signers_one_wins(client, api_keys) -> None:
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    keys = [api_keys["radiologist"], _second_radiologist(), _second_radiologist()]
    codes = _race(lambda i: client.post(f"/v1/studies/{study_id}/signoff", headers=auth(keys[i]), json={
        "decision": "amend", "report_text": f"Reading {i}.", "version": 1}), len(keys))
    assert codes == [200, 409, 409]
    signed = [text for _, kind, text in _reports(study_id) if kind == "signed"]
    assert len(signed) == 1 and signed[0] in {f"Reading {i}." for i in range(len(keys))}


def test_page_submits_the_version_it_rendered(client, api_keys) -> None:
    create_user()
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    login(client)
    page = client.get(f"/ui/studies/{study_id}").text
    assert 'name="version" value="1"' in page
    # A colleague signs through the API while the page is open.
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "version": 1},
                       headers=auth(api_keys["radiologist"])).status_code == 200
    response = client.post(f"/ui/studies/{study_id}/decision", data={
        "csrf_token": csrf_token(page), "decision": "amend", "report_text": "My edit.", "version": "1"})
    assert response.status_code == 409 and "My edit." in response.text  # the text typed is not lost
    assert [kind for _, kind, _ in _reports(study_id)] == ["draft", "signed"]


def test_signed_text_cannot_be_changed_only_added_to(client, api_keys) -> None:
    create_user()
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    radiologist = auth(api_keys["radiologist"])
    approved = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve"}, headers=radiologist)
    assert approved.status_code == 200
    signed_text = [t for _, kind, t in _reports(study_id) if kind == "signed"][0]
    assert signed_text == DRAFT

    # No route edits the signed text: a second approval, a rejection, and a page "save draft"
    # are all refused; the only change is an addendum, which keeps the original.
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "report_text": "Changed."},
                       headers=radiologist).status_code == 409
    assert client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "reject", "reason": "changed my mind"},
                       headers=radiologist).status_code == 409
    token = login(client)
    version = client.get(f"/v1/studies/{study_id}", headers=radiologist).json()["version"]
    edit = client.post(f"/ui/studies/{study_id}/draft", data={"csrf_token": token, "report_text": "Changed.",
                                                              "version": str(version)})
    assert edit.status_code == 409 and "addendum" in edit.text
    page = client.get(f"/ui/studies/{study_id}").text
    assert 'id="addendum-form"' in page and 'id="decision-form"' not in page

    addendum = {"csrf_token": token, "decision": "amend", "report_text": "ADDENDUM: rib fracture noted.",
                "version": str(version)}
    added = client.post(f"/ui/studies/{study_id}/decision", data=addendum, follow_redirects=False)
    assert added.status_code == 303
    reports = _reports(study_id)
    assert [kind for _, kind, _ in reports] == ["draft", "signed", "addendum"]
    assert reports[1][2] == signed_text and reports[2][2] == "ADDENDUM: rib fracture noted."
    with session_scope() as session:
        assert session.get(Study, study_id).status == StudyStatus.AMENDED
        audit = session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id,
                                                         AuditEvent.action == "review.amend")).one()
        assert audit.actor == "user:alice" and audit.to_status == "AMENDED"


def _race(post: Any, count: int) -> list[int]:
    """Run `post(i)` from `count` threads released together; the status codes, sorted."""
    barrier = threading.Barrier(count)
    codes: list[int] = [0] * count

    def run(index: int) -> None:
        barrier.wait()
        codes[index] = post(index).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(codes)


@pytest.fixture
def postgres_env(postgres_url: str, tmp_path: Any) -> Iterator[None]:
    import os

    from shared.migrate import upgrade
    from tests.conftest import apply_env

    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    apply_env({"RADSTACK_DATA_DIR": str(tmp_path / "data"), "RADSTACK_DATABASE_URL": postgres_url,
               "RADSTACK_ENVIRONMENT": "test"})
    upgrade()
    yield
    apply_env(saved)


@pytest.mark.integration
def test_concurrent_page_signers_on_postgres_one_wins(postgres_env: None) -> None:
    """PostgreSQL does not serialise writers the way SQLite's BEGIN IMMEDIATE does: the page's
    sign-off locks the study row, so the losers see the new version and get 409."""
    from fastapi.testclient import TestClient

    from api_gateway.app import create_app

    with session_scope() as session:
        submitter = create_key(session, name="pacs", role=Role.SUBMITTER, actor="test")[1]
    names = ["alice", "bob", "carol"]
    for name in names:
        create_user(name)
    app = create_app()
    with TestClient(app) as setup:
        study_id = submit(setup, submitter)
    make_reviewable(study_id)
    clients = [TestClient(app) for _ in names]
    tokens = [login(c, name) for c, name in zip(clients, names, strict=True)]
    codes = _race(lambda i: clients[i].post(f"/ui/studies/{study_id}/decision", follow_redirects=False, data={
        "csrf_token": tokens[i], "decision": "amend", "report_text": f"Reading {i}.", "version": "1"}), len(names))
    assert codes == [303, 409, 409]
    assert [kind for _, kind, _ in _reports(study_id)] == ["draft", "signed"]


@pytest.mark.integration
def test_concurrent_api_signers_on_postgres_one_wins(postgres_env: None) -> None:
    """The API's sign-off takes the same row lock: one 200, the rest 409, never a 500."""
    from fastapi.testclient import TestClient

    from api_gateway.app import create_app

    with session_scope() as session:
        submitter = create_key(session, name="pacs", role=Role.SUBMITTER, actor="test")[1]
        doctors = [create_key(session, name=f"dr-{i}", role=Role.RADIOLOGIST, actor="test")[1] for i in range(3)]
    app = create_app()
    with TestClient(app) as setup:
        study_id = submit(setup, submitter)
    make_reviewable(study_id)
    clients = [TestClient(app) for _ in doctors]
    codes = _race(lambda i: clients[i].post(f"/v1/studies/{study_id}/signoff", headers=auth(doctors[i]), json={
        "decision": "amend", "report_text": f"Reading {i}.", "version": 1}), len(doctors))
    assert codes == [200, 409, 409]
    assert [kind for _, kind, _ in _reports(study_id)] == ["draft", "signed"]
