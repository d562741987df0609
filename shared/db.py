"""Engines and sessions. Engines are made lazily per process, never at import, so a forked
worker never shares a connection pool with its parent."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from shared.config import get_settings

_engines: dict[tuple[int, str], Engine] = {}

# A client that vanishes mid-transaction (killed worker, network partition) must not hold row
# or advisory locks for ever: the server ends such sessions, and lock waits are bounded so a
# stuck peer turns into a retryable error instead of a pipeline-wide stall. Keepalives let the
# client notice a dead server.
POSTGRES_CONNECT_ARGS = {
    "options": "-c idle_in_transaction_session_timeout=30000 -c lock_timeout=20000",
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "connect_timeout": 10,
}


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (pysqlite's own
        # handling defers BEGIN and breaks the IMMEDIATE below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # SQLite has one writer at a time. Threads of one process queue on this lock instead of in
    # SQLite's busy handler, which sleeps in growing steps and starves unlucky requests (seconds
    # of tail latency under concurrent submits). A plain Lock, not an RLock: FastAPI may begin a
    # request's transaction in one thread and commit it in another. Each connection remembers
    # whether it holds the lock, so a reset of an idle connection never releases another's.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not writer.acquire(timeout=60):
            raise TimeoutError("waited 60 s for the SQLite write lock")
        conn.info["radstack_writer"] = True
        try:
            # Several processes write one SQLite file: taking the write lock at BEGIN makes
            # read-then-write sequences (the audit hash chain, status checks) serialisable.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            conn.info.pop("radstack_writer", None)
            writer.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn: Any) -> None:
        if conn.info.pop("radstack_writer", False):
            writer.release()


def get_engine(url: str | None = None) -> Engine:
    url = url or get_settings().resolved_database_url
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                   hide_parameters=True)
            _configure_sqlite(engine)
        else:
            # hide_parameters: error messages must not quote row values (accession numbers).
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, hide_parameters=True,
                                   connect_args=POSTGRES_CONNECT_ARGS if url.startswith("postgresql") else {})
        _engines[key] = engine
    return engine


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
