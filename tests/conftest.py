"""Shared fixtures: an isolated data folder per test, a migrated database, API keys, and the
real PostgreSQL and Redis on loopback for the integration tests (required when CI is set)."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples" / "cxr"
ARTIFACTS = REPO_ROOT / "test-artifacts"

POSTGRES_ADMIN_URL = os.environ.get("RADSTACK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RADSTACK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Integration tests skip on a laptop without the service, but fail in CI, where it runs."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run the integration tests against it)")
    pytest.skip(message)


def apply_env(env: dict[str, str]) -> None:
    """Point every settings-reading part of this process at `env`."""
    from shared.celery_app import celery_app, configure_celery
    from shared.config import get_settings, reset_settings_cache
    from shared.db import dispose_engines

    for name in [n for n in os.environ if n.startswith("RADSTACK_") and not n.startswith("RADSTACK_TEST_")]:
        del os.environ[name]
    os.environ.update(env)
    reset_settings_cache()
    dispose_engines()
    configure_celery(celery_app, get_settings())


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """Embedded defaults (SQLite, filesystem broker, blob store) in a fresh folder, migrated."""
    from shared.migrate import upgrade

    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    apply_env({"RADSTACK_DATA_DIR": str(tmp_path / "data"), "RADSTACK_ENVIRONMENT": "test"})
    upgrade()
    yield tmp_path / "data"
    apply_env(saved)


@pytest.fixture
def db_session(data_dir: Path) -> Iterator[object]:
    from shared.db import session_factory

    session = session_factory()()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def api_keys(data_dir: Path) -> dict[str, str]:
    """One raw key per role, plus a second submitter (for cross-client checks)."""
    from shared.auth import Role, create_key
    from shared.db import session_scope

    keys = {}
    with session_scope() as session:
        for name, role in (("submitter", Role.SUBMITTER), ("other_submitter", Role.SUBMITTER),
                           ("radiologist", Role.RADIOLOGIST), ("admin", Role.ADMIN)):
            _, keys[name] = create_key(session, name=f"test-{name}", role=role, actor="test")
    return keys


@pytest.fixture
def client(data_dir: Path) -> Iterator[object]:
    from fastapi.testclient import TestClient

    from api_gateway.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    from sqlalchemy import create_engine, text

    name = f"radstack_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        from shared.db import dispose_engines

        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The real Redis, on a database number of its own, emptied before and after."""
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()
    connection.close()


@pytest.fixture(autouse=True)
def _keep_metrics_mode(monkeypatch) -> None:
    """`radstack.cli.main()` points the process at a metrics folder; undo that after each test
    so in-process CLI tests do not switch later tests into multiprocess metrics."""
    from shared.metrics_setup import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV) is None:
        monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    else:
        monkeypatch.setenv(MULTIPROC_ENV, os.environ[MULTIPROC_ENV])
