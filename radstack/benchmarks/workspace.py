"""A throw-away data folder with a migrated database and studies made the way the gateway makes
them, so in-process benchmarks run the real stage code on real rows and blobs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from radstack.commands.demo import SAMPLES_DIR

SAMPLE_NAMES = ("00000001_000.png", "00027426_000.png", "h0001.png", "16747_3_1.jpg", "rsna_cr_pa_monochrome2.dcm")


def point_process_at(env: dict[str, str]) -> None:
    """Replace this process's RADSTACK_ settings with `env` and drop cached engines and brokers."""
    from shared.celery_app import celery_app, configure_celery
    from shared.config import get_settings, reset_settings_cache
    from shared.db import dispose_engines

    for name in [n for n in os.environ if n.startswith("RADSTACK_")]:
        del os.environ[name]
    os.environ.update(env)
    reset_settings_cache()
    dispose_engines()
    configure_celery(celery_app, get_settings())


def use_fresh_workspace(extra_env: dict[str, str] | None = None) -> Path:
    """Point this process at a new temporary data dir (SQLite, filesystem broker) and migrate."""
    from shared.migrate import upgrade

    folder = Path(tempfile.mkdtemp(prefix="radstack-bench-"))
    point_process_at({"RADSTACK_DATA_DIR": str(folder), "RADSTACK_MODEL": "demo"} | (extra_env or {}))
    upgrade()
    return folder


def sample_bytes() -> list[tuple[str, bytes]]:
    return [(name, (SAMPLES_DIR / name).read_bytes()) for name in SAMPLE_NAMES]


def make_studies(count: int) -> list[str]:
    """`count` one-image studies, committed and QUEUED, cycling through the samples."""
    from api_gateway.submissions import Upload, create_study, decode_uploads
    from shared.auth import Role, create_key
    from shared.config import get_settings
    from shared.db import session_scope
    from shared.storage import default_store

    settings = get_settings()
    samples = sample_bytes()
    ids = []
    with session_scope() as session:
        key, _ = create_key(session, name="bench", role=Role.SUBMITTER, actor="bench")
        for index in range(count):
            name, data = samples[index % len(samples)]
            uploads = [Upload(filename=name, data=data)]
            study = create_study(
                session, client=key, actor="bench", uploads=uploads, checked=decode_uploads(uploads, settings),
                accession_number=f"BENCH-{index:05d}", priority="routine", callback_url=None,
                idempotency_key=None, store=default_store(),
            )
            ids.append(study.id)
    return ids
