"""No patient identifiers in any process's log after a full run on Redis and PostgreSQL.

Studies go in with identifiers in every place a PACS puts them: the DICOM header (PatientID,
PatientName, PatientBirthDate, OtherPatientIDs), the file name, the accession number (form field
and header), and some are refused on the way (not a chest film, unreadable) so the error paths
log too. Workers run at DEBUG, the most an operator would turn on. Then every log is scanned.

Accession numbers are not patient identifiers, but the RIS maps each to one patient, so they are
held to the same rule: no log may carry them (the database and the API are where they belong).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.uid import generate_uid

from radstack.stack import Stack
from tests.conftest import ARTIFACTS, SAMPLES, apply_env
from tests.integration.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A patient made up for this test, with values unlikely to occur in a log by chance.
SYNTHETIC = {"PatientName": "PHITESTFAMILY^PHITESTGIVEN", "PatientID": "PHI-MRN-7392018",
             "PatientBirthDate": "19410317", "OtherPatientIDs": "PHI-OTHER-55120",
             "AccessionNumber": "PHIACC55512"}
PNG_ACCESSION, PNG_NAME = "ACC-PHI-PNG-88421", "PHITESTFAMILY^JANE_19410317.png"
FORM_ACCESSIONS = ("ACC-PHI-DCM-30117", "ACC-PHI-DCM-30118")
IDENTIFYING = ("PatientID", "PatientName", "PatientBirthDate", "OtherPatientIDs")


def synthetic_dicom(**changes: str) -> bytes:
    ds = pydicom.dcmread(SAMPLES / "rsna_cr_pa_monochrome2.dcm")
    for keyword, value in (SYNTHETIC | changes).items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID = generate_uid()
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def patient_identifiers(datasets: list[bytes]) -> set[str]:
    """Every identifying value in the headers, and each part of a name on its own."""
    found: set[str] = set()
    for data in datasets:
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        for keyword in IDENTIFYING:
            value = ds.get(keyword)
            if value is None:
                continue
            values = value if isinstance(value, pydicom.multival.MultiValue) else [value]
            for item in map(str, values):
                found.add(item.strip())
                found.update(part for part in item.replace("=", "^").split("^") if len(part) >= 4)
    return {value for value in found if len(value) >= 6}


def leaks(log_dir: Path, needles: set[str], names: tuple[str, ...] = ("",)) -> dict[str, list[str]]:
    """{log file: identifiers found in it} over the logs whose name starts with one of `names`."""
    found = {}
    for log in sorted(log_dir.glob("*.log")):
        if log.name.startswith(names):
            content = log.read_text(errors="replace").lower()
            hits = sorted(n for n in needles if n.lower() in content)
            if hits:
                found[log.name] = hits
    return found


def test_no_patient_identifiers_in_any_log(tmp_path, postgres_url, redis_url) -> None:
    env = {"RADSTACK_DATA_DIR": str(tmp_path / "data"), "RADSTACK_DATABASE_URL": postgres_url,
           "RADSTACK_BROKER_URL": redis_url, "RADSTACK_MODEL": "demo", "RADSTACK_ENVIRONMENT": "test"}
    log_dir = ARTIFACTS / "logs" / "no-phi"
    for old in log_dir.glob("*.log"):
        old.unlink()  # Stack appends: a previous run's lines would be scanned too
    samples = [(SAMPLES / name).read_bytes() for name in ("rsna_cr_pa_monochrome1.dcm", "rsna_cr_pa_monochrome2.dcm")]
    synthetic = synthetic_dicom()
    refused = {"ct.dcm": synthetic_dicom(Modality="CT"), "cut.dcm": synthetic_dicom()[:60000]}
    identifiers = patient_identifiers([*samples, synthetic, *refused.values()])
    assert {"PHI-MRN-7392018", "PHITESTFAMILY", "19410317"} <= identifiers
    assert str(pydicom.dcmread(io.BytesIO(samples[0])).PatientID) in identifiers
    accessions = {PNG_ACCESSION, *FORM_ACCESSIONS, SYNTHETIC["AccessionNumber"]}

    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    stack = Stack(env=env, log_dir=log_dir, worker_args=("--loglevel", "DEBUG"))
    try:
        stack.start()
        apply_env(env)
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, pacs = create_key(session, name="pacs", role=Role.SUBMITTER)
            _, doctor = create_key(session, name="dr", role=Role.RADIOLOGIST)
        headers, reviewer = {"Authorization": f"Bearer {pacs}"}, {"Authorization": f"Bearer {doctor}"}
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            def post(name: str, data: bytes, accession: str | None = None) -> httpx.Response:
                form = {"accession_number": accession} if accession else {}
                return client.post("/v1/studies", files={"files": (name, data)}, data=form, headers=headers)

            accepted = [post(f"{SYNTHETIC['PatientName']}.dcm", data, accession)
                        for data, accession in zip(samples, FORM_ACCESSIONS, strict=True)]
            accepted.append(post("x.dcm", synthetic))  # the header's AccessionNumber is used
            accepted.append(post(PNG_NAME, (SAMPLES / "00000001_000.png").read_bytes(), PNG_ACCESSION))
            assert [r.status_code for r in accepted] == [202] * 4, [r.text for r in accepted]
            assert [post(name, data).status_code for name, data in refused.items()] == [415, 422]
            ids = [r.json()["id"] for r in accepted]
            for study_id, body in wait_for(client, pacs, ids).items():
                assert body["status"] == "AWAITING_REVIEW", body.get("error")
                # A radiologist's reads are logged (audited) too.
                assert client.get(f"/v1/studies/{study_id}", headers=reviewer).status_code == 200
            assert accepted[2].json()["accession_number"] == SYNTHETIC["AccessionNumber"]
    finally:
        stack.stop()
        apply_env(saved)

    logs = {log.name: log.stat().st_size for log in log_dir.glob("*.log")}
    assert {"gateway.log", "worker-classify.log", "worker-retrieve.log", "worker-generate.log",
            "worker-maintenance.log"} <= set(logs), logs
    assert all(logs[name] > 0 for name in logs if name.startswith("worker-")), f"a worker logged nothing: {logs}"
    assert leaks(log_dir, identifiers) == {}, "patient identifiers in logs"
    assert leaks(log_dir, {"PHITESTFAMILY^JANE", "JANE_19410317"}) == {}, "an uploaded file name in logs"
    assert leaks(log_dir, accessions, ("worker-",)) == {}, "accession numbers in worker logs"
    assert leaks(log_dir, accessions) == {}, "accession numbers in the gateway's log"
