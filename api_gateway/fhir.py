"""A study as a FHIR R4 DiagnosticReport, for integrators to pull the result in a standard form.

Status follows the study: `preliminary` while the AI draft awaits review, `final` once a
radiologist signed it, `amended` after an addendum (the signed text stays in presentedForm
beside each addendum), `cancelled` when the draft was rejected or the study cancelled. The
findings travel as contained Observations (AI output, with the model as a contained Device);
the signer is a contained Practitioner in resultsInterpreter.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.findings import study_level
from shared.labels import CRITICAL, display_name, is_chest_finding
from shared.models import Finding, ReportVersion, Study, User, as_utc
from shared.status import StudyStatus

LABEL_SYSTEM = "urn:radstack:finding-label"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DISCLAIMER = "AI output is decision support, never a diagnosis."

_REPORT_STATUS = {
    StudyStatus.RECEIVED: "registered", StudyStatus.QUEUED: "registered",
    StudyStatus.CLASSIFYING: "partial", StudyStatus.RETRIEVING: "partial", StudyStatus.DRAFTING: "partial",
    StudyStatus.FAILED: "partial", StudyStatus.AWAITING_REVIEW: "preliminary", StudyStatus.SIGNED_OFF: "final",
    StudyStatus.AMENDED: "amended", StudyStatus.REJECTED: "cancelled", StudyStatus.CANCELLED: "cancelled",
}
_OBSERVATION_STATUS = {"registered": "registered", "partial": "preliminary", "preliminary": "preliminary",
                       "final": "final", "amended": "final", "cancelled": "cancelled"}

# SNOMED CT concepts for the labels where one clearly matches; other labels carry only the
# local code (a wrong clinical code is worse than none).
SNOMED_CODES: dict[str, tuple[str, str]] = {
    "Atelectasis": ("46621007", "Atelectasis"),
    "Cardiomegaly": ("8186001", "Cardiomegaly"),
    "Effusion": ("60046008", "Pleural effusion"),
    "Pneumonia": ("233604007", "Pneumonia"),
    "Pneumothorax": ("36118008", "Pneumothorax"),
    "Consolidation": ("95436008", "Lung consolidation"),
    "Edema": ("19242006", "Pulmonary edema"),
    "Emphysema": ("87433001", "Pulmonary emphysema"),
    "Fibrosis": ("51615001", "Fibrosis of lung"),
    "Tuberculosis": ("56717001", "Tuberculosis"),
    "COVID-19": ("840539006", "Disease caused by severe acute respiratory syndrome coronavirus 2"),
}
_CHEST = {"coding": [{"system": SNOMED, "code": "51185008", "display": "Thoracic structure"}]}


def _instant(value: Any) -> str:
    return as_utc(value).isoformat(timespec="seconds")


def impression(text: str) -> str:
    """The IMPRESSION section if the text has one, else the whole text."""
    match = re.search(r"IMPRESSION:\s*(.+)", text, flags=re.IGNORECASE | re.DOTALL)
    return (match.group(1) if match else text).strip()


def _practitioner(session: Session, actor: str, ref_id: str) -> dict[str, Any]:
    kind, _, name = actor.partition(":")
    if kind == "user":
        user = session.scalar(select(User).where(User.username == name))
        identifier = {"system": "urn:radstack:user", "value": name}
        display = (user.display_name if user and user.display_name else name)
    else:
        identifier = {"system": "urn:radstack:api-key", "value": name or actor}
        display = name or actor
    return {"resourceType": "Practitioner", "id": ref_id, "identifier": [identifier], "name": [{"text": display}]}


def _model_device(finding: Finding) -> dict[str, Any]:
    device: dict[str, Any] = {
        "resourceType": "Device", "id": "model",
        "deviceName": [{"name": finding.model_id, "type": "model-name"}],
        "version": [{"value": finding.model_version}],
        "identifier": [{"system": "urn:radstack:weights-sha256", "value": finding.weights_sha256}],
    }
    if finding.is_demo:
        device["note"] = [{"text": "DEMO MODEL, NOT FOR CLINICAL USE"}]
    return device


def _observation(index: int, finding: Finding, status: str, subject: dict[str, Any] | None) -> dict[str, Any]:
    coding = [{"system": LABEL_SYSTEM, "code": finding.label, "display": display_name(finding.label)}]
    if finding.label in SNOMED_CODES:
        code, name = SNOMED_CODES[finding.label]
        coding.insert(0, {"system": SNOMED, "code": code, "display": name})
    observation: dict[str, Any] = {
        "resourceType": "Observation", "id": f"finding-{index}", "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "imaging", "display": "Imaging"}]}],
        "code": {"coding": coding, "text": display_name(finding.label)},
        "effectiveDateTime": _instant(finding.created_at),
        "valueQuantity": {"value": round(finding.probability, 4), "unit": "probability",
                          "system": "http://unitsofmeasure.org", "code": "1"},
        "interpretation": [{"coding": [{"system": INTERPRETATION, "code": "POS" if finding.positive else "NEG",
                                        "display": "Positive" if finding.positive else "Negative"}]}],
        "bodySite": _CHEST,
        "method": {"text": "AI image classifier (decision support); positive at or above the threshold"},
        "device": {"reference": "#model"},
        "referenceRange": [{"high": {"value": finding.threshold, "unit": "probability",
                                     "system": "http://unitsofmeasure.org", "code": "1"},
                            "text": f"decision threshold {finding.threshold:g}"}],
    }
    if subject:
        observation["subject"] = subject
    return observation


def _attachment(report: ReportVersion, title: str) -> dict[str, Any]:
    return {"contentType": "text/plain; charset=utf-8", "language": "en", "title": title,
            "data": base64.b64encode(report.text.encode()).decode(), "creation": _instant(report.created_at)}


def _narrative(study: Study, status: str, conclusion: str | None) -> dict[str, Any]:
    parts = [f"<p><b>Chest radiograph report</b> ({html.escape(status)}), accession "
             f"{html.escape(study.accession_number)}</p>"]
    if conclusion:
        parts.append(f"<p>{html.escape(conclusion)}</p>")
    parts.append(f"<p>{html.escape(DISCLAIMER)}</p>")
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{"".join(parts)}</div>'}


def _reported(study: Study) -> list[Finding]:
    """Positive chest findings and the pertinent negatives (critical labels ruled out)."""
    return [f for f in study_level(study.findings)
            if is_chest_finding(f.label) and (f.positive or f.label in CRITICAL)]


def diagnostic_report(session: Session, study: Study) -> dict[str, Any]:
    status = _REPORT_STATUS[StudyStatus(study.status)]
    reports = list(study.reports)
    signed = [r for r in reports if r.kind == "signed"]
    addenda = [r for r in reports if r.kind == "addendum"]
    drafts = [r for r in reports if r.kind == "draft"]
    rejected = [r for r in reports if r.kind == "rejected"]
    subject = ({"identifier": {"system": "urn:radstack:patient-ref", "value": study.patient_ref}}
               if study.patient_ref else None)

    contained: list[dict[str, Any]] = []
    interpreters: list[dict[str, Any]] = []
    for actor in dict.fromkeys(r.author for r in signed + addenda + rejected):
        practitioner = _practitioner(session, actor, f"interpreter-{len(interpreters) + 1}")
        contained.append(practitioner)
        interpreters.append({"reference": f"#{practitioner['id']}", "display": practitioner["name"][0]["text"]})
    findings = _reported(study)
    if findings:
        contained.append(_model_device(findings[0]))
    observations = [_observation(i, f, _OBSERVATION_STATUS[status], subject) for i, f in enumerate(findings, 1)]
    contained.extend(observations)

    conclusion: str | None = None
    forms: list[dict[str, Any]] = []
    if signed:
        conclusion = impression(signed[-1].text)
        forms.append(_attachment(signed[-1], "Signed report"))
        for number, addendum in enumerate(addenda, 1):
            conclusion += f"\n\nADDENDUM {number}: {addendum.text.strip()}"
            forms.append(_attachment(addendum, f"Addendum {number}"))
    elif rejected:
        conclusion = f"Draft rejected by the radiologist: {rejected[-1].reason or 'no reason given'}"
    elif drafts:
        conclusion = impression(drafts[-1].text)
        forms.append(_attachment(drafts[-1], "Preliminary draft (not signed)"))

    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": study.id,
        "meta": {"lastUpdated": _instant(study.updated_at)},
        "text": _narrative(study, status, conclusion),
        "contained": contained,
        "identifier": [
            {"system": "urn:radstack:study", "value": study.id},
            {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN",
                                  "display": "Accession ID"}]},
             "system": "urn:radstack:accession", "value": study.accession_number},
        ],
        "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD",
                                  "display": "Radiology"}]}],
        "code": {"coding": [{"system": LOINC, "code": "18748-4", "display": "Diagnostic imaging study"}],
                 "text": "Chest radiograph"},
        "effectiveDateTime": _instant(study.created_at),
    }
    if subject:
        resource["subject"] = subject
    issued = addenda or signed or drafts
    if issued:
        resource["issued"] = _instant(issued[-1].created_at)
    if interpreters:
        resource["performer"] = interpreters
        resource["resultsInterpreter"] = interpreters
    if observations:
        resource["result"] = [{"reference": f"#{o['id']}", "display": o["code"]["text"]} for o in observations]
    if study.study_instance_uid:
        resource["imagingStudy"] = [{
            "type": "ImagingStudy",
            "identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_instance_uid}"},
            "display": f"StudyInstanceUID {study.study_instance_uid}",
        }]
    if conclusion:
        resource["conclusion"] = conclusion
    if forms:
        resource["presentedForm"] = forms
    return resource
