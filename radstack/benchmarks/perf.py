"""`radstack bench perf`: every performance figure in one run, each beside its target."""

from __future__ import annotations

import argparse
import socket
import time
from urllib.parse import urlparse

from radstack.benchmarks.report import Report


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("perf", help="classify throughput, end-to-end latency, gateway throughput, "
                                         "retrieval latency, worker memory")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14",
                        help="broker for the end-to-end and gateway runs (a database number of its own)")
    parser.add_argument("--database-url", default=None,
                        help="database for those runs (default: SQLite in a temporary folder)")
    parser.add_argument("--images", type=int, default=32, help="images per classify measurement")
    parser.add_argument("--batch", type=int, default=8, help="classify batch size B")
    parser.add_argument("--studies", type=int, default=30, help="studies for the end-to-end latency")
    parser.add_argument("--requests", type=int, default=1000, help="submits for the gateway throughput")
    parser.add_argument("--only", action="append",
                        choices=("classify", "retrieval", "pipeline", "gateway"), help="run only these parts")
    parser.set_defaults(handler=run)


def _reachable(url: str) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    # Imported here: they pull in torch, which `radstack --help` and the gateway must not load.
    from radstack.benchmarks import classify_bench, gateway_bench, pipeline_bench, retrieval_bench

    parts = set(args.only or ("classify", "retrieval", "pipeline", "gateway"))
    report = Report()
    started = time.perf_counter()
    if "classify" in parts:
        classify_bench.run(report, images=args.images, batch=args.batch)
    if "retrieval" in parts:
        retrieval_bench.run(report)
    if parts & {"pipeline", "gateway"}:
        if not _reachable(args.redis_url):
            print(f"Redis at {args.redis_url} is not reachable: skipping the end-to-end and gateway parts")
        else:
            import redis

            redis.Redis.from_url(args.redis_url).flushdb()  # a database of the benchmark's own
            if "pipeline" in parts:
                pipeline_bench.run(report, broker_url=args.redis_url, database_url=args.database_url,
                                   studies=args.studies)
            if "gateway" in parts:
                gateway_bench.run(report, broker_url=args.redis_url, database_url=args.database_url,
                                  requests=args.requests)
    print()
    print(f"radstack bench perf: {time.perf_counter() - started:.0f} s")
    print(report.table())
    missed = [f for f in report.figures if f.met is False]
    print(f"{sum(f.met is True for f in report.figures)} targets met, {len(missed)} missed")
    return 0
