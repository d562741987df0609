"""POST /v1/studies: valid uploads become committed, queued studies; bad ones leave nothing."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from sqlalchemy import func, select

from shared.db import session_scope
from shared.models import AuditEvent, Image, Study
from tests.conftest import SAMPLES, auth


def _queued_messages(data_dir) -> list:
    folder = data_dir / "broker" / "messages"
    return sorted(folder.iterdir()) if folder.exists() else []


def _study_count() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(Study))


def _submit(client, key, files, **data):
    return client.post("/v1/studies", files=files, data=data, headers=auth(key))


def test_png_submission_is_committed_then_enqueued(client, api_keys, data_dir) -> None:
    png = (SAMPLES / "00000001_000.png").read_bytes()
    response = _submit(client, api_keys["submitter"], {"files": ("cxr.png", png)},
                       accession_number="ACC-1", priority="stat")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "QUEUED" and body["ups_state"] == "SCHEDULED"
    assert body["links"]["self"] == f"/v1/studies/{body['id']}"
    with session_scope() as session:
        study = session.get(Study, body["id"])
        assert study.priority == "stat" and study.accession_number == "ACC-1"
        image = session.scalar(select(Image).where(Image.study_id == study.id))
        assert (image.width, image.height, image.source_format) == (512, 512, "png")
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)).all()
        assert actions == ["study.received", "status.queued"]
    messages = _queued_messages(data_dir)
    assert len(messages) == 1 and b"studies.classify" in messages[0].read_bytes()


def test_dicom_submission_takes_metadata_from_the_header(client, api_keys) -> None:
    data = (SAMPLES / "rsna_cr_pa_monochrome2.dcm").read_bytes()
    dataset = pydicom.dcmread(io.BytesIO(data))
    response = _submit(client, api_keys["submitter"], {"files": ("x.dcm", data)})
    assert response.status_code == 202, response.text
    detail = client.get(response.json()["links"]["self"], headers=auth(api_keys["submitter"])).json()
    # This de-identified file has no AccessionNumber: the StudyInstanceUID stands in.
    assert detail["accession_number"] == (dataset.get("AccessionNumber") or dataset.StudyInstanceUID)
    assert detail["study_instance_uid"] == dataset.StudyInstanceUID
    assert detail["images"][0]["modality"] == "CR" and detail["images"][0]["view_position"] == "PA"
    with session_scope() as session:
        study = session.get(Study, response.json()["id"])
        # Only a pseudonym of the patient id is stored, never the id or the name.
        assert study.patient_ref != str(dataset.get("PatientID"))


def test_idempotency_key_returns_the_first_study(client, api_keys) -> None:
    png = (SAMPLES / "h0001.png").read_bytes()
    headers = auth(api_keys["submitter"]) | {"Idempotency-Key": "pacs-42"}
    first = client.post("/v1/studies", files={"files": ("a.png", png)}, data={"accession_number": "A"}, headers=headers)
    second = client.post("/v1/studies", files={"files": ("a.png", png)}, data={"accession_number": "A"}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert _study_count() == 1


def _dicom_variant(**changes) -> bytes:
    dataset = pydicom.dcmread(SAMPLES / "rsna_cr_pa_monochrome2.dcm")
    for name, value in changes.items():
        setattr(dataset, name, value)
    out = io.BytesIO()
    dataset.save_as(out)
    return out.getvalue()


def _png(size=(64, 64), mode="L") -> bytes:
    out = io.BytesIO()
    PILImage.fromarray(np.zeros(size[::-1], dtype=np.uint8)).convert(mode).save(out, format="PNG")
    return out.getvalue()


BAD_INPUTS = [
    ("truncated_png", lambda: ("x.png", (SAMPLES / "00000001_000.png").read_bytes()[:5000]), 422, "unreadable_image"),
    ("truncated_jpeg", lambda: ("x.jpg", (SAMPLES / "16747_3_1.jpg").read_bytes()[:3000]), 422, "unreadable_image"),
    ("text", lambda: ("notes.txt", b"this is not an image"), 415, "unsupported_media_type"),
    ("text_named_dcm", lambda: ("x.dcm", b"hello, I am a text file\n" * 20), 415, "unsupported_media_type"),
    ("ct", lambda: ("ct.dcm", _dicom_variant(Modality="CT")), 415, "not_chest_radiograph"),
    ("mr", lambda: ("mr.dcm", _dicom_variant(Modality="MR")), 415, "not_chest_radiograph"),
    ("head", lambda: ("head.dcm", _dicom_variant(BodyPartExamined="HEAD")), 415, "not_chest_radiograph"),
    ("empty", lambda: ("x.png", b""), 400, "empty_upload"),
]


@pytest.mark.parametrize("name,make,status,code", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_json_error_and_leaves_nothing(client, api_keys, data_dir, name, make, status, code) -> None:
    filename, data = make()
    good = (SAMPLES / "h0001.png").read_bytes()
    # A good file beside the bad one: the whole study is refused, nothing half-written.
    response = _submit(client, api_keys["submitter"], [("files", ("good.png", good)), ("files", (filename, data))],
                       accession_number="ACC-BAD")
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert _study_count() == 0
    assert _queued_messages(data_dir) == []
    # The gateway keeps serving.
    assert _submit(client, api_keys["submitter"], {"files": ("ok.png", good)}, accession_number="ACC-OK").status_code == 202


def test_pixel_bomb_is_refused_before_decoding(client, api_keys) -> None:
    bomb = _png(size=(12000, 12000), mode="1")
    assert len(bomb) < 200_000
    response = _submit(client, api_keys["submitter"], {"files": ("bomb.png", bomb)}, accession_number="B")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "image_too_large"


def test_oversized_file_is_refused(client, api_keys, monkeypatch) -> None:
    monkeypatch.setenv("RADSTACK_MAX_UPLOAD_BYTES", "1000")
    from shared.config import reset_settings_cache

    reset_settings_cache()
    big = (SAMPLES / "h0001.png").read_bytes()
    response = _submit(client, api_keys["submitter"], {"files": ("x.png", big)}, accession_number="B")
    reset_settings_cache()
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"


@pytest.mark.parametrize("files,data,code", [
    (None, {"accession_number": "A"}, "missing_files"),
    ({"files": ("x.png", b"")}, {"accession_number": "A"}, "empty_upload"),
    ({"files": ("x.png", _png())}, {}, "missing_accession_number"),
    ({"files": ("x.png", _png())}, {"accession_number": "A", "priority": "whenever"}, "invalid_priority"),
    ({"files": ("x.png", _png())}, {"accession_number": "A", "callback_url": "ftp://x"}, "invalid_callback_url"),
    ({"files": ("x.png", _png())}, {"accession_number": "bad\x00id"}, "invalid_accession_number"),
])
def test_missing_or_bad_fields_are_400(client, api_keys, files, data, code) -> None:
    response = client.post("/v1/studies", files=files, data=data, headers=auth(api_keys["submitter"]))
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert _study_count() == 0


def test_html_and_sql_in_accession_number_are_stored_verbatim(client, api_keys) -> None:
    accession = "<script>x</script>'; DROP TABLE studies;--"
    response = _submit(client, api_keys["submitter"], {"files": ("x.png", _png())}, accession_number=accession)
    assert response.status_code == 202
    assert response.json()["accession_number"] == accession
    assert _study_count() == 1


def test_path_traversal_file_name_is_reduced_to_a_label(client, api_keys) -> None:
    response = _submit(client, api_keys["submitter"], {"files": ("../../../etc/passwd.png", _png())}, accession_number="P")
    assert response.status_code == 202
    detail = client.get(response.json()["links"]["self"], headers=auth(api_keys["submitter"])).json()
    assert detail["images"][0]["filename"] == "passwd.png"
