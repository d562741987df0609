"""How many messages wait on each queue, read from the broker itself."""

from __future__ import annotations

import time
from pathlib import Path

from shared.config import Settings, get_settings
from shared.queues import Queue

# kombu's Redis transport keeps each priority level of a queue under its own key.
_REDIS_PRIORITY_SEPARATOR = "\x06\x16"
_cache: dict[str, tuple[float, dict[str, int]]] = {}
CACHE_SECONDS = 1.0


def _filesystem_depths(folder: Path) -> dict[str, int]:
    counts = {q.value: 0 for q in Queue}
    if folder.exists():
        for entry in folder.iterdir():
            # kombu names each message file "<time>_<uuid>.<queue>.msg".
            parts = entry.name.rsplit(".", 2)
            if len(parts) == 3 and parts[2] == "msg" and parts[1] in counts:
                counts[parts[1]] += 1
    return counts


def _redis_depths(url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        counts = {}
        for queue in Queue:
            keys = [queue.value] + [f"{queue.value}{_REDIS_PRIORITY_SEPARATOR}{p}" for p in (3, 6, 9)]
            pipe = client.pipeline()
            for key in keys:
                pipe.llen(key)
            counts[queue.value] = int(sum(pipe.execute()))
        return counts
    finally:
        client.close()


def queue_depths(settings: Settings | None = None, *, fresh: bool = False) -> dict[str, int]:
    """Messages waiting per queue (not counting those a worker has already taken)."""
    settings = settings or get_settings()
    url = settings.resolved_broker_url
    # Every embedded broker has the same URL; its folder is what tells two apart.
    key = str(settings.broker_dir) if settings.uses_filesystem_broker else url
    cached = _cache.get(key)
    if cached and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    if settings.uses_filesystem_broker:
        depths = _filesystem_depths(settings.broker_dir / "messages")
    elif url.startswith(("redis://", "rediss://")):
        depths = _redis_depths(url)
    else:
        depths = {}
    _cache[key] = (time.monotonic(), depths)
    return depths
