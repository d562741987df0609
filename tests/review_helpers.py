"""Helpers for the review UI, FHIR, callback and review-rule tests: studies made reviewable
without running the workers, people who log in, and a logged-in TestClient."""

from __future__ import annotations

import re
from typing import Any

from shared.db import session_scope
from shared.models import Evidence, Finding, ReportVersion
from shared.status import StudyStatus
from tests.conftest import SAMPLES, auth

DRAFT = "FINDINGS: Small right pneumothorax. No pleural effusion.\nIMPRESSION: Small right pneumothorax."
PASSWORD = "correct horse battery staple"
DEFAULT_FINDINGS = (("Pneumothorax", 0.81, 0.5), ("Effusion", 0.12, 0.5), ("Cardiomegaly", 0.33, 0.5),
                    ("Nodule", 0.62, 0.5), ("Glioma", 0.4, 0.5))


def submit(client: Any, key: str, accession: str = "ACC-1", *, priority: str = "routine",
           callback_url: str | None = None, sample: str = "h0001.png") -> str:
    data = {"accession_number": accession, "priority": priority}
    if callback_url:
        data["callback_url"] = callback_url
    response = client.post("/v1/studies", files={"files": ("x.png", (SAMPLES / sample).read_bytes())}, data=data,
                           headers=auth(key))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def make_reviewable(study_id: str, text: str = DRAFT, *,
                    findings: tuple[tuple[str, float, float], ...] = DEFAULT_FINDINGS, is_demo: bool = True,
                    flags: list[dict[str, Any]] | None = None, study_instance_uid: str | None = None) -> None:
    """Stand in for the workers: findings, evidence, a draft, and the moves to AWAITING_REVIEW."""
    from shared import callbacks
    from shared.studies import lock_study, transition

    with session_scope() as session:
        study = lock_study(session, study_id)
        if study_instance_uid:
            study.study_instance_uid = study_instance_uid
        image_id = study.images[0].id
        for label, probability, threshold in findings:
            session.add(Finding(study_id=study_id, image_id=image_id, label=label, probability=probability,
                                threshold=threshold, positive=probability >= threshold, model_id="demo",
                                model_version="test", weights_sha256="0" * 64, is_demo=is_demo))
        session.add(Evidence(study_id=study_id, kind="knowledge", source_id="kb:pneumothorax:1",
                             labels=["Pneumothorax"], text="A pneumothorax shows a visceral pleural line.",
                             score=0.91, rank=1, retriever="tfidf"))
        session.add(Evidence(study_id=study_id, kind="prior_report", source_id="iu:CXR1234",
                             labels=["Pneumothorax"], text="Small apical pneumothorax on the right.",
                             score=0.55, rank=2, retriever="tfidf"))
        for status in (StudyStatus.CLASSIFYING, StudyStatus.RETRIEVING, StudyStatus.DRAFTING):
            transition(session, study, status, actor="test")
        session.add(ReportVersion(study_id=study_id, version=1, kind="draft", text=text, author="ai:composer",
                                  writer="composer", flags=flags or [], is_demo=is_demo))
        callbacks.schedule(session, study, "draft_ready")
        transition(session, study, StudyStatus.AWAITING_REVIEW, actor="test")


def create_user(username: str = "alice", role: str = "radiologist", password: str = PASSWORD,
                display_name: str | None = "Dr Alice Example") -> str:
    from api_gateway.web.users import create_user as create
    from shared.auth import Role

    with session_scope() as session:
        return create(session, username=username, role=Role(role), password=password, display_name=display_name,
                      actor="test").id


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def login(client: Any, username: str = "alice", password: str = PASSWORD) -> str:
    """Log the TestClient in; returns the session's CSRF token (from the worklist page)."""
    page = client.get("/ui/login")
    response = client.post("/ui/login", data={"username": username, "password": password,
                                              "csrf_token": csrf_token(page.text), "next": "/ui/worklist"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    worklist = client.get("/ui/worklist")
    assert worklist.status_code == 200, worklist.text
    return csrf_token(worklist.text)
