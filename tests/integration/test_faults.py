"""Reliability under real faults: real processes, a real (private) Redis, real PostgreSQL behind
a proxy that can refuse connections. Every submitted study must reach AWAITING_REVIEW exactly
once: one set of findings, one draft, one move into each status."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from radstack.stack import Stack
from shared.models import AuditEvent, Finding, ReportVersion, Study
from shared.queues import Queue
from tests.conftest import ARTIFACTS, SAMPLES, apply_env
from tests.integration.faults import PrivateRedis, TcpProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_STUDIES = 20
SAMPLE_FILES = [SAMPLES / name for name in ("00000001_000.png", "00027426_000.png", "h0001.png",
                                             "16747_3_1.jpg", "rsna_cr_pa_monochrome2.dcm")]


@dataclass
class FaultRig:
    stack: Stack
    redis: PrivateRedis
    proxy: TcpProxy
    db: Engine  # direct to PostgreSQL, not through the proxy: the test's own view
    key: str

    def submit(self, count: int, prefix: str) -> list[str]:
        ids = []
        with httpx.Client(base_url=self.stack.base_url, timeout=30) as client:
            for index in range(count):
                path = SAMPLE_FILES[index % len(SAMPLE_FILES)]
                response = client.post("/v1/studies", files={"files": (path.name, path.read_bytes())},
                                       data={"accession_number": f"{prefix}-{index:03d}"},
                                       headers={"Authorization": f"Bearer {self.key}"})
                assert response.status_code == 202, response.text
                ids.append(response.json()["id"])
        return ids

    def statuses(self, ids: list[str]) -> dict[str, str]:
        with self.db.connect() as connection:
            rows = connection.execute(select(Study.id, Study.status).where(Study.id.in_(ids))).all()
        return {row.id: str(getattr(row.status, "value", row.status)) for row in rows}

    def wait_until_done(self, ids: list[str], timeout: float = 180.0) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = self.statuses(ids)
            if all(s in ("AWAITING_REVIEW", "FAILED") for s in statuses.values()) and len(statuses) == len(ids):
                return statuses
            time.sleep(0.5)
        return self.statuses(ids)

    def duplicates(self, ids: list[str]) -> dict[str, list[str]]:
        """Per study, what exists more than once (findings per image+label, drafts, status moves)."""
        problems: dict[str, list[str]] = {}
        with self.db.connect() as connection:
            for study_id in ids:
                found = []
                per_label = connection.execute(select(Finding.image_id, Finding.label, func.count()).where(
                    Finding.study_id == study_id).group_by(Finding.image_id, Finding.label)).all()
                if not per_label or any(n != 1 for *_, n in per_label):
                    found.append("findings")
                drafts = connection.scalar(select(func.count()).select_from(ReportVersion).where(
                    ReportVersion.study_id == study_id))
                if drafts != 1:
                    found.append(f"{drafts} drafts")
                moves = connection.execute(select(AuditEvent.to_status, func.count()).where(
                    AuditEvent.study_id == study_id, AuditEvent.to_status.is_not(None)).group_by(AuditEvent.to_status)).all()
                if any(n != 1 for _, n in moves):
                    found.append(f"repeated moves {[(s, n) for s, n in moves if n != 1]}")
                if found:
                    problems[study_id] = found
        return problems

    def report(self, name: str, ids: list[str], statuses: dict[str, str]) -> None:
        finished = sum(s == "AWAITING_REVIEW" for s in statuses.values())
        duplicated = len(self.duplicates(ids))
        line = f"{name}: submitted {len(ids)}, finished {finished}, duplicated {duplicated}"
        print(line)
        ARTIFACTS.mkdir(exist_ok=True)
        with open(ARTIFACTS / "fault_counts.txt", "a") as handle:
            handle.write(line + "\n")


@pytest.fixture
def rig(tmp_path, postgres_url) -> Iterator[FaultRig]:
    redis = PrivateRedis(tmp_path / "redis")
    redis.start()
    proxy = TcpProxy(5432)
    proxied_url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    env = {
        "RADSTACK_DATA_DIR": str(tmp_path / "data"),
        "RADSTACK_DATABASE_URL": proxied_url,
        "RADSTACK_BROKER_URL": redis.url,
        "RADSTACK_MODEL": "demo",
        "RADSTACK_ENVIRONMENT": "test",
        # A short deadline so the sweeper's recovery fits in a test.
        "RADSTACK_STAGE_DEADLINE_S": "6",
        "RADSTACK_SWEEP_INTERVAL_S": "2",
        "RADSTACK_MAX_ATTEMPTS": "10",
        "RADSTACK_CLASSIFY_BATCH_SIZE": "2",
    }
    saved = {k: v for k, v in os.environ.items() if k.startswith("RADSTACK_")}
    stack = Stack(env=env, log_dir=ARTIFACTS / "logs" / f"faults-{os.getpid()}-{time.monotonic_ns()}")
    db = create_engine(postgres_url)
    try:
        stack.start()
        apply_env(env | {"RADSTACK_DATABASE_URL": postgres_url})
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, key = create_key(session, name="pacs", role=Role.SUBMITTER)
        yield FaultRig(stack, redis, proxy, db, key)
    finally:
        stack.stop()
        proxy.close()
        redis.kill()
        db.dispose()
        apply_env(saved)


def test_classify_worker_killed_mid_batch(rig: FaultRig) -> None:
    ids = rig.submit(N_STUDIES, "KILL")
    deadline = time.monotonic() + 60
    while "CLASSIFYING" not in rig.statuses(ids).values():
        assert time.monotonic() < deadline, "classify never started"
        time.sleep(0.02)
    rig.stack.kill("worker-classify", signal.SIGKILL)
    caught = list(rig.statuses(ids).values()).count("CLASSIFYING")
    rig.stack.start_worker(Queue.CLASSIFY)
    statuses = rig.wait_until_done(ids)
    rig.report(f"kill -9 classify worker ({caught} studies mid-classify at the kill)", ids, statuses)
    assert set(statuses.values()) == {"AWAITING_REVIEW"}
    assert rig.duplicates(ids) == {}


def test_redis_restart_loses_messages_but_no_study(rig: FaultRig) -> None:
    ids = rig.submit(N_STUDIES, "REDIS")
    rig.redis.kill()  # keeps nothing on disk: every queued message is gone
    time.sleep(1.0)
    late = rig.submit(2, "REDIS-DOWN")  # accepted while the broker is down: committed, not queued
    rig.redis.start()
    ids += late
    statuses = rig.wait_until_done(ids)
    rig.report("Redis killed and restarted", ids, statuses)
    assert set(statuses.values()) == {"AWAITING_REVIEW"}
    assert rig.duplicates(ids) == {}


def test_postgres_refusing_connections_for_a_while(rig: FaultRig) -> None:
    ids = rig.submit(N_STUDIES, "PG")
    rig.proxy.refuse()
    time.sleep(5.0)
    rig.proxy.accept()
    statuses = rig.wait_until_done(ids)
    rig.report("PostgreSQL refused connections for 5 s", ids, statuses)
    assert set(statuses.values()) == {"AWAITING_REVIEW"}
    assert rig.duplicates(ids) == {}


def test_same_tasks_delivered_twice(rig: FaultRig) -> None:
    from shared.celery_app import celery_app, configure_celery
    from shared.config import get_settings
    from shared.pipeline import enqueue_from_stage

    configure_celery(celery_app, get_settings())
    ids = rig.submit(4, "TWICE")
    for study_id in ids:  # a second full chain for every study, racing the first
        enqueue_from_stage(study_id)
    statuses = rig.wait_until_done(ids)
    for study_id in ids:  # and a third, after they are done
        enqueue_from_stage(study_id)
    time.sleep(3.0)
    rig.report("every task delivered two and three times", ids, statuses)
    assert set(rig.statuses(ids).values()) == {"AWAITING_REVIEW"}
    assert rig.duplicates(ids) == {}


def test_sigterm_lets_the_worker_finish_or_hand_back(rig: FaultRig) -> None:
    ids = rig.submit(N_STUDIES, "TERM")
    deadline = time.monotonic() + 60
    while "CLASSIFYING" not in rig.statuses(ids).values():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    rig.stack.kill("worker-classify", signal.SIGTERM)  # a deploy: warm shutdown
    rig.stack.start_worker(Queue.CLASSIFY)
    statuses = rig.wait_until_done(ids)
    rig.report("SIGTERM to the classify worker mid-batch", ids, statuses)
    assert set(statuses.values()) == {"AWAITING_REVIEW"}
    assert rig.duplicates(ids) == {}
