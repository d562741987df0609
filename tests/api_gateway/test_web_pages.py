"""The review UI at the HTTP level: login, sessions, CSRF, escaping, pages, decisions."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from PIL import Image as PILImage
from sqlalchemy import select

from shared.db import session_scope
from shared.models import AuditEvent, HeatMap, ReportVersion, Study
from shared.status import StudyStatus
from shared.storage import default_store
from tests.conftest import REPO_ROOT, auth
from tests.review_helpers import PASSWORD, create_user, csrf_token, login, make_reviewable, submit

EVIL = '<script>alert("x")</script>&<b>'


def _actions(study_id: str | None = None) -> list[tuple[str, str]]:
    with session_scope() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if study_id:
            query = query.where(AuditEvent.study_id == study_id)
        return [(e.actor, e.action) for e in session.scalars(query)]


def test_pages_need_a_login(client, api_keys) -> None:
    response = client.get("/ui/worklist", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/login?next=")
    # A bearer key is for the API, not the pages.
    assert client.get("/ui/worklist", headers=auth(api_keys["radiologist"]), follow_redirects=False).status_code == 303
    scripted = client.get("/ui/worklist/rows", headers={"X-Requested-With": "fetch"})
    assert scripted.status_code == 401 and scripted.json()["error"]["code"] == "login_required"


def test_login_sets_a_hardened_session_cookie(client, data_dir) -> None:
    create_user()
    page = client.get("/ui/login")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    response = client.post("/ui/login", data={"username": "alice", "password": PASSWORD,
                                              "csrf_token": csrf_token(page.text), "next": "/ui/worklist"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/ui/worklist"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("radstack_session="))
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/ui" in flags and "max-age=" in flags
    assert "secure" not in flags  # plain-http development default
    assert ("user:alice", "user.login") in _actions()
    assert "Dr Alice Example" in client.get("/ui/worklist").text


def test_secure_cookie_when_configured(data_dir, monkeypatch) -> None:
    from fastapi.testclient import TestClient

    from api_gateway.app import create_app

    create_user()
    monkeypatch.setenv("RADSTACK_SESSION_COOKIE_SECURE", "true")
    from shared.config import reset_settings_cache

    reset_settings_cache()  # the data_dir fixture resets it again afterwards
    # A Secure cookie only comes back over https, as behind the site's TLS proxy.
    with TestClient(create_app(), base_url="https://testserver") as client:
        page = client.get("/ui/login")
        assert "secure" in page.headers["set-cookie"].lower()
        response = client.post("/ui/login", data={"username": "alice", "password": PASSWORD,
                                                  "csrf_token": csrf_token(page.text)}, follow_redirects=False)
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("radstack_session="))
    assert "secure" in cookie.lower()


def test_wrong_password_and_missing_csrf_are_refused(client, data_dir) -> None:
    create_user()
    page = client.get("/ui/login")
    token = csrf_token(page.text)
    wrong = client.post("/ui/login", data={"username": "alice", "password": "not the password", "csrf_token": token})
    assert wrong.status_code == 401 and "wrong password" in wrong.text
    assert "radstack_session" not in wrong.headers.get("set-cookie", "")
    assert ("web", "user.login_failed") in _actions()
    no_token = client.post("/ui/login", data={"username": "alice", "password": PASSWORD})
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf_failed"
    client.cookies.clear()
    replayed = client.post("/ui/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert replayed.status_code == 403  # the token must match this browser's login cookie


def test_open_redirect_after_login_is_refused(client, data_dir) -> None:
    create_user()
    page = client.get("/ui/login")
    response = client.post("/ui/login", data={"username": "alice", "password": PASSWORD, "next": "https://evil.example/",
                                              "csrf_token": csrf_token(page.text)}, follow_redirects=False)
    assert response.headers["location"] == "/ui/worklist"


def test_tampered_cookie_and_disabled_user_log_out(client, data_dir) -> None:
    create_user()
    login(client)
    raw = client.cookies.get("radstack_session")
    tampered = raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")
    client.cookies.clear()
    assert client.get("/ui/worklist", headers={"Cookie": f"radstack_session={raw}"}).status_code == 200
    response = client.get("/ui/worklist", headers={"Cookie": f"radstack_session={tampered}"}, follow_redirects=False)
    assert response.status_code == 303
    client.cookies.clear()
    login(client)
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "radstack.cli", "users", "disable", "alice"], env=env,
                            capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    assert client.get("/ui/worklist", follow_redirects=False).status_code == 303


def test_cli_creates_users_from_stdin_only(data_dir) -> None:
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, "-m", "radstack.cli", "users", "create", "--role", "radiologist", "--username", "bob"]
    no_tty = subprocess.run(command, env=env, input="", capture_output=True, text=True, cwd=REPO_ROOT)
    assert no_tty.returncode == 2 and "--password-stdin" in no_tty.stderr
    short = subprocess.run(command + ["--password-stdin"], env=env, input="short\n", capture_output=True, text=True,
                           cwd=REPO_ROOT)
    assert short.returncode == 1 and "at least" in short.stderr
    made = subprocess.run(command + ["--password-stdin"], env=env, input=PASSWORD + "\n", capture_output=True,
                          text=True, cwd=REPO_ROOT)
    assert made.returncode == 0, made.stderr
    submitter = subprocess.run(command[:4] + ["--role", "submitter", "--username", "pacs", "--password-stdin"],
                               env=env, input=PASSWORD + "\n", capture_output=True, text=True, cwd=REPO_ROOT)
    assert submitter.returncode == 2  # argparse refuses: people are radiologists or admins
    from shared.models import User

    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == "bob"))
        assert user.role == "radiologist" and user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_worklist_escapes_and_orders(client, api_keys) -> None:
    create_user()
    routine = submit(client, api_keys["submitter"], "ROUTINE-OLD")
    critical = submit(client, api_keys["submitter"], EVIL)
    stat = submit(client, api_keys["submitter"], "STAT-1", priority="stat")
    make_reviewable(routine, findings=(("Cardiomegaly", 0.9, 0.5),))
    make_reviewable(critical)
    make_reviewable(stat, findings=(("Nodule", 0.7, 0.5),))
    login(client)
    page = client.get("/ui/worklist").text
    assert EVIL not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&lt;b&gt;" in page
    order = [page.index(s) for s in ("STAT-1", "&lt;script&gt;", "ROUTINE-OLD")]
    assert order == sorted(order)  # STAT, then critical (pneumothorax), then age
    rows = client.get("/ui/worklist/rows", params={"status": "awaiting"}, headers={"X-Requested-With": "fetch"})
    assert rows.status_code == 200 and rows.headers["x-worklist-count"] == "3" and EVIL not in rows.text
    signed_view = client.get("/ui/worklist/rows", params={"status": "signed"})
    assert "No studies in this view" in signed_view.text


def test_study_page_shows_everything_escaped_and_audits_the_view(client, api_keys) -> None:
    create_user()
    study_id = submit(client, api_keys["submitter"], EVIL)
    make_reviewable(study_id, text=DRAFT_WITH_HTML, flags=[{"kind": "asserted_not_detected", "label": "Effusion"}])
    with session_scope() as session:
        study = session.get(Study, study_id)
        buffer = io.BytesIO()
        PILImage.new("RGB", (64, 64), (255, 0, 0)).save(buffer, format="PNG")
        digest = default_store().put(buffer.getvalue())
        session.add(HeatMap(study_id=study_id, image_id=study.images[0].id, label="Pneumothorax", method="gradcam",
                            overlay_sha256=digest, array_sha256=digest))
    login(client)
    page = client.get(f"/ui/studies/{study_id}")
    assert page.status_code == 200
    html = page.text
    assert EVIL not in html and "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # the draft, escaped inside the textarea
    assert "DEMO MODEL, NOT FOR CLINICAL USE" in html
    assert "pneumothorax" in html.lower() and "0.81" in html and "0.50" in html  # score and threshold
    assert "kb:pneumothorax:1" in html and "iu:CXR1234" in html  # evidence with sources
    assert "asserted not detected: pleural effusion" in html
    assert "glioma" not in html.lower()  # brain-MRI labels are never shown as chest findings
    assert f'/ui/studies/{study_id}/heatmaps/' in html and "Keyboard shortcuts" in html
    image = client.get(f"/ui/studies/{study_id}/images/{study.images[0].id}.png")
    assert image.status_code == 200 and image.content[:4] == b"\x89PNG"
    with session_scope() as session:
        heat_map_id = session.scalar(select(HeatMap.id).where(HeatMap.study_id == study_id))
    assert client.get(f"/ui/studies/{study_id}/heatmaps/{heat_map_id}.png").content == buffer.getvalue()
    assert ("user:alice", "study.viewed") in _actions(study_id)
    assert client.get("/ui/studies/nope").status_code == 404


DRAFT_WITH_HTML = "FINDINGS: <img src=x onerror=alert(1)> pneumothorax.\nIMPRESSION: Pneumothorax."


def test_decisions_need_csrf_and_are_audited_as_the_user(client, api_keys) -> None:
    create_user()
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    token = login(client)
    form = {"decision": "amend", "report_text": "FINDINGS: edited.\nIMPRESSION: Edited.", "version": "1"}
    assert client.post(f"/ui/studies/{study_id}/decision", data=form).status_code == 403
    wrong = client.post(f"/ui/studies/{study_id}/decision", data=form | {"csrf_token": "forged"})
    assert wrong.status_code == 403
    cross_site = client.post(f"/ui/studies/{study_id}/decision", data=form | {"csrf_token": token},
                             headers={"Sec-Fetch-Site": "cross-site"})
    assert cross_site.status_code == 403
    saved = client.post(f"/ui/studies/{study_id}/draft", data={"csrf_token": token, "version": "1",
                                                               "report_text": "FINDINGS: edited once."},
                        follow_redirects=False)
    assert saved.status_code == 303
    stale = client.post(f"/ui/studies/{study_id}/decision", data=form | {"csrf_token": token})
    assert stale.status_code == 409 and "reload" in stale.text.lower() and "edited." in stale.text
    signed = client.post(f"/ui/studies/{study_id}/decision", data=form | {"csrf_token": token, "version": "2"},
                         follow_redirects=False)
    assert signed.status_code == 303
    page = client.get(signed.headers["location"]).text
    assert "Report signed with your changes." in page and "signed off" in page
    with session_scope() as session:
        study = session.get(Study, study_id)
        assert study.status == StudyStatus.SIGNED_OFF
        kinds = [(r.kind, r.author) for r in session.scalars(
            select(ReportVersion).where(ReportVersion.study_id == study_id).order_by(ReportVersion.version))]
    assert kinds == [("draft", "ai:composer"), ("draft", "user:alice"), ("signed", "user:alice")]
    actions = _actions(study_id)
    for action in ("study.viewed", "report.edited", "review.amend"):
        assert ("user:alice", action) in actions
    logout = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert logout.status_code == 303 and client.get("/ui/worklist", follow_redirects=False).status_code == 303


def test_admin_reads_but_cannot_sign(client, api_keys) -> None:
    create_user("root", role="admin", display_name=None)
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    token = login(client, "root")
    page = client.get(f"/ui/studies/{study_id}").text
    assert "Only radiologists sign" in page and 'id="approve-button"' not in page
    response = client.post(f"/ui/studies/{study_id}/decision", data={"csrf_token": token, "decision": "approve"})
    assert response.status_code == 403


def test_reject_from_the_page_needs_a_reason(client, api_keys) -> None:
    create_user()
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    token = login(client)
    missing = client.post(f"/ui/studies/{study_id}/decision", data={"csrf_token": token, "decision": "reject",
                                                                    "version": "1"})
    assert missing.status_code == 400 and "needs a reason" in missing.text
    done = client.post(f"/ui/studies/{study_id}/decision", data={"csrf_token": token, "decision": "reject",
                                                                 "version": "1", "reason": "wrong side marker"})
    assert done.status_code == 200 and "Draft rejected." in done.text and "wrong side marker" in done.text


def test_dicom_window_reaches_the_viewer(client, api_keys) -> None:
    import json
    import re

    create_user()
    study_id = submit(client, api_keys["submitter"], "DCM-1", sample="rsna_cr_pa_monochrome2.dcm")
    make_reviewable(study_id)
    with session_scope() as session:  # the sample has no VOI window; give it the one a CR often has
        image = session.get(Study, study_id).images[0]
        image.window_center, image.window_width = 2048.0, 4096.0
    login(client)
    html = client.get(f"/ui/studies/{study_id}").text
    data = json.loads(re.search(r'<script type="application/json" id="study-data">(.*?)</script>', html, re.S).group(1))
    assert data["images"][0]["window"] == {"center": 2048.0, "width": 4096.0} and data["can_sign"] is True
    assert data["images"][0]["label"].endswith("DICOM")
    assert data["original_text"].startswith("FINDINGS:")
