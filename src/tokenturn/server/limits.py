"""Failed-attempt limits (contract §1, RFC 6819 §5.1.4.2.3, §5.2.3.1): per client_id, per source
address, per username. Only failures count, so a client that authenticates correctly is never
pushed over; counts decay with their window, so a lockout always ends.

In process by default (each worker counts on its own); :mod:`tokenturn.server.redis_limits`
shares them across nodes when ``TOKENTURN_REDIS_URL`` is set.
"""

from __future__ import annotations

import collections
import hashlib
from typing import Protocol

from tokenturn.config import RateLimit


class FailureLimiter(Protocol):
    async def retry_after(self, key: str, limit: RateLimit, now: float) -> int:
        """Seconds until ``key`` may try again; 0 when it is not over its limit."""

    async def record_failure(self, key: str, limit: RateLimit, now: float) -> None: ...


def bounded_key(key: str) -> str:
    """Keys are attacker-chosen (a 64 KiB username): keep a digest of long ones, as the Redis limiter does."""
    if len(key) <= 128:
        return key
    return "h:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class MemoryLimiter:
    """Sliding-window failure log per key; at most ``max_keys`` keys (oldest evicted first)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._log: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._max_keys = max_keys

    def _recent(self, key: str, limit: RateLimit, now: float) -> collections.deque[float] | None:
        key = bounded_key(key)
        log = self._log.get(key)
        if log is None:
            return None
        while log and log[0] <= now - limit.window:
            log.popleft()
        if not log:
            del self._log[key]
            return None
        return log

    async def retry_after(self, key: str, limit: RateLimit, now: float) -> int:
        if limit.count == 0:
            return 0
        log = self._recent(key, limit, now)
        if log is None or len(log) < limit.count:
            return 0
        return max(1, int(log[-limit.count] + limit.window - now + 0.999))

    async def record_failure(self, key: str, limit: RateLimit, now: float) -> None:
        if limit.count == 0:
            return
        log = self._recent(key, limit, now)
        key = bounded_key(key)
        if log is None:
            log = self._log[key] = collections.deque(maxlen=limit.count)
            if len(self._log) > self._max_keys:
                self._log.popitem(last=False)
        else:
            self._log.move_to_end(key)
        log.append(now)
