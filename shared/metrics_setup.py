"""Where every radstack process writes its Prometheus samples.

Workers and the gateway are separate processes (and prefork children), so process-local
counters would each see only a slice. prometheus_client's multiprocess mode writes every
process's samples to files in one folder, which the gateway's /metrics merges; in docker compose
that folder sits on the volume every service shares. This module must not import
prometheus_client: the folder has to be set before that import picks its value store.
"""

from __future__ import annotations

import os
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def configure_multiprocess(data_dir: Path, *, clear: bool = False) -> Path:
    folder = Path(os.environ.get(MULTIPROC_ENV) or data_dir.resolve() / "metrics")
    folder.mkdir(parents=True, exist_ok=True)
    if clear:
        for stale in folder.glob("*.db"):
            stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
