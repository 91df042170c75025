"""``RequestsAuth``: bearer tokens (RFC 6750 §2.1) from a :class:`Session` for ``requests``.

Attaches the session's token (refreshed proactively when near expiry); on a ``401`` it asks the
session for a token other than the rejected one — reusing one another thread already refreshed —
and resends the request once through the same connection adapter, as ``requests``' own digest auth does.
"""

from __future__ import annotations

from typing import Any

import requests
from requests.auth import AuthBase

from tokenturn.client._session import Session
from tokenturn.client._types import Token

_REPLAYABLE = (bytes, str, type(None))


class RequestsAuth(AuthBase):
    """``requests.get(url, auth=RequestsAuth(session))`` or ``requests.Session().auth = ...``."""

    def __init__(self, session: Session, *, retry_on_401: bool = True) -> None:
        self.session = session
        self.retry_on_401 = retry_on_401

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token = self.session.token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        if self.retry_on_401 and isinstance(request.body, _REPLAYABLE):
            request.register_hook("response", _RetryOn401(self.session, token))  # type: ignore[no-untyped-call]
        return request


class _RetryOn401:
    def __init__(self, session: Session, token: Token) -> None:
        self.session, self.token = session, token

    def __call__(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or response.connection is None:
            return response
        fresh = self.session.token(rejected=self.token)
        if fresh.access_token == self.token.access_token:
            return response
        response.content  # noqa: B018  (drain so the connection can be reused)
        response.close()
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {fresh.access_token}"
        retry.hooks = {"response": []}  # once only
        again: requests.Response = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again
