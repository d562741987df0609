"""Back-pressure on submission: a per-key rate limit and a bound on the classify queue.

The rate limit is per gateway process (a token bucket in memory): with N gateway processes a
key may submit up to N times the configured rate. That is deliberate: it needs no shared state,
and its job is to stop one runaway client, not to meter exactly.
"""

from __future__ import annotations

import math
import threading
import time

from api_gateway.errors import ApiError
from shared.config import get_settings
from shared.queue_depth import queue_depths
from shared.queues import Queue


class TokenBucket:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)

    def take(self, key: str, per_minute: int) -> float:
        """Take one token; return 0 if allowed, else the seconds until one is available."""
        capacity = float(per_minute)
        rate = per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / rate


_submissions = TokenBucket()


def check_submission_allowed(key_id: str) -> None:
    settings = get_settings()
    wait = _submissions.take(key_id, settings.submit_rate_per_minute)
    if wait:
        raise ApiError(429, "rate_limited", f"more than {settings.submit_rate_per_minute} submissions a minute",
                       headers={"Retry-After": str(math.ceil(wait))})
    try:
        depth = queue_depths(settings).get(Queue.CLASSIFY.value, 0)
    except Exception:  # an unreachable broker is not back-pressure: the sweeper will enqueue
        return
    if depth >= settings.max_queue_depth:
        raise ApiError(503, "queue_full", f"{depth} studies are waiting to be classified; try again shortly",
                       headers={"Retry-After": "30"})
