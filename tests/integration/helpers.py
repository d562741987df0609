"""Driving a real stack over HTTP, as a PACS and a radiologist would."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

WAITING = {"RECEIVED", "QUEUED", "CLASSIFYING", "RETRIEVING", "DRAFTING"}


def submit(client: httpx.Client, key: str, paths: list[Path], accession: str, priority: str = "routine") -> str:
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    response = client.post("/v1/studies", files=files, data={"accession_number": accession, "priority": priority},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def wait_for(client: httpx.Client, key: str, study_ids: list[str], timeout: float = 240.0) -> dict[str, dict]:
    done: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(done) < len(study_ids):
        assert time.monotonic() < deadline, f"studies not done after {timeout} s: {set(study_ids) - set(done)}"
        for study_id in study_ids:
            if study_id in done:
                continue
            body = client.get(f"/v1/studies/{study_id}", headers={"Authorization": f"Bearer {key}"}).json()
            if body["status"] not in WAITING:
                done[study_id] = body
        time.sleep(0.25)
    return done
