"""Single-flight refreshes: several tabs presenting one refresh token cause one upstream rotation.

RFC 9700 §4.14.2 rotation means the second use of a refresh token is reuse, and an upstream without
a grace window revokes the whole family for it. The browser tabs of one person race exactly like
that, so concurrent callers with the same token share one upstream call, and a successful answer is
kept for a few seconds for callers that arrive just after it. Entries are keyed by an HMAC of the
token under a per-process random key: the refresh token itself is never a dictionary key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tokenturn.proxy.upstream import UpstreamAnswer


@dataclass(slots=True)
class _Entry:
    task: asyncio.Future[UpstreamAnswer]
    expires: float  # when a finished, successful answer stops being shared


class SingleFlight:
    """``run(token, call)``: at most one ``call`` per token in flight; successes kept ``keep`` seconds."""

    def __init__(
        self, keep: float = 5.0, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._keep = keep
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self.upstream_calls = 0  # for tests and logs

    def _digest(self, token: str) -> bytes:
        return hmac.digest(self._key, token.encode(), hashlib.sha256)

    def _sweep(self, now: float) -> None:
        # Entries are in insertion order, so expired ones cluster at the front.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.task.done() and (entry.expires <= now or len(self._entries) > self._max):
                del self._entries[key]
            else:
                break

    async def run(self, token: str, call: Callable[[], Awaitable[UpstreamAnswer]]) -> tuple[UpstreamAnswer, bool]:
        """The answer for ``token`` and whether it was shared (True) rather than fetched by this caller."""
        now = self._clock()
        self._sweep(now)
        key = self._digest(token)
        entry = self._entries.get(key)
        if entry is not None and (not entry.task.done() or entry.expires > now):
            # shield: one impatient caller going away must not cancel the call the others wait on.
            return await asyncio.shield(entry.task), True
        self.upstream_calls += 1
        task: asyncio.Future[UpstreamAnswer] = asyncio.ensure_future(call())
        entry = _Entry(task, float("inf"))
        self._entries[key] = entry
        task.add_done_callback(lambda done: self._finished(key, entry, done))
        return await asyncio.shield(task), False

    def _finished(self, key: bytes, entry: _Entry, task: asyncio.Future[UpstreamAnswer]) -> None:
        ok = not task.cancelled() and task.exception() is None and task.result().ok
        if ok and self._keep > 0:
            entry.expires = self._clock() + self._keep
        elif self._entries.get(key) is entry:
            # Failures are shared only with callers already waiting; the next caller asks again.
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
