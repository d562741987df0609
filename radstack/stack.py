"""Starting and stopping the whole stack as real processes: gateway, one worker per queue, and
the maintenance worker with the sweeper's beat. Used by `radstack up`, `radstack demo`, the
integration tests and the benchmarks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.metrics_setup import MULTIPROC_ENV
from shared.queues import Queue

STAGE_QUEUES = (Queue.CLASSIFY, Queue.RETRIEVE, Queue.GENERATE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def radstack_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "radstack.cli", *args]


@dataclass
class Stack:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    log_dir: Path | None = None
    with_sweeper: bool = True
    worker_args: tuple[str, ...] = ()
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    ready_dir: Path = Path(".radstack/ready")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        env = os.environ | self.env
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (owned by the child)
        else:
            out = subprocess.DEVNULL  # type: ignore[assignment]
        process = subprocess.Popen(radstack_command(*args), env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes[name] = process
        return process

    def migrate(self) -> None:
        done = subprocess.run(radstack_command("migrate"), env=os.environ | self.env, capture_output=True, text=True)
        if done.returncode != 0:  # Alembic's progress lines are noise unless it failed
            raise RuntimeError(f"radstack migrate failed:\n{done.stderr[-4000:]}")

    def start_worker(self, queue: Queue, *extra: str) -> subprocess.Popen[bytes]:
        args = ["worker", "--queues", queue.value, *self.worker_args, *extra]
        if queue is Queue.MAINTENANCE:
            args.append("--beat")
        return self._spawn(f"worker-{queue.value}", *args)

    def start(self, timeout: float = 120.0) -> None:
        data_dir = Path(self.env.get("RADSTACK_DATA_DIR") or os.environ.get("RADSTACK_DATA_DIR") or ".radstack")
        metrics_dir = data_dir.resolve() / "metrics"
        # Samples from an earlier run's processes would be merged into this run's /metrics.
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        self.env = self.env | {MULTIPROC_ENV: str(metrics_dir)}
        self.ready_dir = data_dir.resolve() / "ready"
        shutil.rmtree(self.ready_dir, ignore_errors=True)
        self.migrate()
        self._spawn("gateway", "gateway", "--host", "127.0.0.1", "--port", str(self.port))
        for queue in STAGE_QUEUES:
            self.start_worker(queue)
        if self.with_sweeper:
            self.start_worker(Queue.MAINTENANCE)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        """Until the gateway answers /healthz and every worker has written its ready file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode} during start-up"
                                       + (f"; see {self.log_dir}/{name}.log" if self.log_dir else ""))
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200 and self.workers_ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"gateway not healthy after {timeout:.0f} s")

    def workers_ready(self) -> bool:
        names = [n.removeprefix("worker-") for n in self.processes if n.startswith("worker-")]
        return all((self.ready_dir / name).exists() for name in names)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM everything (a worker finishes or hands back its task), then SIGKILL stragglers."""
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes.clear()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
