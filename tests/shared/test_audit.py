import pytest
from sqlalchemy import text

from shared import audit
from shared.db import session_scope
from shared.models import AuditEvent, AuditRowImmutable


def _write_rows(count: int = 5) -> None:
    with session_scope() as session:
        for index in range(count):
            audit.record(session, actor="test", action=f"action.{index}", study_id="s1", details={"n": index})


def _verify():
    with session_scope() as session:
        return audit.verify_chain(session)


def test_intact_chain_verifies(data_dir) -> None:
    _write_rows()
    report = _verify()
    assert report.ok and report.rows == 5


@pytest.mark.parametrize("tamper,bad_id", [
    ("UPDATE audit_events SET actor = 'mallory' WHERE id = 3", 3),
    ("DELETE FROM audit_events WHERE id = 2", 3),
    ("UPDATE audit_events SET details = '{\"n\": 99}' WHERE id = 4", 4),
])
def test_tampering_is_detected(data_dir, tamper: str, bad_id: int) -> None:
    _write_rows()
    with session_scope() as session:
        session.execute(text(tamper))
    report = _verify()
    assert not report.ok
    assert report.first_bad_id == bad_id


def test_reordered_rows_are_detected(data_dir) -> None:
    _write_rows()
    with session_scope() as session:
        # Swap the contents of rows 2 and 3 (ids stay in order, chain does not).
        session.execute(text("UPDATE audit_events SET id = 100 WHERE id = 2"))
        session.execute(text("UPDATE audit_events SET id = 2 WHERE id = 3"))
        session.execute(text("UPDATE audit_events SET id = 3 WHERE id = 100"))
    assert not _verify().ok


def test_inserted_row_is_detected(data_dir) -> None:
    _write_rows()
    with session_scope() as session:
        row = session.get(AuditEvent, 5)
        session.execute(text(
            "INSERT INTO audit_events (id, created_at, study_id, actor, action, details, prev_hash, hash) "
            "VALUES (6, :at, 's1', 'mallory', 'forged', '{}', :prev, :hash)"
        ), {"at": row.created_at, "prev": row.hash, "hash": "f" * 64})
    report = _verify()
    assert not report.ok and report.first_bad_id == 6


def test_orm_refuses_updates_and_deletes(data_dir) -> None:
    _write_rows(1)
    with pytest.raises(AuditRowImmutable):
        with session_scope() as session:
            session.get(AuditEvent, 1).actor = "mallory"
    with pytest.raises(AuditRowImmutable):
        with session_scope() as session:
            session.delete(session.get(AuditEvent, 1))
    assert _verify().ok
