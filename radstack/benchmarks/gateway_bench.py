"""Gateway submit throughput with a concurrent client on loopback, for a small PNG."""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from radstack.benchmarks.report import Report, percentile
from radstack.benchmarks.workspace import point_process_at
from radstack.stack import Stack


def small_png() -> bytes:
    gradient = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1))
    buffer = io.BytesIO()
    Image.fromarray(gradient).save(buffer, format="PNG")
    return buffer.getvalue()


async def _load(base_url: str, key: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    png = small_png()
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            response = await client.post("/v1/studies", files={"files": ("x.png", png)},
                                         data={"accession_number": f"GW-{index}"})
            latencies.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 202

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"},
                                 limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, elapsed, errors


def run(report: Report, *, broker_url: str, database_url: str | None, requests: int = 1000,
        concurrency: int = 16, gateway_workers: int = 1) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="radstack-bench-gw-"))
    env = {"RADSTACK_DATA_DIR": str(data_dir), "RADSTACK_BROKER_URL": broker_url,
           "RADSTACK_SUBMIT_RATE_PER_MINUTE": "1000000", "RADSTACK_MAX_QUEUE_DEPTH": "10000000"}
    if database_url:
        env["RADSTACK_DATABASE_URL"] = database_url
    stack = Stack(env=env, log_dir=data_dir / "logs", with_sweeper=False)
    stack.migrate()
    stack._spawn("gateway", "gateway", "--host", "127.0.0.1", "--port", str(stack.port),
                 "--workers", str(gateway_workers))
    try:
        stack.wait_healthy(60)
        point_process_at(env)
        from shared.auth import Role, create_key
        from shared.db import session_scope

        with session_scope() as session:
            _, key = create_key(session, name="bench", role=Role.SUBMITTER, actor="bench")
        asyncio.run(_load(stack.base_url, key, 50, concurrency))  # warm up
        latencies, elapsed, errors = asyncio.run(_load(stack.base_url, key, requests, concurrency))
    finally:
        stack.stop()
    database = "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite"
    section = (f"gateway submit ({requests} x 64x64 PNG, {concurrency} concurrent, {gateway_workers} uvicorn "
               f"worker(s), {database})")
    report.add(section, "throughput", requests / elapsed, "req/s", at_least=200)
    report.add(section, "latency p50", percentile(latencies, 50), "ms")
    report.add(section, "latency p99", percentile(latencies, 99), "ms", below=100)
    report.add(section, "non-202 answers", errors, "count")
