"""The proxy's only door to the token service: token (RFC 6749 §4.3, §6) and revocation (RFC 7009 §2).

Built on the client SDK: the SDK's :class:`~tokenturn.client.TokenClient` encodes the request (its
client authentication, ``client_secret_post`` like the seed, RFC 6749 §2.3.1) and drives it over
httpx, and its :class:`~tokenturn.client.TransportError` is the "could not ask" branch. The proxy must
hand back the upstream's *exact* status and JSON body, so it runs the SDK's one-exchange flow and keeps
the raw reply instead of the SDK's parsed token or typed OAuth error. No retries here (the browser
decides), and one overall deadline: hung upstream -> :class:`UpstreamTimeout` (504), anything else
that is not an answer -> :class:`UpstreamUnavailable` (502).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tokenturn.client import Reply, RetryPolicy, TokenClient, TransportError
from tokenturn.proxy.config import ProxyConfig

#: An upstream answer bigger than this is not a token response; refuse it rather than forward it.
MAX_UPSTREAM_BODY = 256 * 1024
#: httpx's own timeouts are set past the proxy's deadline so that a hang is always *our* deadline (504).
HTTPX_SLACK = 1.0


class UpstreamUnavailable(Exception):
    """The token service could not be reached or gave no usable answer (-> ``502``)."""

    status = 502

    def __init__(self, description: str, *, detail: str = "") -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail  # for logs: an exception type, never a token


class UpstreamTimeout(UpstreamUnavailable):
    """The token service did not answer within the proxy's timeout (-> ``504``)."""

    status = 504


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """What the token service said: status, the raw body, and the body parsed (``{}`` when empty)."""

    status: int
    body: bytes
    payload: Mapping[str, Any] = field(default_factory=dict)
    retry_after: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Upstream:
    """The upstream's token and revocation endpoints, through one pooled transport shared by every call."""

    def __init__(self, config: ProxyConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = config.timeout
        # Shared and pooled: the SDK's async driver leaves a given transport open between calls.
        self._transport = transport or httpx.AsyncHTTPTransport(retries=0, trust_env=False)
        self._client = TokenClient(
            config.upstream,
            client_id=config.client_id,
            client_secret=config.client_secret,
            timeout=config.timeout + HTTPX_SLACK,
            retry=RetryPolicy(attempts=1),
            async_transport=self._transport,
        )

    async def refresh(self, refresh_token: str) -> UpstreamAnswer:
        params = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._post(self._client.endpoints.token, params)

    async def password(self, username: str, password: str) -> UpstreamAnswer:
        params = {"grant_type": "password", "username": username, "password": password}
        return await self._post(self._client.endpoints.token, params)

    async def revoke(self, refresh_token: str) -> UpstreamAnswer:
        params = {"token": refresh_token, "token_type_hint": "refresh_token"}
        return await self._post(self._client.endpoints.revoke, params, empty_ok=True)

    async def _post(self, url: str, params: Mapping[str, str | None], *, empty_ok: bool = False) -> UpstreamAnswer:
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._client.apost_form(url, params)
        except TimeoutError:
            raise UpstreamTimeout(
                f"The token service did not answer within {self._timeout:g} s; retry shortly.", detail="timeout"
            ) from None
        except TransportError as exc:
            # The SDK's message names the failure kind and host only; keep just the kind for the log.
            raise UpstreamUnavailable(
                "The token service could not be reached; retry shortly.", detail=str(exc).split(":", 1)[0]
            ) from None
        return _answer(reply, empty_ok=empty_ok)

    async def aclose(self) -> None:
        await self._transport.aclose()


def _answer(reply: Reply, *, empty_ok: bool) -> UpstreamAnswer:
    retry_after = reply.headers.get("retry-after")
    if len(reply.body) > MAX_UPSTREAM_BODY:
        raise UpstreamUnavailable("The token service gave an oversized answer.", detail="oversized answer")
    if empty_ok and not reply.body.strip():
        return UpstreamAnswer(reply.status, b"", {}, retry_after)
    try:
        payload = json.loads(reply.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise UpstreamUnavailable(
            f"The token service answered {reply.status} without a JSON object; retry shortly.",
            detail="non-JSON answer",
        )
    return UpstreamAnswer(reply.status, reply.body, payload, retry_after)
