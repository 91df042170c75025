"""Cookie mode: ``/login``, cookie ``/refresh`` and ``/logout`` -- the browser never sees a refresh token.

``/login`` makes an RFC 6749 §4.3 password grant with the proxy's credentials, puts the refresh token
in the HttpOnly cookie (:mod:`tokenturn.proxy.cookies`) and gives scripts only the access token and
its lifetime. A cookie refresh rotates the cookie with the upstream's new refresh token; an
``invalid_grant`` clears it (the session is over). ``/logout`` revokes the family upstream (RFC 7009
§2.1: revoking a refresh token ends the whole grant) and clears the cookie. Every cookie-carrying call
needs the CSRF header (:mod:`tokenturn.proxy.cors`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from tokenturn.core.http import JSON, NO_STORE, Response, json_response
from tokenturn.proxy.asgi import ProxyRequest
from tokenturn.proxy.config import ProxyConfig
from tokenturn.proxy.cookies import clear_cookie_headers, read_cookie, set_cookie_headers
from tokenturn.proxy.cors import CSRF_HEADERS, has_csrf_header
from tokenturn.proxy.upstream import Upstream, UpstreamAnswer

SharedRefresh = Callable[[str], Awaitable[tuple[UpstreamAnswer, bool]]]
Headers = tuple[tuple[str, str], ...]


def error(status: int, code: str, description: str, *, extra: Headers = ()) -> Response:
    """The contract's error shape, ``{"error", "error_description"}``, with the no-store headers."""
    return json_response(status, {"error": code, "error_description": description}, extra=extra, audit={"error": code})


def pass_through(answer: UpstreamAnswer, *, shared: bool = False, extra: Headers = ()) -> Response:
    """The upstream's status and body byte for byte (plus its ``Retry-After``, if any)."""
    headers: Headers = (JSON, *NO_STORE, *extra)
    if answer.retry_after is not None:
        headers += (("retry-after", answer.retry_after),)
    return Response(answer.status, headers, answer.body, {"upstream": answer.status, "shared": shared})


class SessionEndpoints:
    """The three cookie-mode actions over one :class:`Upstream` and the proxy's shared refresh."""

    def __init__(self, config: ProxyConfig, upstream: Upstream, refresh: SharedRefresh) -> None:
        self._config = config
        self._upstream = upstream
        self._refresh = refresh

    def _cookie(self, request: ProxyRequest) -> str | None:
        return read_cookie(request.headers.get("cookie"), self._config.cookie_name)

    def _set(self, request: ProxyRequest, token: str) -> Headers:
        secure = not self._config.insecure_cookies
        return set_cookie_headers(
            self._config.cookie_name,
            token,
            root_path=request.root_path,
            max_age=self._config.cookie_max_age,
            secure=secure,
        )

    def _clear(self, request: ProxyRequest) -> Headers:
        secure = not self._config.insecure_cookies
        return clear_cookie_headers(self._config.cookie_name, root_path=request.root_path, secure=secure)

    @staticmethod
    def _csrf_refusal(request: ProxyRequest) -> Response | None:
        if has_csrf_header(request.headers):
            return None
        return error(403, "invalid_request", f"Cross-site request refused: send the {CSRF_HEADERS[0]} header.")

    def _session_answer(self, request: ProxyRequest, answer: UpstreamAnswer, *, shared: bool) -> Response:
        """Success: the refresh token goes into the cookie, everything else to the script."""
        if not answer.ok:
            return pass_through(answer, shared=shared)
        payload = dict(answer.payload)
        refresh_token = payload.pop("refresh_token", None)
        # No refresh token (client not allowed the refresh grant): keep whatever session cookie exists.
        extra = self._set(request, refresh_token) if isinstance(refresh_token, str) and refresh_token else ()
        return json_response(answer.status, payload, extra=extra, audit={"upstream": answer.status, "shared": shared})

    async def login(self, request: ProxyRequest) -> Response:
        if (refusal := self._csrf_refusal(request)) is not None:
            return refusal
        data = _object(request.body)
        username, password = data.get("username"), data.get("password")
        if not isinstance(username, str) or not username or not isinstance(password, str) or not password:
            return error(400, "invalid_request", "username and password are required (a JSON object of strings).")
        answer = await self._upstream.password(username, password)
        return self._session_answer(request, answer, shared=False)

    async def refresh_from_cookie(self, request: ProxyRequest) -> Response:
        if (refusal := self._csrf_refusal(request)) is not None:
            return refusal
        token = self._cookie(request)
        if token is None:
            return error(400, "invalid_grant", "There is no session: sign in first.")
        answer, shared = await self._refresh(token)
        if answer.status == 400 and answer.payload.get("error") == "invalid_grant":
            return pass_through(answer, shared=shared, extra=self._clear(request))
        return self._session_answer(request, answer, shared=shared)

    async def logout(self, request: ProxyRequest) -> Response:
        if (refusal := self._csrf_refusal(request)) is not None:
            return refusal
        token = self._cookie(request)
        if token is not None:
            answer = await self._upstream.revoke(token)
            if not answer.ok:
                # Keep the cookie: the family is still alive upstream, and a retry can still end it.
                return pass_through(answer)
        return json_response(200, {"status": "signed_out"}, extra=self._clear(request), audit={"revoked": bool(token)})


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
