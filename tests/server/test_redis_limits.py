"""Failure limits on Redis (contract §1 429 row): same answers as in process, shared, and never a hard dependency."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.relay import TcpRelay
from tokenturn.config import RateLimit
from tokenturn.server.limits import FailureLimiter, MemoryLimiter
from tokenturn.server.redis_limits import RedisLimiter

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0
LIMIT = RateLimit(3, 60)


@pytest.fixture
async def redis_limiter(redis_url: str) -> AsyncIterator[RedisLimiter]:
    limiter = RedisLimiter.from_url(redis_url)
    yield limiter
    await limiter.aclose()


# (seconds after NOW of each failure, seconds after NOW of the check) -> Retry-After
WINDOW_CASES = [
    ((), 0, 0),
    ((0, 1), 2, 0),  # under the limit
    ((0, 1, 2), 3, 57),  # the 3rd failure closes the window until the 1st is 60 s old
    ((0, 1, 2), 59.5, 1),
    ((0, 1, 2), 60, 0),  # the 1st has left the window: decayed
    ((0, 10, 20, 30), 31, 39),  # the oldest kept is the 3rd newest
    ((0, 1, 2), 120, 0),
]


@pytest.mark.parametrize(("failures", "check_at", "expected"), WINDOW_CASES)
async def test_redis_limiter_answers_like_the_in_process_one(
    redis_limiter: RedisLimiter, failures: tuple[float, ...], check_at: float, expected: int
) -> None:
    memory = MemoryLimiter()
    limiters: list[FailureLimiter] = [memory, redis_limiter]
    for limiter in limiters:
        for t in failures:
            await limiter.record_failure("client:c1", LIMIT, NOW + t)
    assert await memory.retry_after("client:c1", LIMIT, NOW + check_at) == expected
    assert await redis_limiter.retry_after("client:c1", LIMIT, NOW + check_at) == expected
    assert redis_limiter.using_redis


async def test_two_nodes_share_one_window(redis_url: str) -> None:
    node_a, node_b = RedisLimiter.from_url(redis_url), RedisLimiter.from_url(redis_url)
    try:
        await node_a.record_failure("user:alice", LIMIT, NOW)
        await node_b.record_failure("user:alice", LIMIT, NOW + 1)
        assert await node_a.retry_after("user:alice", LIMIT, NOW + 2) == 0
        await node_a.record_failure("user:alice", LIMIT, NOW + 2)
        assert await node_b.retry_after("user:alice", LIMIT, NOW + 3) == 57
        assert await node_b.retry_after("user:bob", LIMIT, NOW + 3) == 0
    finally:
        await node_a.aclose()
        await node_b.aclose()


async def test_a_zero_limit_never_blocks(redis_limiter: RedisLimiter) -> None:
    off = RateLimit(0, 60)
    for _ in range(5):
        await redis_limiter.record_failure("addr:1", off, NOW)
    assert await redis_limiter.retry_after("addr:1", off, NOW) == 0


async def test_huge_keys_are_bounded(redis_limiter: RedisLimiter) -> None:
    key = "user:" + "x" * 50_000
    for t in range(3):
        await redis_limiter.record_failure(key, LIMIT, NOW + t)
    assert await redis_limiter.retry_after(key, LIMIT, NOW + 3) == 57


async def test_redis_down_falls_back_to_memory_and_recovers(redis_url: str) -> None:
    """Redis cut: answers keep coming, quickly, from memory; Redis back: the shared window is used again."""
    from urllib.parse import urlsplit

    target = urlsplit(redis_url)
    relay = TcpRelay(target.port or 6379).open()
    clock = [0.0]
    limiter = RedisLimiter.from_url(
        redis_url.replace(f":{target.port}/", f":{relay.port}/"), retry_interval=5.0, monotonic=lambda: clock[0]
    )
    try:
        await limiter.record_failure("client:x", LIMIT, NOW)
        assert limiter.using_redis
        relay.close()
        started = time.monotonic()
        for t in (1, 2, 3):
            await limiter.record_failure("client:x", LIMIT, NOW + t)
        assert not limiter.using_redis
        # From memory: three failures recorded during the outage, and the answer came fast.
        assert await limiter.retry_after("client:x", LIMIT, NOW + 4) == 57
        assert time.monotonic() - started < 2.0
        relay.open()
        clock[0] += 5.0
        # Back on Redis, which only saw the one failure before the outage.
        assert await limiter.retry_after("client:x", LIMIT, NOW + 4) == 0
        assert limiter.using_redis
    finally:
        relay.close()
        await limiter.aclose()
