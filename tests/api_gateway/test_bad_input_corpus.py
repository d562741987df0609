"""The bad-input corpus (tests/data/make_bad_corpus.py) against the gateway: every case gets
its status and the JSON error body, a refused case leaves no study and no broker message, the
accepted ones are stored verbatim, and the gateway keeps serving. The same corpus then goes
through STOW-RS and through PostgreSQL, whose column limits SQLite never enforces."""

from __future__ import annotations

import logging
import os
import uuid

import pytest
from sqlalchemy import func, select

from shared.db import session_scope
from shared.models import Image, Study
from tests.conftest import SAMPLES, apply_env, auth
from tests.data.make_bad_corpus import SQL_HTML_ACCESSION, Case, build, cases

# pydicom warns, as it should, about the broken files the corpus is made of.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

CASES = cases()
BY_NAME = {case.name: case for case in CASES}
# What a message may never echo: path parts of hostile names, patient names from headers.
NEVER_ECHOED = ("../", "..\\", "/etc/", "Windows\\", "DOE^JOHN", "M\u00fcller", "Mller")
GOOD_PNG = (SAMPLES / "h0001.png").read_bytes()


def queued_messages(data_dir) -> list:
    folder = data_dir / "broker" / "messages"
    return sorted(folder.iterdir()) if folder.exists() else []


def study_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Study))


def post_case(client, key: str, case: Case):
    files, data = case.multipart()
    return client.post("/v1/studies", files=files or None, data=data, headers=auth(key))


def answer_problems(case: Case, response) -> list[str]:
    """What is wrong with the gateway's answer to one case (empty when it is right)."""
    if response.status_code != case.status:
        return [f"{case.name}: {response.status_code} instead of {case.status}: {response.text[:300]}"]
    if not response.headers.get("content-type", "").startswith("application/json"):
        return [f"{case.name}: answered {response.headers.get('content-type')}, not JSON"]
    body = response.json()
    if case.accepted:
        expected = case.stored_accession
        return [] if expected is None or body.get("accession_number") == expected else [
            f"{case.name}: accession {body.get('accession_number')!r}, expected {expected!r}"]
    problems = []
    if set(body) != {"error"} or set(body["error"]) != {"code", "message"}:
        problems.append(f"{case.name}: error body is not {{error: {{code, message}}}}: {body}")
    elif body["error"]["code"] != case.code or not body["error"]["message"]:
        problems.append(f"{case.name}: code {body['error']['code']!r}, expected {case.code!r}")
    elif any(text in body["error"]["message"] for text in NEVER_ECHOED):
        problems.append(f"{case.name}: the message echoes the upload: {body['error']['message'][:200]}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_gets_its_answer_and_refusals_leave_nothing(client, api_keys, data_dir, case: Case) -> None:
    response = post_case(client, api_keys["submitter"], case)
    assert answer_problems(case, response) == []
    if case.accepted:
        assert study_count() == 1 and len(queued_messages(data_dir)) == 1
        with session_scope() as session:
            study = session.get(Study, response.json()["id"])
            assert study.accession_number == case.stored_accession
            names = session.scalars(select(Image.filename).where(Image.study_id == study.id)).all()
            assert len(names) == case.copies
            if case.stored_filename is not None:
                assert set(names) == {case.stored_filename}
    else:
        # Nothing was written, so nothing can reach a worker.
        assert study_count() == 0 and queued_messages(data_dir) == []
    # A file name is a label: nothing named after it exists anywhere on disk.
    assert not [p for p in data_dir.rglob("*") if p.name in ("passwd", "passwd.png", "win.ini.png")]
    # The gateway keeps serving.
    assert client.post("/v1/studies", files={"files": ("ok.png", GOOD_PNG)}, data={"accession_number": "ACC-OK"},
                       headers=auth(api_keys["submitter"])).status_code == 202


def test_sql_and_html_in_accession_number_are_inert(client, api_keys) -> None:
    key = auth(api_keys["submitter"])
    study_id = post_case(client, api_keys["submitter"], BY_NAME["sql_html_accession"]).json()["id"]
    # Bound as a parameter: the exact string finds exactly this study, and the table survived.
    found = client.get("/v1/studies", params={"accession_number": SQL_HTML_ACCESSION}, headers=key).json()
    assert [s["id"] for s in found["studies"]] == [study_id]
    detail = client.get(f"/v1/studies/{study_id}", headers=key)
    assert detail.headers["content-type"].startswith("application/json")  # never served as HTML
    assert detail.json()["accession_number"] == SQL_HTML_ACCESSION
    assert study_count() == 1


# --- STOW-RS: the DICOM-shaped cases pushed as multipart/related ------------------------------


def stow(client, key: str, parts: list[bytes], content_type: str | None = None):
    boundary = uuid.uuid4().hex
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
                    for p in parts) + b"--" + boundary.encode() + b"--\r\n"
    content_type = content_type or f'multipart/related; type="application/dicom"; boundary={boundary}'
    return client.post("/dicomweb/studies", content=body, headers=auth(key) | {"Content-Type": content_type})


STOW_REFUSED = [c for c in CASES if c.filename and c.filename.endswith(".dcm") and not c.accepted and c.copies == 1]


@pytest.mark.parametrize("case", STOW_REFUSED, ids=[c.name for c in STOW_REFUSED])
def test_stow_refuses_each_bad_instance_and_stores_nothing(client, api_keys, data_dir, case: Case) -> None:
    response = stow(client, api_keys["submitter"], [case.data])
    assert response.status_code == 409, response.text
    failed = response.json()["00081198"]["Value"]
    assert len(failed) == 1 and failed[0]["00081197"]["Value"][0] in (0xA700, 0xA900, 0xC000, 0x0122)
    assert response.json()["00081199"]["Value"] == []
    assert study_count() == 0 and queued_messages(data_dir) == []


def test_stow_keeps_good_instances_beside_bad_ones(client, api_keys, data_dir) -> None:
    good = (SAMPLES / "rsna_cr_pa_monochrome2.dcm").read_bytes()
    response = stow(client, api_keys["submitter"], [good, BY_NAME["dicom_ct"].data, b""])
    assert response.status_code == 202, response.text
    assert len(response.json()["00081198"]["Value"]) == 2 and len(response.json()["00081199"]["Value"]) == 1
    assert study_count() == 1 and len(queued_messages(data_dir)) == 1


@pytest.mark.parametrize("content_type,status", [
    ("application/dicom", 415),
    ("multipart/related; type=\"application/dicom\"", 400),  # no boundary
    ("multipart/related; type=\"application/dicom\"; boundary=nothere", 400),
    ("multipart/related; boundary=\"" + "b" * 5000 + "\"", 400),
])
def test_stow_malformed_bodies_are_json_4xx(client, api_keys, content_type, status) -> None:
    response = stow(client, api_keys["submitter"], [b"\0" * 200], content_type)
    assert response.status_code == status, response.text
    assert set(response.json()["error"]) == {"code", "message"}
    assert study_count() == 0


def test_stow_body_over_the_limit_is_413(client, api_keys, monkeypatch) -> None:
    from shared.config import reset_settings_cache

    monkeypatch.setenv("RADSTACK_MAX_UPLOAD_BYTES", "10000")
    monkeypatch.setenv("RADSTACK_MAX_FILES_PER_STUDY", "2")
    reset_settings_cache()
    try:
        response = stow(client, api_keys["submitter"], [b"\0" * 30000])
    finally:
        reset_settings_cache()
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


# --- failures the corpus cannot provoke ------------------------------------------------------


def test_unexpected_error_is_logged_without_request_data(client, api_keys, monkeypatch, caplog) -> None:
    """A 500's log line names the exception type and route, never its message: database errors
    quote the row being written (file names, accession numbers) in theirs."""
    import api_gateway.routes.studies as studies

    def explode(session, **kwargs):
        # As a database error would: the message quotes the values being written.
        raise RuntimeError(f"INSERT ... {kwargs['uploads'][0].filename!r}, {kwargs['accession_number']!r}")

    monkeypatch.setattr(studies, "create_study", explode)
    with caplog.at_level(logging.ERROR):
        response = client.post("/v1/studies", files={"files": ("DOE^JANE chest.png", GOOD_PNG)},
                               data={"accession_number": "ACC-SECRET"}, headers=auth(api_keys["submitter"]))
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    logged = "\n".join(r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
                       for r in caplog.records)
    assert "RuntimeError" in logged and "/v1/studies" in logged
    assert "DOE^JANE" not in logged and "ACC-SECRET" not in logged


# --- the same corpus on PostgreSQL ------------------------------------------------------------


@pytest.mark.integration
def test_corpus_on_postgres(tmp_path, postgres_url) -> None:
    """VARCHAR lengths and NUL bytes are refused by PostgreSQL only: a header value SQLite
    stores without complaint is a 500 here unless the gateway checks it first."""
    from fastapi.testclient import TestClient

    from api_gateway.app import create_app
    from shared.auth import Role, create_key
    from shared.migrate import upgrade

    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    apply_env({"RADSTACK_DATABASE_URL": postgres_url, "RADSTACK_DATA_DIR": str(tmp_path / "data"),
               "RADSTACK_ENVIRONMENT": "test"})
    try:
        upgrade(postgres_url)
        with session_scope() as session:
            _, key = create_key(session, name="pacs", role=Role.SUBMITTER, actor="test")
        problems, accepted = [], 0
        with TestClient(create_app(), raise_server_exceptions=False) as client:
            for case in build(tmp_path / "bad"):
                before = study_count()
                problems += answer_problems(case, post_case(client, key, case))
                accepted += case.accepted
                if study_count() != before + case.accepted:
                    problems.append(f"{case.name}: {study_count() - before} studies written")
            problems += [f"STOW {c.name}: {r.status_code}" for c in STOW_REFUSED
                         if (r := stow(client, key, [c.data])).status_code != 409]
            for path in ("/v1/studies/%00", "/v1/studies?accession_number=%00"):
                if (response := client.get(path, headers=auth(key))).status_code >= 500:
                    problems.append(f"GET {path}: {response.status_code}")
        assert problems == []
        assert len(queued_messages(tmp_path / "data")) == accepted
    finally:
        apply_env(saved)


# --- memory: the whole corpus through a real gateway process ----------------------------------

# The corpus adds about 300 MiB to the gateway's resident set. Holding every decoded file of a
# request at once (16 float arrays for png_blank_x16), or splitting STOW bodies with the email
# package, each added over 1 GiB. The absolute bound also covers what start-up loads.
GROWTH_LIMIT_BYTES = 640 << 20
RSS_LIMIT_BYTES = 1536 << 20
# A STOW-RS body of 3 x 32 MiB (DICM and then bytes over 0x7F, which the email package would
# turn into 2-byte characters): refused, but only after it has been split into parts.
STOW_LARGE_PART = b"\0" * 128 + b"DICM" + b"\xff" * (32 << 20)


def _peak_rss(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in bytes: the peak resident set since it started, and now."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) * 1024, int(fields["VmRSS"].split()[0]) * 1024


@pytest.mark.slow
def test_gateway_memory_stays_bounded_over_the_corpus(tmp_path) -> None:
    import subprocess
    import time

    import httpx

    from radstack.stack import free_port, radstack_command
    from shared.auth import Role, create_key
    from tests.conftest import ARTIFACTS

    env = {"RADSTACK_DATA_DIR": str(tmp_path / "data"), "RADSTACK_ENVIRONMENT": "test"}
    subprocess.run(radstack_command("migrate"), env=os.environ | env, check=True, stdout=subprocess.DEVNULL)
    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    apply_env(env)
    try:
        with session_scope() as session:
            _, key = create_key(session, name="pacs", role=Role.SUBMITTER, actor="test")
    finally:
        apply_env(saved)
    port = free_port()
    with open(tmp_path / "gateway.log", "wb") as log:
        gateway = subprocess.Popen(radstack_command("gateway", "--host", "127.0.0.1", "--port", str(port)),
                                   env=os.environ | env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers=auth(key)) as client:
            deadline = time.monotonic() + 60
            while True:
                assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "gateway did not start"
                time.sleep(0.2)
            # One good study first, so the baseline includes what any submission loads.
            assert client.post("/v1/studies", files={"files": ("ok.png", GOOD_PNG)},
                               data={"accession_number": "ACC-OK"}).status_code == 202
            baseline, _ = _peak_rss(gateway.pid)
            problems = []
            for case in build(tmp_path / "bad"):
                files, data = case.multipart()
                problems += answer_problems(case, client.post("/v1/studies", files=files or None, data=data))
            problems += [f"STOW {c.name}: {r.status_code}" for c in STOW_REFUSED
                         if (r := stow(client, key, [c.data])).status_code != 409]
            if (response := stow(client, key, [STOW_LARGE_PART] * 3)).status_code != 409:
                problems.append(f"STOW of 96 MiB: {response.status_code}")
            # One file over RADSTACK_MAX_UPLOAD_BYTES (64 MiB): read up to the limit, no further.
            response = client.post("/v1/studies", files={"files": ("big.png", STOW_LARGE_PART * 2 + b"x")},
                                   data={"accession_number": "ACC-HUGE"})
            if response.status_code != 413:
                problems.append(f"a 64 MiB + 1 upload: {response.status_code}")
            peak, now = _peak_rss(gateway.pid)
            assert gateway.poll() is None, "the gateway died"
            assert client.get("/healthz").status_code == 200
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    report = (f"gateway peak RSS over the bad-input corpus ({len(CASES)} cases, "
              f"{len(STOW_REFUSED)} STOW instances, a 96 MiB STOW body, a 64 MiB upload): "
              f"{peak / 2**20:.0f} MiB (VmHWM; {baseline / 2**20:.0f} MiB after start-up and one good study, "
              f"so +{(peak - baseline) / 2**20:.0f} MiB; {now / 2**20:.0f} MiB at the end; limits "
              f"{RSS_LIMIT_BYTES / 2**20:.0f} MiB and +{GROWTH_LIMIT_BYTES / 2**20:.0f} MiB)")
    print(report)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "bad_input_rss.txt").write_text(report + "\n")
    assert problems == []
    accepted = sum(case.accepted for case in CASES)
    assert len(queued_messages(tmp_path / "data")) == accepted + 1, "only accepted studies were enqueued"
    assert peak < RSS_LIMIT_BYTES and peak - baseline < GROWTH_LIMIT_BYTES, report
