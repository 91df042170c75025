"""Per-address request limits for ``/refresh`` and ``/login`` (RFC 6749 §10.10, RFC 6819 §5.1.4.2.3).

The proxy holds the client secret, so without a limit anyone who can reach it can make the upstream
count failures against *its* client_id and lock every user out. Every request counts (not only
failures): the proxy cannot tell a scripted guess from a tab, and a person never needs more than a
few refreshes a minute. Counts are kept in this process; ``count == 0`` disables a limit.
"""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Callable

from tokenturn.config import RateLimit


class WindowLimiter:
    """Sliding-window log per key, at most ``max_keys`` keys (the least recently seen are dropped)."""

    def __init__(self, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._log: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._max_keys = max_keys
        self._clock = clock

    def hit(self, key: str, limit: RateLimit) -> int:
        """Count one request for ``key``; 0 if it may proceed, else the seconds to wait (``Retry-After``)."""
        if limit.count == 0:
            return 0
        now = self._clock()
        log = self._log.get(key)
        if log is None:
            log = self._log[key] = collections.deque(maxlen=limit.count)
            if len(self._log) > self._max_keys:
                self._log.popitem(last=False)
        else:
            self._log.move_to_end(key)
        while log and log[0] <= now - limit.window:
            log.popleft()
        if len(log) >= limit.count:
            # Refused requests are not logged, so a client that waits Retry-After always gets through.
            return max(1, math.ceil(log[0] + limit.window - now))
        log.append(now)
        return 0
