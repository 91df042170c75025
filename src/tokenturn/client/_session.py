"""``Session``: one token kept fresh for many callers, refreshed once per expiry (RFC 6749 §6, RFC 9700 §4.14).

Fast path: a fresh token is returned after one monotonic-clock comparison — no lock, no store I/O.
Slow path (expired, within the leeway, or rejected by the API):

- threads: one ``threading.Lock``; inside it the token is re-checked, so the threads that queued up
  behind a refresh reuse its result — or, if it failed, raise its error without trying again;
- asyncio tasks: per event loop an ``asyncio.Lock`` guards "is a refresh in flight? else start one".
  The refresh runs as its own task that callers await through ``asyncio.shield``: a cancelled caller
  does not cancel it, and a failure reaches every waiter;
- processes: the store's ``lock()`` (a file lock for :class:`JSONFileStore`) is held around
  read-refresh-write, and the store is re-read inside it — another process may have refreshed.

A rotated pair is saved to the store before the new access token is handed out. On ``invalid_grant``
the store is re-read once: if another user of the store rotated, its pair is used instead of failing.
A sync thread and an async task of the *same* process sharing a :class:`MemoryStore` are not
serialised with each other; tokenturn's grace window answers such a double refresh with one pair.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import TypeGuard, TypeVar

from tokenturn.client._client import TokenClient
from tokenturn.client._errors import ClientError, InvalidGrant, LoginRequired
from tokenturn.client._stores import MemoryStore, TokenStore
from tokenturn.client._types import Token

T = TypeVar("T")


class _LoopState:
    __slots__ = ("inflight", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.inflight: asyncio.Task[Token] | None = None


def _consume(task: asyncio.Task[Token]) -> None:
    # Every waiter may have been cancelled; fetching the exception keeps asyncio from logging it as lost.
    if not task.cancelled():
        task.exception()


class Session:
    """Keeps one session's token fresh in ``store``; share one instance between threads and tasks.

    ``leeway``: refresh this many seconds before expiry, at most half the token's lifetime.
    ``client_credentials=True``: obtain and renew tokens with the client credentials grant instead of
    a refresh token (for machine clients; no login needed).
    """

    def __init__(
        self,
        client: TokenClient,
        store: TokenStore | None = None,
        *,
        leeway: float = 60.0,
        scope: str | None = None,
        client_credentials: bool = False,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.store: TokenStore = MemoryStore() if store is None else store
        self.leeway = leeway
        self.scope = scope
        self.client_credentials = client_credentials
        self._clock, self._monotonic = clock, monotonic
        # (token, monotonic instant until which it needs no refresh), replaced as one object so that
        # lock-free readers never pair a new token with an old deadline.
        self._current: tuple[Token | None, float] = (None, -math.inf)
        self._thread_lock = threading.Lock()
        self._attempts = 0  # refresh attempts made under the thread lock
        self._last_error: ClientError | None = None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._io_inline = isinstance(self.store, MemoryStore)

    # -- reading --------------------------------------------------------------------------------
    @property
    def current(self) -> Token | None:
        """The token in memory, fresh or not, without any I/O."""
        return self._current[0]

    def token(self, *, rejected: Token | None = None) -> Token:
        """A fresh token, refreshing if needed; ``rejected``: the API refused this one, get another."""
        token, fresh_until = self._current
        if token is not None and self._monotonic() < fresh_until and not _same(token, rejected):
            return token
        attempts_seen = self._attempts
        with self._thread_lock:
            if self._attempts != attempts_seen and self._last_error is not None:
                # We queued behind a refresh that failed: share its error instead of trying again at once.
                raise self._last_error
            token = self._current[0]
            if self._usable(token, rejected):
                return token
            with self.store.lock():
                stored = self.store.load()
                if self._usable(stored, rejected):
                    self._adopt(stored)
                    return stored
                try:
                    renewed = self._renew(stored or token)
                except ClientError as exc:
                    self._last_error = exc
                    raise
                else:
                    self._last_error = None
                    return renewed
                finally:
                    self._attempts += 1

    async def atoken(self, *, rejected: Token | None = None) -> Token:
        """:meth:`token` for asyncio code."""
        token, fresh_until = self._current
        if token is not None and self._monotonic() < fresh_until and not _same(token, rejected):
            return token
        state = self._loop_state()
        async with state.lock:
            task = state.inflight
            if task is None or task.done():
                token = self._current[0]
                if self._usable(token, rejected):
                    return token
                task = state.inflight = asyncio.get_running_loop().create_task(self._arenew(rejected))
                task.add_done_callback(_consume)
        return await asyncio.shield(task)

    # -- logging in -----------------------------------------------------------------------------
    def login_password(self, username: str, password: str, scope: str | None = None) -> Token:
        """Password grant; the new pair is saved before it is returned."""
        with self._thread_lock, self.store.lock():
            return self._commit(self.client.password(username, password, scope or self.scope))

    async def alogin_password(self, username: str, password: str, scope: str | None = None) -> Token:
        token = await self.client.apassword(username, password, scope or self.scope)
        async with self._store_locked():
            return await self._acommit(token)

    def set_refresh_token(self, refresh_token: str) -> None:
        """Start from a refresh token obtained elsewhere (the seed's flow); the first use refreshes it."""
        with self._thread_lock, self.store.lock():
            self._commit(Token.from_refresh_token(refresh_token, self.scope or ""))

    def logout(self) -> None:
        """Revoke the refresh token (its whole family, contract §2) or the access token, and clear the store."""
        with self._thread_lock, self.store.lock():
            token = self.store.load() or self._current[0]
            self.store.clear()
            self._current = (None, -math.inf)
            if token is not None and token.refresh_token:
                self.client.revoke(token.refresh_token, "refresh_token")
            elif token is not None and token.access_token:
                self.client.revoke(token.access_token, "access_token")

    # -- internals --------------------------------------------------------------------------------
    def _leeway(self, token: Token) -> float:
        return min(self.leeway, token.expires_in / 2)

    def _usable(self, token: Token | None, rejected: Token | None) -> TypeGuard[Token]:
        if token is None or not token.access_token or _same(token, rejected):
            return False
        return token.expires_at - self._leeway(token) > self._clock()

    def _adopt(self, token: Token) -> None:
        remaining = token.expires_at - self._leeway(token) - self._clock()
        self._current = (token, self._monotonic() + remaining)

    def _commit(self, token: Token) -> Token:
        try:
            self.store.save(token)
        finally:
            # Even if the store failed, this process keeps the rotated pair: the old one is used up.
            self._adopt(token)
        return token

    def _renew(self, base: Token | None) -> Token:
        """Refresh ``base`` (or grant anew) and save; the caller holds the thread and store locks."""
        if self.client_credentials:
            return self._commit(self.client.client_credentials(self.scope))
        if base is None or not base.refresh_token:
            raise LoginRequired("no refresh token in the session; log in first")
        try:
            return self._commit(self.client.refresh(base.refresh_token, self.scope))
        except InvalidGrant:
            again = self.store.load()
            if again is None or not again.refresh_token or again.refresh_token == base.refresh_token:
                raise
        # Another user of the store rotated under us (a store without a shared lock): use its pair.
        if self._usable(again, None):
            self._adopt(again)
            return again
        return self._commit(self.client.refresh(again.refresh_token, self.scope))

    async def _arenew(self, rejected: Token | None) -> Token:
        async with self._store_locked():
            stored = await self._io(self.store.load)
            if self._usable(stored, rejected):
                self._adopt(stored)
                return stored
            base = stored or self._current[0]
            if self.client_credentials:
                return await self._acommit(await self.client.aclient_credentials(self.scope))
            if base is None or not base.refresh_token:
                raise LoginRequired("no refresh token in the session; log in first")
            try:
                return await self._acommit(await self.client.arefresh(base.refresh_token, self.scope))
            except InvalidGrant:
                again = await self._io(self.store.load)
                if again is None or not again.refresh_token or again.refresh_token == base.refresh_token:
                    raise
            if self._usable(again, None):
                self._adopt(again)
                return again
            return await self._acommit(await self.client.arefresh(again.refresh_token, self.scope))

    async def _acommit(self, token: Token) -> Token:
        try:
            await self._io(lambda: self.store.save(token))
        finally:
            self._adopt(token)
        return token

    @contextlib.asynccontextmanager
    async def _store_locked(self) -> AsyncIterator[None]:
        lock = self.store.lock()
        await self._io(lock.__enter__)
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    async def _io(self, fn: Callable[[], T]) -> T:
        """Store I/O off the event loop (a memory store needs no thread hop)."""
        return fn() if self._io_inline else await asyncio.to_thread(fn)

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops.setdefault(loop, _LoopState())
        return state


def _same(token: Token, rejected: Token | None) -> bool:
    return rejected is not None and token.access_token == rejected.access_token
