"""Who may call what: one rule per route of create_app(), per caller, checked over HTTP.

A route without a rule fails test_every_route_has_a_rule, so a new endpoint cannot ship
without someone deciding who may call it. Callers hold API keys: anonymous (no key), an
unknown key, the submitter that owns the study, another submitter, a radiologist, an admin.
The review UI's pages under /ui take a browser session, never a key, so with any key they
answer as without one (a redirect to the login page, or 401 for a scripted or POST request).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi.routing import APIRoute
from PIL import Image as PILImage

from shared.db import session_scope
from shared.models import HeatMap, Study
from shared.status import StudyStatus
from shared.storage import default_store
from tests.conftest import SAMPLES, auth
from tests.review_helpers import make_reviewable, submit

OK, REDIRECT, LOGIN = "2xx", "redirect", "login"
ROLES = ("anonymous", "unknown_key", "owner", "other", "radiologist", "admin")


def _expect(anonymous: Any, owner: Any, other: Any, radiologist: Any, admin: Any) -> dict[str, Any]:
    # An unknown or revoked key is treated exactly like no key.
    return {"anonymous": anonymous, "unknown_key": anonymous, "owner": owner, "other": other,
            "radiologist": radiologist, "admin": admin}


PUBLIC = _expect(OK, OK, OK, OK, OK)
SUBMIT = _expect(401, OK, OK, 403, OK)  # admin may submit too (deps.Submitter)
# Another client's study is a 404, not a 403, so that study ids cannot be probed.
READ_STUDY = _expect(401, OK, 404, OK, OK)
LIST = _expect(401, OK, OK, OK, OK)  # filtered: see test_route_answers_each_caller_as_its_rule_says
SIGN = _expect(401, 403, 403, OK, 403)
RETRY = _expect(401, 403, 403, 403, OK)
WORKLIST = _expect(401, 403, 403, OK, OK)
PAGE = _expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)
ANYONE_REDIRECTED = _expect(REDIRECT, REDIRECT, REDIRECT, REDIRECT, REDIRECT)
# No session, no login-CSRF cookie: refused before any password is looked at.
LOGIN_POST = _expect(403, 403, 403, 403, 403)


@dataclass(frozen=True)
class World:
    study_id: str  # owned by "owner", AWAITING_REVIEW, with a draft, findings and a heat map
    image_id: str
    heat_map_id: int
    failed_id: str  # owned by "owner", FAILED


Request = Callable[[World], tuple[str, dict[str, Any]]]


def _get(url: Callable[[World], str]) -> Request:
    return lambda w: (url(w), {})


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(np.zeros((32, 32), dtype=np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _stow_request(w: World) -> tuple[str, dict[str, Any]]:
    body = (b"--b\r\nContent-Type: application/dicom\r\n\r\n" + (SAMPLES / "rsna_cr_pa_monochrome2.dcm").read_bytes()
            + b"\r\n--b--\r\n")
    content_type = 'multipart/related; type="application/dicom"; boundary=b'
    return "/dicomweb/studies", {"content": body, "headers": {"Content-Type": content_type}}


FORM = {"data": {"csrf_token": "forged", "decision": "approve", "report_text": "x"}}
S = "/v1/studies"

RULES: dict[tuple[str, str], tuple[dict[str, Any], Request]] = {
    ("GET", "/healthz"): (PUBLIC, _get(lambda w: "/healthz")),
    ("GET", "/metrics"): (PUBLIC, _get(lambda w: "/metrics")),
    ("POST", S): (SUBMIT, lambda w: (S, {"files": {"files": ("x.png", _png())}, "data": {"accession_number": "M"}})),
    ("GET", S): (LIST, _get(lambda w: S)),
    ("GET", S + "/{study_id}"): (READ_STUDY, _get(lambda w: f"{S}/{w.study_id}")),
    ("GET", S + "/{study_id}/audit"): (READ_STUDY, _get(lambda w: f"{S}/{w.study_id}/audit")),
    ("GET", S + "/{study_id}/images/{image_id}.png"):
        (READ_STUDY, _get(lambda w: f"{S}/{w.study_id}/images/{w.image_id}.png")),
    ("GET", S + "/{study_id}/heatmaps/{heat_map_id}.{kind}"):
        (READ_STUDY, _get(lambda w: f"{S}/{w.study_id}/heatmaps/{w.heat_map_id}.npy")),
    ("GET", S + "/{study_id}/report.fhir.json"): (READ_STUDY, _get(lambda w: f"{S}/{w.study_id}/report.fhir.json")),
    ("POST", S + "/{study_id}/signoff"):
        (SIGN, lambda w: (f"{S}/{w.study_id}/signoff", {"json": {"decision": "approve"}})),
    ("POST", S + "/{study_id}/retry"): (RETRY, lambda w: (f"{S}/{w.failed_id}/retry", {})),
    ("GET", "/v1/worklist"): (WORKLIST, _get(lambda w: "/v1/worklist")),
    ("POST", "/dicomweb/studies"): (SUBMIT, _stow_request),
    # The review UI (cookie sessions; its own tests cover logged-in use).
    ("GET", "/"): (ANYONE_REDIRECTED, _get(lambda w: "/")),
    ("GET", "/ui"): (ANYONE_REDIRECTED, _get(lambda w: "/ui")),
    ("GET", "/ui/"): (ANYONE_REDIRECTED, _get(lambda w: "/ui/")),
    ("GET", "/ui/login"): (PUBLIC, _get(lambda w: "/ui/login")),
    ("POST", "/ui/login"): (LOGIN_POST, lambda w: ("/ui/login", {"data": {"username": "admin", "password": "x"}})),
    ("POST", "/ui/logout"): (PAGE, lambda w: ("/ui/logout", FORM)),
    ("GET", "/ui/worklist"): (PAGE, _get(lambda w: "/ui/worklist")),
    ("GET", "/ui/worklist/rows"): (PAGE, _get(lambda w: "/ui/worklist/rows")),
    ("GET", "/ui/studies/{study_id}"): (PAGE, _get(lambda w: f"/ui/studies/{w.study_id}")),
    ("POST", "/ui/studies/{study_id}/decision"): (PAGE, lambda w: (f"/ui/studies/{w.study_id}/decision", FORM)),
    ("POST", "/ui/studies/{study_id}/draft"): (PAGE, lambda w: (f"/ui/studies/{w.study_id}/draft", FORM)),
    ("GET", "/ui/studies/{study_id}/images/{image_id}.png"):
        (PAGE, _get(lambda w: f"/ui/studies/{w.study_id}/images/{w.image_id}.png")),
    ("GET", "/ui/studies/{study_id}/heatmaps/{heat_map_id}.png"):
        (PAGE, _get(lambda w: f"/ui/studies/{w.study_id}/heatmaps/{w.heat_map_id}.png")),
}
# Routes that are not API routes: FastAPI's own documentation, the UI's static files.
NON_API_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/ui/static"}


def app_routes() -> list[tuple[Any, str]]:
    """(route, full path) for every route of the app, through included routers."""
    from api_gateway.app import create_app

    app = create_app()
    try:  # FastAPI >= 0.16x keeps included routers as nodes; older versions flatten them
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return [(route, route.path) for route in app.routes]
    return [(context.original_route, context.path) for context in iter_route_contexts(app.routes)]


def test_every_route_has_a_rule() -> None:
    routes = app_routes()
    declared = {(method, path) for route, path in routes if isinstance(route, APIRoute)
                for method in route.methods - {"HEAD"}}
    missing = sorted(declared - RULES.keys())
    assert not missing, f"routes without an authorization rule (add them to RULES): {missing}"
    stale = sorted(RULES.keys() - declared)
    assert not stale, f"rules for routes that no longer exist (remove or rename them): {stale}"
    others = sorted({path for route, path in routes if not isinstance(route, APIRoute)} - NON_API_ROUTES)
    assert not others, f"non-API routes nobody has reviewed: {others}"


@pytest.fixture
def world(client, api_keys) -> World:
    study_id = submit(client, api_keys["submitter"], "AUTHZ")
    make_reviewable(study_id)
    failed_id = submit(client, api_keys["submitter"], "AUTHZ-FAILED")
    from shared.studies import lock_study, transition

    store = default_store()
    with session_scope() as session:
        transition(session, lock_study(session, failed_id), StudyStatus.FAILED, actor="test")
        image_id = session.get(Study, study_id).images[0].id
        array = io.BytesIO()
        np.save(array, np.zeros((7, 7), dtype=np.float32))
        heat_map = HeatMap(study_id=study_id, image_id=image_id, label="Pneumothorax", method="gradcam",
                           overlay_sha256=store.put(_png()), array_sha256=store.put(array.getvalue()))
        session.add(heat_map)
        session.flush()
        return World(study_id=study_id, image_id=image_id, heat_map_id=heat_map.id, failed_id=failed_id)


def _headers(role: str, api_keys: dict[str, str]) -> dict[str, str]:
    key = {"anonymous": None, "unknown_key": "rsk_unknown-key-000000000000000000000000000",
           "owner": api_keys["submitter"], "other": api_keys["other_submitter"],
           "radiologist": api_keys["radiologist"], "admin": api_keys["admin"]}[role]
    return auth(key) if key else {}


def _mismatch(expected: Any, method: str, response: Any) -> str | None:
    status = response.status_code
    if expected == OK:
        return None if 200 <= status < 300 else f"{status}, expected 2xx"
    if expected == REDIRECT:
        return None if status == 303 else f"{status}, expected a 303 redirect"
    if expected == LOGIN:
        if method == "GET":
            location = response.headers.get("location", "")
            if status == 303 and location.startswith("/ui/login"):
                return None
            return f"{status} {location!r}, expected a redirect to the login page"
        expected = 401
    if status != expected:
        return f"{status}, expected {expected}"
    body = response.json()
    return None if set(body) == {"error"} and set(body["error"]) == {"code", "message"} else f"error body {body}"


@pytest.mark.parametrize("method,path", sorted(RULES), ids=[f"{m} {p}" for m, p in sorted(RULES)])
def test_route_answers_each_caller_as_its_rule_says(client, api_keys, world, method, path) -> None:
    expected, make_request = RULES[(method, path)]
    assert set(expected) == set(ROLES)
    problems = []
    # Refusals first: the allowed callers may change the study (sign it, retry it).
    for role in sorted(ROLES, key=lambda r: expected[r] == OK):
        url, kwargs = make_request(world)
        headers = _headers(role, api_keys) | kwargs.pop("headers", {})
        response = client.request(method, url, headers=headers, follow_redirects=False, **kwargs)
        if (problem := _mismatch(expected[role], method, response)) is not None:
            problems.append(f"{role}: {problem}: {response.text[:200]}")
        elif (method, path) == ("GET", S) and expected[role] == OK:
            listed = {s["id"] for s in response.json()["studies"]}
            if (world.study_id in listed) != (role != "other"):
                problems.append(f"{role}: sees the owner's study: {world.study_id in listed}")
        elif (method, path) == ("GET", "/v1/worklist") and expected[role] == OK:
            if world.study_id not in {s["id"] for s in response.json()["studies"]}:
                problems.append(f"{role}: the study awaiting review is not on the worklist")
    assert problems == [], f"{method} {path}"


API_PATHS = sorted({path for _, path in RULES if path.startswith(("/v1", "/dicomweb", "/healthz", "/metrics"))})


@pytest.mark.parametrize("path", API_PATHS)
def test_methods_without_a_route_are_405(client, api_keys, world, path) -> None:
    url = path.replace("{study_id}", world.study_id).replace("{image_id}", world.image_id)
    url = url.replace("{heat_map_id}", str(world.heat_map_id)).replace("{kind}", "png")
    for method in sorted({"PUT", "PATCH", "DELETE"} - {m for m, p in RULES if p == path}):
        response = client.request(method, url, headers=auth(api_keys["admin"]))
        assert response.status_code == 405, f"{method} {url}: {response.status_code}"
        assert response.json()["error"]["code"] == "method_not_allowed"


# --- mass assignment -----------------------------------------------------------------------------


def test_submit_ignores_fields_that_are_not_its_own(client, api_keys, world) -> None:
    """status, signed_by, id, client_id in the form or the query string change nothing: the
    server sets them (QUEUED, no signer, a fresh id, the caller's key)."""
    from sqlalchemy import select

    from shared.models import ApiKey, ReportVersion

    with session_scope() as session:
        other_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "test-other_submitter"))
        owner_id = session.scalar(select(ApiKey.id).where(ApiKey.name == "test-submitter"))
    forged = {"status": "SIGNED_OFF", "signed_by": "radiologist:mallory", "id": "f" * 32, "client_id": other_id,
              "version": "99", "attempts": "-5", "patient_ref": "forged"}
    response = client.post(S, params=forged, files={"files": ("x.png", _png())},
                           data={"accession_number": "MASS"} | forged, headers=auth(api_keys["submitter"]))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"] != forged["id"] and body["status"] == "QUEUED"
    with session_scope() as session:
        study = session.get(Study, body["id"])
        assert study.client_id == owner_id and study.status == StudyStatus.QUEUED
        assert study.version != 99 and study.patient_ref is None
        assert session.get(Study, forged["id"]) is None
        assert not session.scalars(select(ReportVersion).where(ReportVersion.study_id == study.id)).all()
    assert client.get(f"{S}/{body['id']}", headers=auth(api_keys["other_submitter"])).status_code == 404


@pytest.mark.parametrize("extra", [{"id": "f" * 32}, {"client_id": "someone"}, {"author": "radiologist:mallory"},
                                   {"kind": "signed"}, {"study_id": "x"}, {"accession_number": "X"}])
def test_signoff_refuses_fields_that_are_not_its_own(client, api_keys, world, extra) -> None:
    # status and signed_by are in test_access_and_review.py; these are the rest of the row.
    response = client.post(f"{S}/{world.study_id}/signoff", json={"decision": "approve"} | extra,
                           headers=auth(api_keys["radiologist"]))
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"
    with session_scope() as session:
        assert session.get(Study, world.study_id).status == StudyStatus.AWAITING_REVIEW
