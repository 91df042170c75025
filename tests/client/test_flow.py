"""The sans-I/O flows stepped by hand: requests built, answers parsed, retries decided — no network."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl

import pytest

from tokenturn.client import (
    AccessDenied,
    Endpoints,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    RetryPolicy,
    TemporarilyUnavailable,
    TooManyRequests,
    TransportError,
    UnauthorizedClient,
    UnexpectedResponse,
    UnsupportedGrantType,
)
from tokenturn.client._flow import Credentials, Flow, parse_token, password_flow, refresh_flow, revoke_flow
from tokenturn.client._retry import Call, Reply, Sleep

ENDPOINTS = Endpoints.for_server("http://auth.test")
CREDS = Credentials("cid", "csecret")
POLICY = RetryPolicy(attempts=4, base=1.0, cap=4.0, total=30.0, rng=lambda: 1.0)


def clock() -> float:
    return 1_000.0


def ok(**extra: object) -> Reply:
    body = {"access_token": "at", "expires_in": 600, "token_type": "Bearer", "scope": "read", **extra}
    return Reply(200, {"content-type": "application/json"}, json.dumps(body).encode())


def err(status: int, code: str, **headers: str) -> Reply:
    return Reply(status, headers, json.dumps({"error": code, "error_description": "d"}).encode())


def form_of(call: Call) -> dict[str, str]:
    return dict(parse_qsl(call.body.decode()))


@pytest.mark.parametrize(
    ("server", "token_url"),
    [
        ("testnet", "https://testnet.bakrypt.io/auth/token/"),
        ("mainnet", "https://bakrypt.io/auth/token/"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/auth/token/"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/auth/token/"),
        ("https://testnet.bakrypt.io/auth/token/", "https://testnet.bakrypt.io/auth/token/"),
        ("https://h.example/base/auth/token", "https://h.example/base/auth/token/"),
    ],
)
def test_server_names_resolve_to_the_three_endpoints(server: str, token_url: str) -> None:
    endpoints = Endpoints.for_server(server)
    assert endpoints.token == token_url
    assert endpoints.revoke == token_url.replace("/auth/token/", "/auth/revoke_token/")
    assert endpoints.introspect == token_url.replace("/auth/token/", "/auth/introspect/")


@pytest.mark.parametrize("server", ["ftp://x", "localhost", "", "http://h/?q=1"])
def test_a_bad_server_is_refused(server: str) -> None:
    with pytest.raises(ValueError, match="server must be"):
        Endpoints.for_server(server)


def test_client_secret_post_puts_credentials_in_the_body_like_the_seed() -> None:
    call = next(refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock))
    assert call == Call(call.method, ENDPOINTS.token, call.headers, call.body)
    assert form_of(call) == {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant_type": "refresh_token",
        "refresh_token": "rt",
    }
    assert ("Content-Type", "application/x-www-form-urlencoded") in call.headers


def test_client_secret_basic_url_encodes_and_leaves_the_body_without_credentials() -> None:
    creds = Credentials("c:id", "s/ecret", "basic")
    call = next(password_flow(ENDPOINTS, creds, "u", "p", "read", POLICY, clock))
    auth = dict(call.headers)["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == "c%3Aid:s%2Fecret"
    assert form_of(call) == {"grant_type": "password", "username": "u", "password": "p", "scope": "read"}


def test_a_public_client_sends_only_its_id() -> None:
    call = next(refresh_flow(ENDPOINTS, Credentials("pub"), "rt", None, POLICY, clock))
    assert form_of(call)["client_id"] == "pub" and "client_secret" not in form_of(call)


def finish(flow: Flow[object], *replies: Reply | Exception) -> tuple[list[Call | Sleep], object]:
    """Step ``flow`` answering each Call with the next reply; return the instructions seen and the result."""
    seen: list[Call | Sleep] = []
    queue = list(replies)
    instruction = next(flow)
    try:
        while True:
            seen.append(instruction)
            if isinstance(instruction, Sleep):
                instruction = flow.send(None)
                continue
            answer = queue.pop(0)
            instruction = flow.throw(answer) if isinstance(answer, Exception) else flow.send(answer)
    except StopIteration as done:
        return seen, done.value


def test_retry_after_on_503_is_waited_before_the_next_attempt() -> None:
    seen, token = finish(
        refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock),
        err(503, "temporarily_unavailable", **{"retry-after": "3"}),
        ok(refresh_token="rt2"),
    )
    assert [type(i) for i in seen] == [Call, Sleep, Call]
    assert seen[1] == Sleep(3.0)
    assert token.refresh_token == "rt2"  # type: ignore[attr-defined]


def test_429_and_5xx_are_retried_up_to_the_attempt_bound_then_raised() -> None:
    flow = password_flow(ENDPOINTS, CREDS, "u", "p", None, POLICY, clock)
    with pytest.raises(OAuthError) as caught:
        finish(flow, err(429, "too_many_requests"), err(500, "a"), err(503, "b"), err(504, "server_error"))
    assert caught.value.error == "server_error" and caught.value.status == 504


def test_sleeps_grow_and_are_capped() -> None:
    seen, _ = finish(
        password_flow(ENDPOINTS, CREDS, "u", "p", None, POLICY, clock),
        err(500, "a"),
        err(500, "b"),
        err(500, "c"),
        ok(),
    )
    assert [i.seconds for i in seen if isinstance(i, Sleep)] == [1.0, 2.0, 4.0]


def test_a_retry_after_beyond_the_total_budget_gives_up_with_the_servers_error() -> None:
    with pytest.raises(TooManyRequests) as caught:
        finish(
            password_flow(ENDPOINTS, CREDS, "u", "p", None, POLICY, clock),
            err(429, "too_many_requests", **{"retry-after": "120"}),
        )
    assert caught.value.retry_after == 120.0 and caught.value.status == 429


@pytest.mark.parametrize("code", ["invalid_grant", "invalid_client"])
def test_invalid_grant_and_invalid_client_are_never_retried(code: str) -> None:
    flow = refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock)
    with pytest.raises(OAuthError) as caught:
        finish(flow, err(400 if code == "invalid_grant" else 401, code))
    assert caught.value.error == code


def test_a_refresh_whose_response_was_lost_is_retried_once_at_once_with_the_same_token() -> None:
    lost = TransportError("ReadTimeout", maybe_sent=True)
    seen, token = finish(refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock), lost, ok(refresh_token="rt2"))
    assert token.refresh_token == "rt2"  # type: ignore[attr-defined]
    assert [type(i) for i in seen] == [Call, Call]  # no sleep: stay inside the server's grace window
    assert form_of(seen[0]) == form_of(seen[1])  # type: ignore[arg-type]
    with pytest.raises(TransportError):
        finish(refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock), lost, lost)


def test_a_refresh_that_never_connected_is_retried_with_backoff() -> None:
    refused = TransportError("ConnectError", maybe_sent=False)
    seen, _ = finish(refresh_flow(ENDPOINTS, CREDS, "rt", None, POLICY, clock), refused, refused, ok())
    assert [type(i) for i in seen] == [Call, Sleep, Call, Sleep, Call]


def test_idempotent_calls_retry_lost_responses_like_any_transport_failure() -> None:
    lost = TransportError("ReadError", maybe_sent=True)
    seen, result = finish(revoke_flow(ENDPOINTS, CREDS, "t", None, POLICY, clock), lost, lost, Reply(200, {}, b""))
    assert result is None and [type(i) for i in seen] == [Call, Sleep, Call, Sleep, Call]


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "invalid_request", InvalidRequest),
        (401, "invalid_client", InvalidClient),
        (400, "invalid_grant", InvalidGrant),
        (400, "unauthorized_client", UnauthorizedClient),
        (400, "unsupported_grant_type", UnsupportedGrantType),
        (400, "invalid_scope", InvalidScope),
        (403, "access_denied", AccessDenied),
        (429, "too_many_requests", TooManyRequests),
        (503, "temporarily_unavailable", TemporarilyUnavailable),
    ],
)
def test_wire_error_codes_map_to_classes(status: int, code: str, cls: type[OAuthError]) -> None:
    with pytest.raises(cls) as caught:
        parse_token(err(status, code), 0.0)
    assert caught.value.error == code and caught.value.status == status and caught.value.description == "d"


def test_an_unknown_error_code_keeps_its_name() -> None:
    with pytest.raises(OAuthError) as caught:
        parse_token(err(400, "slow_down"), 0.0)
    assert type(caught.value) is OAuthError and caught.value.error == "slow_down"


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b"[]", b'{"access_token": 5}', b""])
def test_a_non_oauth_answer_is_an_unexpected_response(body: bytes) -> None:
    with pytest.raises(UnexpectedResponse):
        parse_token(Reply(200 if body.startswith(b"{") else 502, {}, body), 0.0)


def test_expiry_is_absolute_from_receipt_and_an_absent_refresh_token_keeps_the_old_one() -> None:
    token = parse_token(ok(), received_at=1_000.0, previous_refresh="old-rt")
    assert token.expires_at == 1_600.0 and token.refresh_token == "old-rt"
    assert "at" not in repr(token).replace("expires_at", "").replace("Token", "")
    assert token.as_access_token() == {
        "access_token": "at",
        "expires_in": 600,
        "token_type": "Bearer",
        "scope": "read",
        "refresh_token": "old-rt",
    }
