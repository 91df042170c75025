"""``HttpxAuth``: bearer tokens (RFC 6750 §2.1) from a :class:`Session` for ``httpx.Client`` and ``httpx.AsyncClient``.

The request flow is written once (:meth:`HttpxAuth._flow`): it asks for a token, attaches it, and on a
``401`` asks again *naming the rejected token* — so a token another caller already refreshed is
reused — and retries the request once. It yields either a request for httpx to send or a
:class:`_NeedToken` instruction, which the sync and async drivers answer from the session.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from dataclasses import dataclass

import httpx

from tokenturn.client._session import Session
from tokenturn.client._types import Token


@dataclass(frozen=True, slots=True)
class _NeedToken:
    rejected: Token | None


class HttpxAuth(httpx.Auth):
    """``httpx.Client(auth=HttpxAuth(session))`` or ``httpx.AsyncClient(auth=...)``."""

    # The body is read up front so the request can be sent again after a 401.
    requires_request_body = True

    def __init__(self, session: Session, *, retry_on_401: bool = True) -> None:
        self.session = session
        self.retry_on_401 = retry_on_401

    def _flow(self, request: httpx.Request) -> Generator[httpx.Request | _NeedToken, Token | httpx.Response, None]:
        token = yield _NeedToken(None)
        assert isinstance(token, Token)
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        assert isinstance(response, httpx.Response)
        if response.status_code != 401 or not self.retry_on_401:
            return
        fresh = yield _NeedToken(token)
        assert isinstance(fresh, Token)
        if fresh.access_token == token.access_token:
            return
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.requires_request_body:
            request.read()
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _NeedToken):
                    step = flow.send(self.session.token(rejected=step.rejected))
                else:
                    step = flow.send((yield step))
        except StopIteration:
            return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.requires_request_body:
            await request.aread()
        flow = self._flow(request)
        try:
            step = next(flow)
            while True:
                if isinstance(step, _NeedToken):
                    step = flow.send(await self.session.atoken(rejected=step.rejected))
                else:
                    step = flow.send((yield step))
        except StopIteration:
            return
