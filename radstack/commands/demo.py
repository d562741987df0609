"""`radstack demo`: the whole pipeline on the bundled sample radiographs, then a summary.

Starts the embedded stack as real processes (gateway, a worker per queue, sweeper), submits
every sample through the HTTP API as a PACS would, waits for each draft, prints what came back,
and stops every process it started.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import time
from pathlib import Path

import httpx

from radstack.stack import Stack

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples" / "cxr"
IMAGE_SUFFIXES = {".dcm", ".png", ".jpg", ".jpeg"}
DONE = {"AWAITING_REVIEW", "FAILED", "SIGNED_OFF", "REJECTED", "AMENDED", "CANCELLED"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the pipeline on the bundled sample radiographs")
    parser.add_argument("--samples", type=Path, default=SAMPLES_DIR)
    parser.add_argument("--data-dir", type=Path, default=Path(".radstack/demo"),
                        help="scratch folder (emptied first)")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.set_defaults(handler=run)


def _create_key(env: dict[str, str]) -> str:
    from shared.auth import Role, create_key
    from shared.config import reset_settings_cache
    from shared.db import dispose_engines, session_scope

    os.environ.update(env)
    reset_settings_cache()
    dispose_engines()
    with session_scope() as session:
        _, raw = create_key(session, name="demo-pacs", role=Role.SUBMITTER, actor="demo")
    return raw


def run(args: argparse.Namespace) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll is noise here
    files = sorted(p for p in args.samples.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        print(f"no sample radiographs in {args.samples}")
        return 1
    data_dir = args.data_dir.resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    # The embedded default (SQLite + filesystem broker) in a scratch folder; the demo model
    # unless another one is configured.
    env = {"RADSTACK_DATA_DIR": str(data_dir), "RADSTACK_MODEL": os.environ.get("RADSTACK_MODEL", "demo")}
    for name in ("RADSTACK_DATABASE_URL", "RADSTACK_BROKER_URL"):
        os.environ.pop(name, None)

    stack = Stack(env=env, log_dir=data_dir / "logs")
    print(f"starting the embedded stack (logs in {data_dir / 'logs'}) ...", flush=True)
    started = time.perf_counter()
    try:
        stack.start()
        print(f"stack up in {time.perf_counter() - started:.1f} s at {stack.base_url}", flush=True)
        key = _create_key(env)
        return _submit_and_report(stack.base_url, key, files, args.timeout)
    finally:
        stack.stop()
        print("all processes stopped.")


def _submit_and_report(base_url: str, key: str, files: list[Path], timeout: float) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    submitted: dict[str, tuple[Path, float]] = {}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for index, path in enumerate(files, start=1):
            response = client.post(
                "/v1/studies",
                files={"files": (path.name, path.read_bytes())},
                data={"accession_number": f"DEMO-{index:04d}", "priority": "stat" if index == 1 else "routine"},
                headers={"Idempotency-Key": f"demo-{path.name}"},
            )
            response.raise_for_status()
            submitted[response.json()["id"]] = (path, time.perf_counter())
            print(f"submitted {path.name:<28} -> study {response.json()['id']}", flush=True)

        results: dict[str, tuple[dict, float]] = {}
        deadline = time.monotonic() + timeout
        while len(results) < len(submitted) and time.monotonic() < deadline:
            for study_id, (_, sent) in submitted.items():
                if study_id in results:
                    continue
                body = client.get(f"/v1/studies/{study_id}").json()
                if body["status"] in DONE:
                    results[study_id] = (body, time.perf_counter() - sent)
            time.sleep(0.2)

    print()
    print("=" * 78)
    ok = True
    for study_id, (path, _) in submitted.items():
        if study_id not in results:
            print(f"{path.name}: still not done after {timeout:.0f} s")
            ok = False
            continue
        body, elapsed = results[study_id]
        ok &= body["status"] == "AWAITING_REVIEW"
        print(f"{path.name}  study {study_id}  accession {body['accession_number']}  priority {body['priority']}")
        print(f"  status {body['status']} ({body['ups_state']}) after {elapsed:.1f} s end to end")
        if body.get("error"):
            print(f"  error: {body['error']}")
        top = body["findings"][:3]
        if top:
            model = top[0]["model"]
            print(f"  model {model['id']} ({model['version']}), weights sha256 {model['weights_sha256'][:12]}…")
            print("  top findings: " + ", ".join(
                f"{f['label']} {f['probability']:.2f}{' +' if f['positive'] else ''}" for f in top))
        if body.get("report"):
            lines = [line for line in body["report"]["text"].splitlines() if line.strip()][:4]
            for line in lines:
                print(f"  | {line[:100]}")
        print("-" * 78)
    if any(b.get("is_demo") for b, _ in results.values()):
        print("Findings above come from the DEMO MODEL (seeded random weights): NOT FOR CLINICAL USE.")
    print("all studies reached AWAITING_REVIEW" if ok else "SOME STUDIES DID NOT REACH AWAITING_REVIEW")
    return 0 if ok else 1
