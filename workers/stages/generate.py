"""Generate stage: a draft report grounded in the findings and the retrieved evidence."""

from __future__ import annotations

import time

from sqlalchemy import delete

from shared import audit, callbacks
from shared.db import session_scope
from shared.findings import study_level
from shared.labels import is_chest_finding
from shared.models import ReportVersion
from shared.status import StudyStatus
from shared.studies import transition
from workers.drafting import FindingInput, write_draft
from workers.retrieval import EvidenceHit
from workers.stages.common import claim

ACTOR = "worker:generate"
OWNED = frozenset({StudyStatus.DRAFTING})


def run(study_id: str) -> None:
    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return
        findings = [
            FindingInput(label=f.label, probability=f.probability, threshold=f.threshold, positive=f.positive)
            for f in study_level(study.findings) if is_chest_finding(f.label)
        ]
        evidence = [
            EvidenceHit(kind=e.kind, source_id=e.source_id, text=e.text, labels=tuple(e.labels),
                        score=e.score, retriever=e.retriever)
            for e in study.evidence
        ]
        is_demo = any(f.is_demo for f in study.findings)
        # What must never reach a prompt: the writer refuses to send one that contains any.
        identifiers = [study.accession_number, study.study_instance_uid, study.patient_ref,
                       *(image.filename for image in study.images), *(image.sop_instance_uid for image in study.images)]

    # Only findings and evidence reach the writer: never identifiers, dates or accession numbers.
    started = time.perf_counter()
    draft = write_draft(findings, evidence, is_demo=is_demo, identifiers=identifiers)
    compute_ms = round((time.perf_counter() - started) * 1000, 2)

    with session_scope() as session:
        study = claim(session, study_id, OWNED)
        if study is None:
            return
        session.execute(delete(ReportVersion).where(ReportVersion.study_id == study_id))
        session.add(ReportVersion(
            study_id=study_id, version=1, kind="draft", text=draft.text, author=f"ai:{draft.writer}",
            writer=draft.writer, flags=list(draft.flags), is_demo=is_demo,
        ))
        if draft.fallback_reason:
            audit.record(session, actor=ACTOR, action="draft.fallback", study_id=study_id,
                         details={"reason": draft.fallback_reason, "writer": draft.writer})
        callbacks.schedule(session, study, "draft_ready")
        transition(session, study, StudyStatus.AWAITING_REVIEW, actor=ACTOR, action="stage.drafted", details={
            "writer": draft.writer, "flags": len(draft.flags), "is_demo": is_demo, "compute_ms": compute_ms,
        })
