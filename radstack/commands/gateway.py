"""`radstack gateway`: the HTTP API."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("gateway", help="run the HTTP gateway (FastAPI under uvicorn)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--limit-concurrency", type=int, default=256,
                        help="requests in flight per process before new ones get 503 (bounds memory)")
    parser.add_argument("--timeout-keep-alive", type=int, default=5, help="seconds an idle connection is kept")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    uvicorn.run("api_gateway.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False,
                limit_concurrency=args.limit_concurrency, timeout_keep_alive=args.timeout_keep_alive)
    return 0
