"""Retries with exponential backoff and full jitter, bounded in attempts and total time (RFC 6585 §4, RFC 9110 §10.2.3).

Retried: transport failures, 5xx and 429 answers (a ``Retry-After`` header is honoured instead of the
backoff). Never retried: any other 4xx — ``invalid_grant`` and ``invalid_client`` in particular, which no
amount of waiting fixes.

A refresh is not idempotent: if its request may have reached the server (a read timeout, a dropped
connection) it is retried *once*, at once, with the same refresh token. tokenturn's grace window
(contract §1) then answers with the same successor pair; waiting longer could outlast the window and
turn the retry into a reuse that revokes the family.

This module is sans-I/O: :func:`exchange` yields :class:`Call` and :class:`Sleep` instructions and is
driven by ``_client``'s sync and async drivers, which throw :class:`TransportError` into it.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field

from tokenturn.client._errors import TransportError


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to send: method, URL, headers and an already encoded body."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer; header names lower-cased."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds before the next instruction."""

    seconds: float


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all (1 = no retry), within ``total`` seconds of waiting and sending.

    Delay before retry *n* is uniform in ``[0, min(cap, base * 2**(n-1))]`` (full jitter), or the server's
    ``Retry-After`` when given; a wait that would end past the ``total`` budget is not started.
    """

    attempts: int = 4
    base: float = 0.2
    cap: float = 5.0
    total: float = 30.0
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = field(default=random.random)

    def backoff(self, retry_number: int) -> float:
        return float(self.rng() * min(self.cap, self.base * 2 ** (retry_number - 1)))


NO_RETRY = RetryPolicy(attempts=1)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date, RFC 9110 §10.2.3); None if absent."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def exchange(
    call: Call, policy: RetryPolicy, *, idempotent: bool, wall_clock: Callable[[], float] = time.time
) -> Generator[Call | Sleep, Reply | None, Reply]:
    """Send ``call`` until an answer worth returning arrives; return it (any status) or raise TransportError.

    The last retryable answer (e.g. a 503 after the final attempt) is returned, not raised, so the caller
    maps it to the OAuth error the server sent.
    """
    started = policy.clock()
    ambiguous_retry_used = False
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = yield call
        except TransportError as exc:
            if attempt >= policy.attempts:
                raise
            if exc.maybe_sent and not idempotent:
                # The server may have rotated already: one immediate retry inside its grace window, no more.
                if ambiguous_retry_used:
                    raise
                ambiguous_retry_used = True
                continue
            delay = policy.backoff(attempt)
            if policy.clock() - started + delay > policy.total:
                raise
        else:
            if answer is None:
                raise RuntimeError("the driver must send a Reply for a Call")
            reply = answer
            if reply.status not in RETRY_STATUSES or attempt >= policy.attempts:
                return reply
            hinted = retry_after(reply.headers, wall_clock())
            delay = policy.backoff(attempt) if hinted is None else hinted
            if policy.clock() - started + delay > policy.total:
                return reply
        if delay > 0:
            yield Sleep(delay)
