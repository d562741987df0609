"""End-to-end latency through the real chain on a real broker, split into queue wait and stage
compute (from the compute_ms each stage records on the audit trail), plus each worker's peak RSS."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import httpx

from radstack.benchmarks.report import Report, percentile
from radstack.benchmarks.workspace import point_process_at, sample_bytes
from radstack.stack import Stack

# (stage, event that makes it due, event that ends it): wait + compute = the time in between.
STAGES = (("classify", "status.queued", "stage.classified"),
          ("retrieve", "stage.classified", "stage.retrieved"),
          ("generate", "stage.retrieved", "stage.drafted"))


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (a prefork worker's child holds the model)."""
    def hwm(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return max([hwm(pid)] + [hwm(c) for c in children])


def _timeline(study_id: str) -> dict[str, tuple[float, float]]:
    """action -> (unix time, compute_ms recorded by the stage)."""
    from sqlalchemy import select

    from shared.db import session_scope
    from shared.models import AuditEvent, as_utc

    with session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.study_id == study_id).order_by(AuditEvent.id))
        return {e.action: (as_utc(e.created_at).timestamp(), float((e.details or {}).get("compute_ms", 0.0)))
                for e in events}


def run(report: Report, *, broker_url: str, database_url: str | None, studies: int = 30) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="radstack-bench-e2e-"))
    env = {"RADSTACK_DATA_DIR": str(data_dir), "RADSTACK_BROKER_URL": broker_url, "RADSTACK_MODEL": "demo",
           "RADSTACK_SUBMIT_RATE_PER_MINUTE": "100000"}
    if database_url:
        env["RADSTACK_DATABASE_URL"] = database_url
    stack = Stack(env=env, log_dir=data_dir / "logs", with_sweeper=False)
    stack.start()
    try:
        point_process_at(env)
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, key = create_key(session, name="bench", role=Role.SUBMITTER, actor="bench")
        samples = sample_bytes()
        end_to_end, overhead = [], []
        waits: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
        computes: dict[str, list[float]] = {name: [] for name, _, _ in STAGES}
        with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            for index in range(studies + 3):
                name, data = samples[index % len(samples)]
                study_id = client.post("/v1/studies", files={"files": (name, data)},
                                       data={"accession_number": f"E2E-{index}"}).json()["id"]
                deadline = time.monotonic() + 60
                while True:  # one study at a time: latency, not throughput
                    timeline = _timeline(study_id)
                    if "stage.drafted" in timeline or time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                if index < 3 or "stage.drafted" not in timeline:
                    continue  # the first studies warm caches in every worker
                total = (timeline["stage.drafted"][0] - timeline["status.queued"][0]) * 1000
                compute = 0.0
                for stage, start_action, end_action in STAGES:
                    stage_ms = timeline[end_action][1]
                    compute += stage_ms
                    computes[stage].append(stage_ms)
                    waits[stage].append((timeline[end_action][0] - timeline[start_action][0]) * 1000 - stage_ms)
                end_to_end.append(total)
                overhead.append(total - compute)
        section = f"end to end, one study at a time ({len(end_to_end)} studies, {broker_url.split('://')[0]} broker)"
        report.add(section, "end-to-end p50 (study committed -> draft committed)", percentile(end_to_end, 50), "ms")
        report.add(section, "end-to-end p95", percentile(end_to_end, 95), "ms")
        for stage, _, _ in STAGES:
            report.add(section, f"{stage}: compute p50", percentile(computes[stage], 50), "ms")
            report.add(section, f"{stage}: queue wait + broker + DB claim/write p50", percentile(waits[stage], 50), "ms")
        report.add(section, "orchestration overhead p50 (e2e - compute)", percentile(overhead, 50), "ms")
        report.add(section, "orchestration overhead p95", percentile(overhead, 95), "ms", below=50)
        memory = "peak RSS per worker (parent or pool child, whichever is larger)"
        for name, process in stack.processes.items():
            report.add(memory, name, peak_rss_mb(process.pid), "MiB")
    finally:
        stack.stop()



