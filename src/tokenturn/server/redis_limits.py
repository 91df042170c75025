"""Failed-attempt limits shared by every node through Redis (contract §1, RFC 6819 §5.1.4.2.3).

Same sliding window as :class:`~tokenturn.server.limits.MemoryLimiter`, kept in one sorted set per
key (member = one failure, score = its time), trimmed to the newest ``count`` entries and expiring
with its window: a lockout always ends, and only failures are ever written. Each call is one Lua
script, so check-and-trim is atomic and one round trip.

Redis is an optimisation of the limits, not a dependency of the token endpoint: when it is
unreachable (or slow: short socket timeouts) the limiter answers from an in-process
:class:`MemoryLimiter` and stays there for ``retry_interval`` seconds before trying Redis again, so a
dead Redis costs one timeout per interval, not one per request. ``key_prefix`` on the URL
(``redis://host:6379/0?key_prefix=auth1:``) lets deployments share a Redis.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tokenturn.config import RateLimit
from tokenturn.server.limits import FailureLimiter, MemoryLimiter

log = logging.getLogger("tokenturn.server")

# KEYS[1] = the key's failure log; ARGV = now, window, count. Returns 0 or the score of the
# count-th newest failure (the window reopens ``window`` seconds after it).
_RETRY_AFTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
local count = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[1]) < count then return 0 end
local entry = redis.call('ZRANGE', KEYS[1], -count, -count, 'WITHSCORES')
return entry[2]
"""

# KEYS[1]; ARGV = now, window, count, member. Adds one failure, keeps the newest ``count``.
_RECORD = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[3]) - 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def split_url(url: str) -> tuple[str, str]:
    """The URL for redis-py and the ``key_prefix`` taken off its query string."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "key_prefix"), "tokenturn:")
    rest = urlencode([(k, v) for k, v in query if k != "key_prefix"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), prefix


class RedisLimiter:
    """A :class:`FailureLimiter` on Redis that falls back to process memory while Redis is down."""

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        key_prefix: str = "tokenturn:",
        fallback: FailureLimiter | None = None,
        retry_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._prefix = key_prefix + "fail:"
        self._fallback = fallback or MemoryLimiter()
        self._retry_interval = retry_interval
        self._monotonic = monotonic
        self._down_until = 0.0
        self._check = client.register_script(_RETRY_AFTER)
        self._record = client.register_script(_RECORD)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.25, **kwargs: Any) -> RedisLimiter:
        redis_url, prefix = split_url(url)
        client = aioredis.Redis.from_url(
            redis_url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # No client-side retries: the fallback is the retry; a retry loop would stall requests.
            retry=Retry(NoBackoff(), 0),
            max_connections=64,
        )
        return cls(client, key_prefix=prefix, **kwargs)

    @property
    def using_redis(self) -> bool:
        """False while the limiter answers from memory after a Redis failure."""
        return self._monotonic() >= self._down_until

    def _key(self, key: str) -> str:
        # Keys carry client input (usernames); bound their size.
        if len(key) > 128:
            key = "h:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return self._prefix + key

    def _went_down(self, exc: Exception) -> None:
        if self.using_redis:
            log.warning(
                "redis unavailable; failure limits kept in process for now",
                extra={"audit": {"event": "limits.redis_unavailable", "detail": type(exc).__name__}},
            )
        self._down_until = self._monotonic() + self._retry_interval

    async def retry_after(self, key: str, limit: RateLimit, now: float) -> int:
        if limit.count == 0:
            return 0
        if self.using_redis:
            try:
                oldest = await self._check(keys=[self._key(key)], args=[repr(now), limit.window, limit.count])
            except (RedisError, OSError) as exc:
                self._went_down(exc)
            else:
                if not oldest:
                    return 0
                return max(1, int(float(oldest) + limit.window - now + 0.999))
        return await self._fallback.retry_after(key, limit, now)

    async def record_failure(self, key: str, limit: RateLimit, now: float) -> None:
        if limit.count == 0:
            return
        if self.using_redis:
            member = f"{now!r}:{secrets.token_hex(4)}"
            try:
                await self._record(keys=[self._key(key)], args=[repr(now), limit.window, limit.count, member])
                return
            except (RedisError, OSError) as exc:
                self._went_down(exc)
        await self._fallback.record_failure(key, limit, now)

    async def aclose(self) -> None:
        await self._redis.aclose()
