"""Gateway submit throughput with a concurrent client on loopback, for a small PNG."""

from __future__ import annotations

import asyncio
import io
import tempfile
import time
from pathlib import Path

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


def _request_bytes(port: int, key: str, png: bytes, index: int) -> bytes:
    boundary = "radstackbench"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"accession_number\"\r\n\r\nGW-{index}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n"
        f"Content-Type: image/png\r\n\r\n"
    ).encode() + png + f"\r\n--{boundary}--\r\n".encode()
    head = (
        f"POST /v1/studies HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def _load(port: int, key: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    """A deliberately thin client (pre-built HTTP/1.1 requests on keep-alive connections): on a
    2-core machine a full HTTP client would take CPU from the gateway it is measuring."""
    png = small_png()
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def connection_loop() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                writer.write(_request_bytes(port, key, png, index))
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += b" 202 " not in status_line
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection_loop() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


def run(report: Report, *, broker_url: str, database_url: str | None, requests: int = 1000,
        concurrency: tuple[int, ...] = (8, 16), gateway_workers: int = 1) -> None:
    """The targets are read at the first concurrency; later ones show saturation."""
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
        asyncio.run(_load(stack.port, key, 50, concurrency[0]))  # warm up
        runs = [(level, *asyncio.run(_load(stack.port, key, requests, level))) for level in concurrency]
    finally:
        stack.stop()
    database = "PostgreSQL" if database_url and database_url.startswith("postgresql") else "SQLite"
    section = f"gateway submit ({requests} x 64x64 PNG, {gateway_workers} uvicorn worker(s), {database})"
    for position, (level, latencies, elapsed, errors) in enumerate(runs):
        targeted = position == 0
        report.add(section, f"{level} concurrent: throughput", requests / elapsed, "req/s",
                   at_least=200 if targeted else None)
        report.add(section, f"{level} concurrent: latency p50", percentile(latencies, 50), "ms")
        report.add(section, f"{level} concurrent: latency p99", percentile(latencies, 99), "ms",
                   below=100 if targeted else None)
        report.add(section, f"{level} concurrent: non-202 answers", errors, "count")
