"""``TokenClient``: the OAuth calls of one authorization server, driven over httpx sync or async.

The flows live in ``_flow`` (sans-I/O); this module only drives them: it sends each :class:`Call`
with httpx, sleeps on :class:`Sleep`, and turns httpx transport failures into :class:`TransportError`
thrown back into the flow, which decides whether to retry (``_retry``). Both drivers take a
``transport=`` so tests and benchmarks run in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TypeVar

import httpx

from tokenturn.client._errors import TransportError
from tokenturn.client._flow import (
    AuthMethod,
    Credentials,
    Endpoints,
    Flow,
    client_credentials_flow,
    form_call,
    introspect_flow,
    password_flow,
    refresh_flow,
    revoke_flow,
)
from tokenturn.client._retry import NO_RETRY, Call, Reply, RetryPolicy, Sleep, exchange
from tokenturn.client._types import IntrospectionResponse, Token

T = TypeVar("T")

# Failures where the request surely never reached the server; anything else may have been acted on.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _transport_error(exc: httpx.TransportError) -> TransportError:
    # The exception text names the host and the failure only; requests carry secrets in the body, not the URL.
    return TransportError(f"{type(exc).__name__}: {exc}", maybe_sent=not isinstance(exc, _NOT_SENT))


def _reply(response: httpx.Response) -> Reply:
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


class TokenClient:
    """A client of one authorization server (``server``: ``testnet``, ``mainnet`` or a URL).

    Sync methods use a pooled ``httpx.Client`` (``transport=``); the ``a``-prefixed ones use an
    ``httpx.AsyncClient`` (``async_transport=``) per call — token calls are rare, and a per-call client
    never ends up bound to a closed event loop.
    """

    def __init__(
        self,
        server: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        auth_method: AuthMethod = "post",
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if auth_method not in ("post", "basic"):
            raise ValueError("auth_method must be 'post' or 'basic'")
        self.endpoints = Endpoints.for_server(server)
        self.credentials = Credentials(client_id, client_secret, auth_method)
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._timeout = httpx.Timeout(timeout)
        self._transport, self._async_transport = transport, async_transport
        self._sync: httpx.Client | None = None
        self._sync_lock = threading.Lock()

    @property
    def client_id(self) -> str:
        return self.credentials.client_id

    @property
    def confidential(self) -> bool:
        return self.credentials.client_secret is not None

    # -- the calls (sync) ----------------------------------------------------------------------
    def password(self, username: str, password: str, scope: str | None = None) -> Token:
        """Resource owner password grant (RFC 6749 §4.3)."""
        return self.run(
            password_flow(self.endpoints, self.credentials, username, password, scope, self.retry, self.clock)
        )

    def client_credentials(self, scope: str | None = None) -> Token:
        """Client credentials grant (RFC 6749 §4.4)."""
        return self.run(client_credentials_flow(self.endpoints, self.credentials, scope, self.retry, self.clock))

    def refresh(self, refresh_token: str, scope: str | None = None) -> Token:
        """Refresh (RFC 6749 §6); the returned token keeps ``refresh_token`` if the server sent no new one."""
        return self.run(refresh_flow(self.endpoints, self.credentials, refresh_token, scope, self.retry, self.clock))

    def revoke(self, token: str, token_type_hint: str | None = None) -> None:
        """Revoke a token (RFC 7009); succeeds for unknown tokens too."""
        self.run(revoke_flow(self.endpoints, self.credentials, token, token_type_hint, self.retry, self.clock))

    def introspect(self, token: str, token_type_hint: str | None = None) -> IntrospectionResponse:
        """Introspect a token (RFC 7662)."""
        return self.run(
            introspect_flow(self.endpoints, self.credentials, token, token_type_hint, self.retry, self.clock)
        )

    # -- the calls (async) ---------------------------------------------------------------------
    async def apassword(self, username: str, password: str, scope: str | None = None) -> Token:
        return await self.arun(
            password_flow(self.endpoints, self.credentials, username, password, scope, self.retry, self.clock)
        )

    async def aclient_credentials(self, scope: str | None = None) -> Token:
        return await self.arun(client_credentials_flow(self.endpoints, self.credentials, scope, self.retry, self.clock))

    async def arefresh(self, refresh_token: str, scope: str | None = None) -> Token:
        return await self.arun(
            refresh_flow(self.endpoints, self.credentials, refresh_token, scope, self.retry, self.clock)
        )

    async def arevoke(self, token: str, token_type_hint: str | None = None) -> None:
        await self.arun(revoke_flow(self.endpoints, self.credentials, token, token_type_hint, self.retry, self.clock))

    async def aintrospect(self, token: str, token_type_hint: str | None = None) -> IntrospectionResponse:
        return await self.arun(
            introspect_flow(self.endpoints, self.credentials, token, token_type_hint, self.retry, self.clock)
        )

    # -- drivers -------------------------------------------------------------------------------
    async def apost_form(self, url: str, params: Mapping[str, str | None]) -> Reply:
        """One client-authenticated form POST to ``url``, no retries, and the raw reply whatever its status.

        For pass-through callers (the refresh proxy) that must hand back the server's exact
        status and body; everyone else wants the typed calls above.
        """
        return await self.arun(exchange(form_call(url, self.credentials, params), NO_RETRY, idempotent=False))

    def run(self, flow: Flow[T]) -> T:
        """Drive a flow with the sync client."""
        try:
            instruction = next(flow)
            while True:
                if isinstance(instruction, Sleep):
                    time.sleep(instruction.seconds)
                    instruction = flow.send(None)
                    continue
                try:
                    reply = self._send(instruction)
                except TransportError as exc:
                    instruction = flow.throw(exc)
                else:
                    instruction = flow.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def arun(self, flow: Flow[T]) -> T:
        """Drive a flow with an async client."""
        # A user's transport stays open (it may be shared); our own per-call client is closed on exit.
        client = httpx.AsyncClient(transport=self._async_transport, timeout=self._timeout)
        async with contextlib.AsyncExitStack() as stack:
            if self._async_transport is None:
                await stack.enter_async_context(client)
            try:
                instruction = next(flow)
                while True:
                    if isinstance(instruction, Sleep):
                        await asyncio.sleep(instruction.seconds)
                        instruction = flow.send(None)
                        continue
                    try:
                        response = await client.request(
                            instruction.method, instruction.url, headers=instruction.headers, content=instruction.body
                        )
                    except httpx.TransportError as exc:
                        instruction = flow.throw(_transport_error(exc))
                    else:
                        instruction = flow.send(_reply(response))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def _send(self, call: Call) -> Reply:
        client = self._sync
        if client is None:
            with self._sync_lock:
                if self._sync is None:
                    self._sync = httpx.Client(transport=self._transport, timeout=self._timeout)
                    # A client dropped without close() still closes its pooled sockets when collected.
                    weakref.finalize(self, self._sync.close)
                client = self._sync
        try:
            response = client.request(call.method, call.url, headers=call.headers, content=call.body)
        except httpx.TransportError as exc:
            raise _transport_error(exc) from exc
        return _reply(response)

    def close(self) -> None:
        """Close the pooled sync connections (a user-given ``transport`` is closed too, as httpx does)."""
        with self._sync_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    def __enter__(self) -> TokenClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
