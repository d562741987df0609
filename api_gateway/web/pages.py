"""The review UI's pages: login, worklist, study page, and the decisions made from them.

Every page is server-rendered with autoescaping Jinja2; scripts are static files (the CSP
forbids inline script), and data for them travels as a JSON block. Decisions go through
review.decide, exactly as the API's sign-off does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.templating import Jinja2Templates

from api_gateway import views
from api_gateway.deps import SessionDep
from api_gateway.errors import ApiError
from api_gateway.review import decide
from api_gateway.web import worklist
from api_gateway.web.editing import save_draft
from api_gateway.web.forms import (
    check_csrf,
    check_login_csrf,
    form_text,
    parse_version,
    safe_next,
    signoff_request,
)
from api_gateway.web.images import image_views
from api_gateway.web.sessions import (
    LOGIN_CSRF_COOKIE,
    CurrentSession,
    WebSession,
    end_session,
    new_token,
    read_session,
    set_login_csrf,
    start_session,
)
from api_gateway.web.users import actor_for, authenticate
from shared import audit
from shared.labels import CRITICAL, NON_CHEST
from shared.models import Study, as_utc, utcnow
from shared.status import IllegalTransition, StudyStatus
from shared.studies import StudyNotFound, lock_study

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
ASSET_VERSION = "1"  # bump to make browsers refetch app.css / *.js

templates = Jinja2Templates(env=jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=jinja2.StrictUndefined))

# Pages show clinical data: never cached, never framed, no inline script, nothing third-party.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; "
                               "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
NOTICES = {
    "approve": "Signed off.", "amend": "Report signed with your changes.", "reject": "Draft rejected.",
    "saved": "Draft saved.", "unchanged": "Nothing to save: the draft is unchanged.",
}

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    context = {"web": None, "asset_version": ASSET_VERSION} | context
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def _study(session: SessionDep, study_id: str, *, lock: bool = False) -> Study:
    try:
        study = lock_study(session, study_id) if lock else session.get(Study, study_id)
    except StudyNotFound:
        study = None
    if study is None:
        raise ApiError(404, "not_found", f"no study {study_id}")
    return study


@router.get("/")
@router.get("/ui")
@router.get("/ui/")
def home() -> RedirectResponse:
    return redirect("/ui/worklist")


@router.get("/ui/login")
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    if read_session(request, session) is not None:
        return redirect(safe_next(next))
    return _login_form(request, next=safe_next(next))


def _login_form(request: Request, *, next: str, error: str | None = None, username: str = "",
                status_code: int = 200) -> Response:
    token = new_token()
    response = render(request, "login.html", {"csrf_token": token, "next": next, "error": error,
                                              "username": username}, status_code)
    set_login_csrf(response, token)
    return response


@router.post("/ui/login")
def login(
    request: Request, session: SessionDep,
    username: Annotated[str, Form(max_length=200)] = "", password: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
) -> Response:
    check_login_csrf(request, request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token)
    user = authenticate(session, username.strip(), password)
    if user is None:
        audit.record(session, actor="web", action="user.login_failed", details={"username": username.strip()[:100]})
        return _login_form(request, next=safe_next(next), error="Unknown user name or wrong password.",
                           username=username.strip(), status_code=401)
    audit.record(session, actor=actor_for(user), action="user.login", details={"user_id": user.id})
    response = redirect(safe_next(next))
    start_session(response, user)
    return response


@router.post("/ui/logout")
def logout(request: Request, session: SessionDep, web: CurrentSession,
           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, web, csrf_token)
    audit.record(session, actor=web.actor, action="user.logout", details={"user_id": web.user.id})
    response = redirect("/ui/login")
    end_session(response)
    return response


def _filter(name: str | None) -> str:
    return name if name in worklist.STATUS_FILTERS else worklist.DEFAULT_FILTER


@router.get("/ui/worklist")
def worklist_page(request: Request, session: SessionDep, web: CurrentSession,
                  status: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    current = _filter(status)
    return render(request, "worklist.html", {
        "web": web, "rows": worklist.rows(session, current), "filters": worklist.STATUS_FILTERS,
        "current_filter": current,
    })


@router.get("/ui/worklist/rows")
def worklist_rows(request: Request, session: SessionDep, web: CurrentSession,
                  status: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """The table body alone, for the page's periodic refresh (no full reload)."""
    current = _filter(status)
    rows = worklist.rows(session, current)
    response = render(request, "_worklist_rows.html", {"web": web, "rows": rows, "current_filter": current})
    response.headers["X-Worklist-Count"] = str(len(rows))
    return response


def _age(study: Study, status: StudyStatus) -> str:
    """Time waiting while the study is open; once decided, how long it took."""
    end = as_utc(study.updated_at) if status.is_terminal else utcnow()
    prefix = "turnaround" if status.is_terminal else "waiting"
    return f"{prefix} {worklist.human_duration((end - as_utc(study.created_at)).total_seconds())}"


def study_page(request: Request, session: SessionDep, web: WebSession, study: Study, *, status_code: int = 200,
               error: str | None = None, notice: str | None = None, form: dict[str, str] | None = None) -> Response:
    view = views.detail(study)
    status = StudyStatus(study.status)
    previous_id, next_id = worklist.neighbours(session, study.id)
    draft = worklist.ai_draft(study)
    images = image_views(session, study)
    current_text = view["report"]["text"] if view["report"] else ""
    form = form or {}
    return render(request, "study.html", {
        "web": web, "study": view, "status": status.value, "images": images,
        "findings": [f | {"critical": f["positive"] and f["label"] in CRITICAL}
                     for f in view["findings"] if f["label"] not in NON_CHEST],
        "flags": [worklist.flag_text(f) for f in (draft.flags if draft else [])],
        "editable": status == StudyStatus.AWAITING_REVIEW,
        "can_addendum": status in (StudyStatus.SIGNED_OFF, StudyStatus.AMENDED),
        "signed": [r for r in study.reports if r.kind == "signed"][-1:],
        "addenda": [r for r in study.reports if r.kind == "addendum"],
        "rejection": next((r for r in reversed(study.reports) if r.kind == "rejected"), None),
        "draft_text": form.get("report_text", current_text), "reason": form.get("reason", ""),
        "form_version": form.get("version", str(study.version)), "age": _age(study, status),
        "previous_id": previous_id, "next_id": next_id, "error": error, "notice": notice,
        "page_data": {"images": images, "original_text": current_text, "can_sign": web.can_sign,
                      "next": f"/ui/studies/{next_id}" if next_id else None,
                      "previous": f"/ui/studies/{previous_id}" if previous_id else None},
    }, status_code)


@router.get("/ui/studies/{study_id}")
def study_view(request: Request, session: SessionDep, web: CurrentSession, study_id: str,
               notice: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    study = session.get(Study, study_id)
    if study is None:
        return render(request, "error.html", {"web": web, "title": "Study not found",
                                              "message": "There is no study with this id."}, 404)
    audit.record(session, actor=web.actor, action="study.viewed", study_id=study.id, details={"via": "ui"})
    return study_page(request, session, web, study, notice=NOTICES.get(notice or ""))


def _refused(request: Request, session: SessionDep, web: WebSession, study_id: str, exc: Exception,
             form: dict[str, str]) -> Response:
    """Re-render the page with the reason, keeping what the reviewer typed (never lose an edit)."""
    session.rollback()
    if isinstance(exc, ApiError):
        status_code, message = exc.status_code, exc.message
    elif isinstance(exc, IllegalTransition):
        status_code, message = 409, str(exc)
    elif isinstance(exc, ValidationError):
        status_code, message = 400, "; ".join(str(e["msg"]) for e in exc.errors())
    else:
        status_code, message = 400, str(exc)
    if status_code == 409:
        message += " Someone may have decided on this study since you opened it: your text is kept below; " \
                   "reload the page to see the current report."
    return study_page(request, session, web, _study(session, study_id), status_code=status_code, error=message,
                      form=form)


@router.post("/ui/studies/{study_id}/decision")
def post_decision(
    request: Request, session: SessionDep, web: CurrentSession, study_id: str,
    csrf_token: Annotated[str, Form()] = "", decision: Annotated[str, Form()] = "",
    report_text: Annotated[str, Form()] = "", reason: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, web, csrf_token)
    if not web.can_sign:
        raise ApiError(403, "forbidden", "only a radiologist signs, amends or rejects")
    study = _study(session, study_id, lock=True)
    try:
        decide(session, study, signoff_request(decision, report_text, reason, version), actor=web.actor)
    except (ApiError, IllegalTransition, ValidationError) as exc:
        form = {"reason": reason, "version": version} | ({"report_text": report_text} if decision == "amend" else {})
        return _refused(request, session, web, study_id, exc, form)
    session.commit()
    return redirect(f"/ui/studies/{quote(study_id)}?notice={decision}")


@router.post("/ui/studies/{study_id}/draft")
def post_draft(
    request: Request, session: SessionDep, web: CurrentSession, study_id: str,
    csrf_token: Annotated[str, Form()] = "", report_text: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, web, csrf_token)
    if not web.can_sign:
        raise ApiError(403, "forbidden", "only a radiologist edits a draft")
    study = _study(session, study_id, lock=True)
    try:
        saved = save_draft(session, study, form_text(report_text), version=parse_version(version), actor=web.actor)
    except ApiError as exc:
        return _refused(request, session, web, study_id, exc, {"report_text": report_text, "version": version})
    session.commit()
    return redirect(f"/ui/studies/{quote(study_id)}?notice={'saved' if saved else 'unchanged'}")
