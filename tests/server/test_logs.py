"""Structured JSON logs: an audit event for each issue/refresh/replay/reuse/revoke, never a secret in any line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest

from tokenturn.config import Settings
from tokenturn.core.crypto import TOKEN_PATTERN
from tokenturn.server.app import TokenturnApp
from tokenturn.server.logs import JsonFormatter
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import basic, password_grant, post_form, refresh, token
from .ops_helpers import introspect, me, revoke


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Everything the ``tokenturn`` loggers write at DEBUG, as the server's JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tokenturn")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def secrets_in(*values: Any) -> set[str]:
    found: set[str] = set()
    for value in values:
        if isinstance(value, dict):
            found |= secrets_in(*(value.get(k) for k in ("access_token", "refresh_token")))
        elif isinstance(value, str) and len(value) >= 8:
            found |= {value, quote_plus(value)}
    return found


def assert_clean(text: str, secrets: set[str]) -> None:
    leaked = sorted(s for s in secrets if s in text)
    assert not leaked, f"{len(leaked)} secret value(s) in the logs"
    assert not re.search(TOKEN_PATTERN, text), "something token-shaped is in the logs"


async def test_the_whole_flow_at_debug_logs_events_and_no_secrets(
    http: httpx.AsyncClient,
    app: TokenturnApp,
    settings: Settings,
    seeded: Seeded,
    clock: FakeClock,
    debug_log: io.StringIO,
) -> None:
    assert seeded.client_secret is not None
    cc = await seed(app.services.storage, settings, grant_types=frozenset({"client_credentials"}))
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    await refresh(http, seeded, first["refresh_token"])  # replay inside the grace window
    clock.advance(30)
    await refresh(http, seeded, first["refresh_token"])  # reuse: the family is revoked
    third = await password_grant(http, seeded)
    await introspect(http, seeded, third["access_token"])
    await me(http, third["access_token"])
    await revoke(http, seeded, third["refresh_token"])
    await revoke(http, seeded, third["access_token"])
    machine = (await token(http, cc, grant_type="client_credentials")).json()
    # Failures carrying secrets in every place they can go.
    await token(http, seeded, grant_type="password", username=seeded.username, password="wrong-password-123456")
    await token(
        http,
        seeded,
        grant_type="password",
        client_secret="wrong-secret-123456",
        username=seeded.username,
        password=seeded.password,
    )
    await post_form(
        http, "grant_type=password&username=x&password=hunter2hunter2", basic(seeded.client_id, "basic-secret-123456")
    )
    await refresh(http, seeded, "tt_rt_" + "Z" * 43)
    await http.get("/v1/me/", headers={"Authorization": "Bearer tt_at_" + "Q" * 43})
    await http.get("/v1/me/", headers={"Authorization": "Bearer not a token"})
    await http.post("/auth/token/?refresh_token=query-secret-123456", data={"grant_type": "refresh_token"})

    text = debug_log.getvalue()
    events = [json.loads(line) for line in text.splitlines()]
    names = {e.get("event") for e in events}
    assert {"token.issued", "token.refreshed", "token.replayed", "token.reuse_detected", "token.revoked"} <= names
    assert "request.refused" in names  # the DEBUG-only refusals were written, so they were scanned too
    secrets = secrets_in(
        first,
        second,
        third,
        machine,
        seeded.client_secret,
        seeded.password,
        cc.client_secret,
        "wrong-password-123456",
        "wrong-secret-123456",
        "basic-secret-123456",
        "hunter2hunter2",
        "query-secret-123456",
    )
    assert_clean(text, secrets)
