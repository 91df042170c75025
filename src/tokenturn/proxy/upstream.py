"""The proxy's only door to the token service: token (RFC 6749 §4.3, §6) and revocation (RFC 7009 §2).

The proxy must hand back the upstream's *exact* status and JSON body, so this module returns the raw
answer (:class:`UpstreamAnswer`) rather than a typed success-or-exception; transport failures are a
separate branch (:class:`UpstreamUnavailable`, :class:`UpstreamTimeout`), as in the client SDK.
Every upstream call goes through here, so moving onto the SDK's transport is a change to this file only.
Client authentication is ``client_secret_post`` like the seed (RFC 6749 §2.3.1); a public client
sends its ``client_id`` alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from tokenturn.proxy.config import ProxyConfig

#: An upstream answer bigger than this is not a token response; refuse it instead of buffering it.
MAX_UPSTREAM_BODY = 256 * 1024


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
    """An HTTP client for the upstream's token and revocation endpoints, with one overall deadline."""

    def __init__(self, config: ProxyConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._config = config
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(config.timeout),
            follow_redirects=False,  # a redirected POST would lose its body or, worse, its credentials
            headers={"accept": "application/json", "user-agent": "tokenturn-proxy"},
            trust_env=False,
        )

    def _credentials(self) -> dict[str, str]:
        creds = {"client_id": self._config.client_id}
        if self._config.client_secret:
            creds["client_secret"] = self._config.client_secret
        return creds

    async def refresh(self, refresh_token: str) -> UpstreamAnswer:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, **self._credentials()}
        return await self._post(self._config.token_url, form)

    async def password(self, username: str, password: str) -> UpstreamAnswer:
        form = {"grant_type": "password", "username": username, "password": password, **self._credentials()}
        return await self._post(self._config.token_url, form)

    async def revoke(self, refresh_token: str) -> UpstreamAnswer:
        form = {"token": refresh_token, "token_type_hint": "refresh_token", **self._credentials()}
        return await self._post(self._config.revoke_url, form, empty_ok=True)

    async def _post(self, url: str, form: dict[str, str], *, empty_ok: bool = False) -> UpstreamAnswer:
        try:
            async with asyncio.timeout(self._config.timeout):
                async with self._client.stream("POST", url, data=form) as response:
                    body = await _read_capped(response)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise UpstreamTimeout(
                f"The token service did not answer within {self._config.timeout:g} s; retry shortly.",
                detail=type(exc).__name__,
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(
                "The token service could not be reached; retry shortly.", detail=type(exc).__name__
            ) from None
        if not body.strip() and empty_ok:
            return UpstreamAnswer(response.status_code, b"", {}, response.headers.get("retry-after"))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise UpstreamUnavailable(
                f"The token service answered {response.status_code} without a JSON object; retry shortly.",
                detail="non-JSON answer",
            )
        return UpstreamAnswer(response.status_code, body, payload, response.headers.get("retry-after"))

    async def aclose(self) -> None:
        await self._client.aclose()


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_UPSTREAM_BODY:
            raise UpstreamUnavailable("The token service gave an oversized answer.", detail="oversized answer")
        chunks.append(chunk)
    return b"".join(chunks)
