"""`radstack up`: the whole embedded stack on one machine until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import time

from radstack.stack import Stack
from shared.config import get_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("up", help="run gateway + one worker per queue + sweeper until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    log_dir = settings.data_dir.resolve() / "logs"
    stack = Stack(env={}, port=args.port, log_dir=log_dir)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"starting radstack (database {settings.resolved_database_url}, broker {settings.resolved_broker_url})")
    stack.start()
    print(f"gateway:  {stack.base_url}")
    print(f"API docs: {stack.base_url}/docs")
    print(f"health:   {stack.base_url}/healthz")
    print(f"logs:     {log_dir}")
    print("create a key with: radstack keys create --role submitter --name my-pacs")
    print("Ctrl-C stops everything.", flush=True)
    try:
        while not stopping:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with code {process.returncode}; stopping (see {log_dir}/{name}.log)")
                    stopping = True
            time.sleep(0.5)
    finally:
        stack.stop()
        print("stopped.")
    return 0
