"""The audit chain's tamper checks on PostgreSQL, as deployed, and through the command an
auditor runs: `radstack audit verify` exits 0 on an intact trail and 1, naming the first bad
row, on one edited, deleted from, reordered or added to with SQL behind the application's back.

tests/shared/test_audit.py covers the same on SQLite through verify_chain; JSON columns,
timestamps with time zone and constraint checking differ on PostgreSQL, so it is run again."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from radstack.stack import radstack_command
from shared import audit
from shared.db import session_scope
from shared.models import AuditEvent, AuditRowImmutable
from tests.conftest import apply_env

pytestmark = pytest.mark.integration

ROWS = 6


@pytest.fixture
def pg_env(tmp_path, postgres_url) -> Iterator[dict[str, str]]:
    from shared.migrate import upgrade

    env = {"RADSTACK_DATABASE_URL": postgres_url, "RADSTACK_DATA_DIR": str(tmp_path)}
    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    upgrade(postgres_url)
    apply_env(env)
    with session_scope() as session:
        for index in range(ROWS):
            audit.record(session, actor="test", action=f"action.{index}", study_id="s1",
                         from_status="QUEUED", to_status="CLASSIFYING", details={"n": index, "note": "caf\u00e9"})
    yield env
    apply_env(saved)


def tamper(*statements: str, **params: object) -> None:
    with session_scope() as session:
        for statement in statements:
            session.execute(text(statement), params)


def verify_command(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(radstack_command("audit", "verify"), env=os.environ | env, capture_output=True,
                          text=True, timeout=120)


def test_intact_chain_verifies(pg_env) -> None:
    with session_scope() as session:
        assert audit.verify_chain(session).ok
    result = verify_command(pg_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"audit chain OK: {ROWS} rows" in result.stdout


def _swap(a: int, b: int) -> tuple[str, ...]:
    # Ids are the primary key: move one aside first.
    return (f"UPDATE audit_events SET id = 1000 WHERE id = {a}", f"UPDATE audit_events SET id = {a} WHERE id = {b}",
            f"UPDATE audit_events SET id = {b} WHERE id = 1000")


def _forged_row(at: int) -> tuple[str, ...]:
    """Row `at` inserted with the previous row's hash as prev_hash and a made-up hash."""
    return (f"INSERT INTO audit_events (id, created_at, study_id, actor, action, details, prev_hash, hash) "
            f"SELECT {at}, created_at, 's1', 'mallory', 'forged', '{{}}', hash, repeat('f', 64) "
            f"FROM audit_events WHERE id = {at - 1}",)


TAMPERS = {
    # name: (SQL, the row verify must name)
    "edit_actor": (("UPDATE audit_events SET actor = 'mallory' WHERE id = 3",), 3),
    "edit_details_json": (("UPDATE audit_events SET details = '{\"n\": 99}' WHERE id = 4",), 4),
    "edit_status": (("UPDATE audit_events SET to_status = 'SIGNED_OFF' WHERE id = 2",), 2),
    "edit_time": (("UPDATE audit_events SET created_at = created_at - interval '1 day' WHERE id = 5",), 5),
    "edit_hash": (("UPDATE audit_events SET hash = repeat('a', 64) WHERE id = 2",), 2),
    "delete_middle": (("DELETE FROM audit_events WHERE id = 3",), 4),
    "delete_first": (("DELETE FROM audit_events WHERE id = 1",), 2),
    "reorder_adjacent": (_swap(2, 3), 2),
    "reorder_first_and_last": (_swap(1, ROWS), 1),
    "insert_at_end": (_forged_row(ROWS + 1), ROWS + 1),
    "insert_in_middle": (("UPDATE audit_events SET id = id + 100 WHERE id >= 4",
                          "UPDATE audit_events SET id = id - 99 WHERE id >= 104",
                          *_forged_row(4)), 4),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_tampering_is_detected_and_the_command_names_the_row(pg_env, name: str) -> None:
    statements, bad_id = TAMPERS[name]
    tamper(*statements)
    with session_scope() as session:
        report = audit.verify_chain(session)
    assert not report.ok and report.first_bad_id == bad_id, report
    result = verify_command(pg_env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"BROKEN at row {bad_id}:" in result.stdout


def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link(pg_env) -> None:
    with session_scope() as session:
        row = session.get(AuditEvent, 2)
        session.expunge(row)
    row.actor = "mallory"
    tamper("UPDATE audit_events SET actor = 'mallory', hash = :hash WHERE id = 2",
           hash=audit.compute_hash(row.prev_hash, row))
    result = verify_command(pg_env)
    assert result.returncode == 1 and "BROKEN at row 3: prev_hash does not match" in result.stdout


def test_deleting_the_last_rows_is_invisible_to_the_chain_alone(pg_env) -> None:
    """A known limit, kept as a test so that it is a decision and not a surprise: a chain
    proves that its rows fit together, not that none are missing after the last one. Cutting
    the tail (or rewriting it with recomputed hashes, since the hash is unkeyed) leaves a
    consistent chain. The remedy is an anchor outside the database (the report says which)."""
    tamper(f"DELETE FROM audit_events WHERE id >= {ROWS - 1}")
    result = verify_command(pg_env)
    assert result.returncode == 0 and f"audit chain OK: {ROWS - 2} rows" in result.stdout


def test_orm_refuses_updates_and_deletes(pg_env) -> None:
    with pytest.raises(AuditRowImmutable):
        with session_scope() as session:
            session.get(AuditEvent, 1).actor = "mallory"
    with pytest.raises(AuditRowImmutable):
        with session_scope() as session:
            session.delete(session.get(AuditEvent, 2))
    result = verify_command(pg_env)
    assert result.returncode == 0, result.stdout
