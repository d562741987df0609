"""A radiologist works the queue in a real browser against a real gateway process.

Chromium is Debian's (/usr/bin/chromium, installed by tests/prepare_browser.sh), driven by
Playwright; the gateway runs as `radstack gateway` on a free loopback port over a prepared
SQLite data folder. Screenshots of the worklist and the study page go to
test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from shared.audit import verify_chain
from shared.db import session_scope
from shared.models import AuditEvent, HeatMap, ReportVersion, Study
from shared.status import StudyStatus
from shared.storage import default_store
from tests.conftest import ARTIFACTS, REPO_ROOT
from tests.review_helpers import PASSWORD, create_user, make_reviewable, submit

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = ARTIFACTS / "screenshots"
AMENDED = ("FINDINGS: Small right apical pneumothorax, about 1 cm. No pleural effusion.\n"
           "IMPRESSION: Small right pneumothorax. Clinical correlation advised.")


def _heat_map(study_id: str, label: str) -> None:
    """A smooth blob blended over the film, as the classify stage's Grad-CAM overlay looks."""
    store = default_store()
    with session_scope() as session:
        image = session.get(Study, study_id).images[0]
        film = PILImage.open(io.BytesIO(store.get(image.pixels_sha256))).convert("L")
        grey = np.asarray(film, dtype=np.float32) / 255
        h, w = grey.shape
        yy, xx = np.mgrid[0:h, 0:w]
        heat = np.exp(-(((xx - 0.3 * w) / (0.12 * w)) ** 2 + ((yy - 0.3 * h) / (0.15 * h)) ** 2))[..., None]
        colour = np.concatenate([heat, 0.4 * heat, 0.1 * (1 - heat)], axis=-1)
        rgb = (1 - 0.5 * heat) * grey[..., None] + 0.5 * heat * colour
        buffer = io.BytesIO()
        PILImage.fromarray(np.round(rgb * 255).astype(np.uint8)).save(buffer, format="PNG")
        digest = store.put(buffer.getvalue())
        session.add(HeatMap(study_id=study_id, image_id=image.id, label=label, method="gradcam",
                            overlay_sha256=digest, array_sha256=digest))


@pytest.fixture
def gateway(data_dir: Path) -> Iterator[str]:
    from radstack.stack import free_port

    port = free_port()
    log = open(data_dir / "gateway.log", "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([sys.executable, "-m", "radstack.cli", "gateway", "--host", "127.0.0.1", "--port",
                                str(port)], cwd=REPO_ROOT, env=os.environ | {"PYTHONPATH": str(REPO_ROOT)},
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data_dir / "gateway.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "gateway did not come up"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: tests/prepare_browser.sh installs it")
        pytest.skip("/usr/bin/chromium is missing (run tests/prepare_browser.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def test_radiologist_amends_and_signs_in_the_browser(client, api_keys, gateway, browser) -> None:
    from playwright.sync_api import expect

    create_user()
    routine = submit(client, api_keys["submitter"], "ACC-1001", sample="00000001_000.png")
    stat = submit(client, api_keys["submitter"], "ACC-<b>2002</b>", priority="stat", sample="00000001_000.png")
    make_reviewable(routine, findings=(("Cardiomegaly", 0.71, 0.5), ("Effusion", 0.2, 0.5)))
    make_reviewable(stat, flags=[{"kind": "detected_not_mentioned", "label": "Nodule"}])
    _heat_map(stat, "Pneumothorax")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1480, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{gateway}/ui/worklist")
    expect(page).to_have_url(f"{gateway}/ui/login?next=%2Fui%2Fworklist")
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#login-button")
    expect(page).to_have_url(f"{gateway}/ui/worklist")

    rows = page.locator("#rows tr.row")
    expect(rows).to_have_count(2)
    # STAT first; the accession's HTML shows as text, never as markup.
    expect(rows.nth(0).locator(".accession a")).to_have_text("ACC-<b>2002</b>")
    expect(rows.nth(1).locator(".accession a")).to_have_text("ACC-1001")
    expect(rows.nth(0)).to_contain_text("pneumothorax")
    expect(rows.nth(0)).to_contain_text("1 flag")

    # The table refreshes in place: a new study appears without a page load.
    late = submit(client, api_keys["submitter"], "ACC-3003", sample="00000001_000.png")
    make_reviewable(late, findings=(("Nodule", 0.66, 0.5),))
    page.evaluate("window.__marker = 'same page'")
    page.keyboard.press("r")
    expect(rows).to_have_count(3)
    assert page.evaluate("window.__marker") == "same page"
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class("row is-stat is-critical is-selected")
    page.screenshot(path=str(SCREENSHOTS / "worklist.png"), full_page=True)

    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{gateway}/ui/studies/{stat}")
    expect(page.locator("#demo-banner")).to_contain_text("DEMO MODEL, NOT FOR CLINICAL USE")
    expect(page.locator("#accession")).to_have_text("ACC-<b>2002</b>")
    expect(page.locator(".viewer canvas").first).to_be_visible()  # window/level applied on the canvas
    expect(page.locator("#flags")).to_contain_text("detected not mentioned: nodule")
    expect(page.locator("#evidence")).to_contain_text("kb:pneumothorax:1")
    page.select_option("#heatmap-select", index=1)
    expect(page.locator(".viewer img.overlay").first).to_be_visible()
    page.fill("#wl-center", "150")
    page.dispatch_event("#wl-center", "input")
    expect(page.locator("#wl-center-value")).to_have_text("150")

    expect(page.locator("#amend-button")).to_be_disabled()
    page.fill("#report-text", AMENDED)
    expect(page.locator("#approve-button")).to_be_disabled()
    expect(page.locator("#amend-button")).to_be_enabled()
    page.screenshot(path=str(SCREENSHOTS / "study.png"), full_page=True)
    page.click("#amend-button")
    expect(page.locator("#notice")).to_have_text("Report signed with your changes.")
    expect(page.locator("#study-status")).to_have_text("signed off")
    expect(page.locator("#signed-report")).to_contain_text("about 1 cm")
    page.screenshot(path=str(SCREENSHOTS / "signed.png"), full_page=True)

    # Keyboard: j goes to the next waiting study, s signs it off as it is after a confirmation.
    page.keyboard.press("j")
    expect(page).to_have_url(f"{gateway}/ui/studies/{routine}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("s")
    expect(page.locator("#notice")).to_have_text("Signed off.")
    page.goto(f"{gateway}/ui/worklist")
    expect(rows).to_have_count(1)
    assert not problems, problems  # no script errors, no CSP violations
    context.close()

    with session_scope() as session:
        study = session.get(Study, stat)
        assert study.status == StudyStatus.SIGNED_OFF
        reports = list(session.scalars(select(ReportVersion).where(ReportVersion.study_id == stat)
                                       .order_by(ReportVersion.version)))
        assert [(r.kind, r.author) for r in reports] == [("draft", "ai:composer"), ("signed", "user:alice")]
        assert reports[-1].text == AMENDED and reports[0].text != AMENDED  # the machine draft is kept
        assert session.get(Study, routine).status == StudyStatus.SIGNED_OFF
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.study_id == stat).order_by(AuditEvent.id)))
        by_user = [(e.action, e.to_status) for e in events if e.actor == "user:alice"]
        assert ("study.viewed", None) in by_user and ("review.amend", "SIGNED_OFF") in by_user
        amend = next(e for e in events if e.action == "review.amend")
        assert amend.details["edited"] is True
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "user.login")).actor == "user:alice"
        assert verify_chain(session).ok
    for name in ("worklist.png", "study.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000
