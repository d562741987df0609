"""GET /v1/studies/{id}/report.fhir.json: a valid FHIR R4 DiagnosticReport at every stage.

Validation uses the `fhir.resources` models of FHIR R4B (4.3): its DiagnosticReport,
Observation, Practitioner and Device are the R4 (4.0.1) resources unchanged, and the current
package no longer ships a separate R4 module. The models check structure and types but not
the required-binding code lists, so the test checks those codes against the R4 value sets.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.practitioner import Practitioner

from tests.conftest import auth
from tests.review_helpers import make_reviewable, submit

UID = "1.2.826.0.1.3680043.8.498.12345"
CONTAINED = {"Observation": Observation, "Practitioner": Practitioner, "Device": Device}
# Required bindings in R4 (http://hl7.org/fhir/R4/valueset-*.html).
REPORT_STATUS = {"registered", "partial", "preliminary", "final", "amended", "corrected", "appended", "cancelled",
                 "entered-in-error", "unknown"}
OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled", "entered-in-error",
                      "unknown"}
DEVICE_NAME_TYPE = {"udi-label-name", "user-friendly-name", "patient-reported-name", "manufacturer-name",
                    "model-name", "other"}


def _fhir(client: Any, study_id: str, key: str) -> dict[str, Any]:
    response = client.get(f"/v1/studies/{study_id}/report.fhir.json", headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    report = DiagnosticReport.model_validate(body)  # raises on any schema violation
    assert report.id == study_id
    assert body["status"] in REPORT_STATUS and body["text"]["status"] == "generated"
    for resource in body.get("contained", []):
        CONTAINED[resource["resourceType"]].model_validate(resource)
        if resource["resourceType"] == "Observation":
            assert resource["status"] in OBSERVATION_STATUS
        if resource["resourceType"] == "Device":
            assert {name["type"] for name in resource["deviceName"]} <= DEVICE_NAME_TYPE
    references = {f"#{r['id']}" for r in body.get("contained", [])}
    for ref in body.get("result", []) + body.get("resultsInterpreter", []):
        assert ref["reference"] in references
    return body


def _texts(body: dict[str, Any]) -> list[str]:
    return [base64.b64decode(form["data"]).decode() for form in body.get("presentedForm", [])]


def test_preliminary_final_and_amended(client, api_keys) -> None:
    study_id = submit(client, api_keys["submitter"], "ACC-FHIR")
    before = _fhir(client, study_id, api_keys["submitter"])
    assert before["status"] == "registered" and "conclusion" not in before

    make_reviewable(study_id, study_instance_uid=UID)
    preliminary = _fhir(client, study_id, api_keys["submitter"])
    assert preliminary["status"] == "preliminary"
    assert preliminary["conclusion"] == "Small right pneumothorax."
    assert "resultsInterpreter" not in preliminary  # nobody has interpreted it yet
    assert preliminary["imagingStudy"][0]["identifier"]["value"] == f"urn:oid:{UID}"
    assert {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN",
                                 "display": "Accession ID"}]},
            "system": "urn:radstack:accession", "value": "ACC-FHIR"} in preliminary["identifier"]
    observations = {o["code"]["text"]: o for o in preliminary["contained"] if o["resourceType"] == "Observation"}
    # Positive findings and the pertinent (critical) negatives; never brain-MRI labels.
    assert set(observations) == {"pneumothorax", "nodule", "pleural effusion"}
    pneumothorax = observations["pneumothorax"]
    assert pneumothorax["status"] == "preliminary"
    assert {"system": "http://snomed.info/sct", "code": "36118008", "display": "Pneumothorax"} in \
        pneumothorax["code"]["coding"]
    assert pneumothorax["valueQuantity"]["value"] == 0.81
    assert pneumothorax["interpretation"][0]["coding"][0]["code"] == "POS"
    assert observations["pleural effusion"]["interpretation"][0]["coding"][0]["code"] == "NEG"
    device = next(r for r in preliminary["contained"] if r["resourceType"] == "Device")
    assert device["note"][0]["text"] == "DEMO MODEL, NOT FOR CLINICAL USE"

    radiologist = auth(api_keys["radiologist"])
    signed = client.post(f"/v1/studies/{study_id}/signoff", json={"decision": "approve", "version": 1},
                         headers=radiologist)
    assert signed.status_code == 200, signed.text
    final = _fhir(client, study_id, api_keys["submitter"])
    assert final["status"] == "final" and final["conclusion"] == "Small right pneumothorax."
    assert final["resultsInterpreter"][0]["display"] == "test-radiologist"
    assert all(o["status"] == "final" for o in final["contained"] if o["resourceType"] == "Observation")
    assert _texts(final)[0].startswith("FINDINGS: Small right pneumothorax.")

    amended = client.post(f"/v1/studies/{study_id}/signoff", headers=radiologist,
                          json={"decision": "amend", "report_text": "Also a small left effusion.", "reason": "re-read"})
    assert amended.status_code == 200, amended.text
    after = _fhir(client, study_id, api_keys["radiologist"])
    assert after["status"] == "amended"
    assert after["conclusion"].startswith("Small right pneumothorax.")
    assert "ADDENDUM 1: Also a small left effusion." in after["conclusion"]
    # The signed text is kept unchanged beside the addendum.
    assert _texts(after) == [_texts(final)[0], "Also a small left effusion."]
    assert [f["title"] for f in after["presentedForm"]] == ["Signed report", "Addendum 1"]


def test_rejected_is_cancelled_and_signer_is_the_user(client, api_keys) -> None:
    from tests.review_helpers import create_user, login

    create_user()
    study_id = submit(client, api_keys["submitter"])
    make_reviewable(study_id)
    token = login(client)
    client.post(f"/ui/studies/{study_id}/decision", data={"csrf_token": token, "decision": "reject", "version": "1",
                                                          "reason": "motion artefact"})
    body = _fhir(client, study_id, api_keys["submitter"])
    assert body["status"] == "cancelled" and "motion artefact" in body["conclusion"]
    practitioner = next(r for r in body["contained"] if r["resourceType"] == "Practitioner")
    assert practitioner["name"][0]["text"] == "Dr Alice Example"
    assert practitioner["identifier"][0] == {"system": "urn:radstack:user", "value": "alice"}


def test_escaped_narrative_for_html_accession(client, api_keys) -> None:
    study_id = submit(client, api_keys["submitter"], "<b>ACC</b>")
    make_reviewable(study_id)
    body = _fhir(client, study_id, api_keys["submitter"])
    assert "<b>ACC</b>" not in body["text"]["div"] and "&lt;b&gt;ACC&lt;/b&gt;" in body["text"]["div"]


@pytest.mark.parametrize("who,expected", [("other_submitter", 404), (None, 401)])
def test_same_access_rules_as_the_study(client, api_keys, who, expected) -> None:
    study_id = submit(client, api_keys["submitter"])
    headers = auth(api_keys[who]) if who else {}
    assert client.get(f"/v1/studies/{study_id}/report.fhir.json", headers=headers).status_code == expected


def test_listed_in_openapi(client) -> None:
    assert "/v1/studies/{study_id}/report.fhir.json" in client.get("/openapi.json").json()["paths"]
