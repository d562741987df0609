"""GET /v1/studies/{id}/report.fhir.json: the report as a FHIR R4 DiagnosticReport."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api_gateway.deps import Reader, SessionDep, visible_study
from api_gateway.fhir import diagnostic_report

router = APIRouter(prefix="/v1", tags=["fhir"])

FHIR_JSON = "application/fhir+json"


@router.get("/studies/{study_id}/report.fhir.json", summary="The report as a FHIR R4 DiagnosticReport",
            response_class=JSONResponse, responses={200: {"content": {FHIR_JSON: {}}}})
def report_fhir(session: SessionDep, key: Reader, study_id: str) -> JSONResponse:
    # The same visibility rule as GET /v1/studies/{id}: another client's study is a 404.
    study = visible_study(session, key, study_id)
    return JSONResponse(diagnostic_report(session, study), media_type=FHIR_JSON)
