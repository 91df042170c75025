"""Fuzzing a live server: schemathesis from tokenturn's own ``/openapi.json``, and raw hostile form posts.

Properties checked on every response (contract §1 "never a 500 and never a stack trace"):

* never a 5xx — the store is up, so even a 503 means the last-resort handler caught a bug;
* no traceback or source path in the body;
* every error is exactly ``{"error", "error_description"}``, and on the token, revocation and
  introspection endpoints it carries ``Cache-Control: no-store``;
* the store is unchanged: a snapshot of every SQLite row before and after each request is equal
  (the fuzzer holds real client credentials, a real username and a real access token, so requests
  get deep into the grants, but never a password or refresh token that would legitimately write).

CI size: a few hundred requests (derandomized). ``make fuzz`` scales with ``FUZZ_EXAMPLES``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from hypothesis import given, reject
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.hardening import live
from tests.hardening.conftest import PARAMS, examples
from tokenturn.core.crypto import new_token
from tokenturn.testing import Seeded, seed_sync

pytestmark = pytest.mark.e2e

FORM_PATHS = ("/auth/token/", "/auth/token", "/auth/revoke_token/", "/auth/introspect/", "/auth/introspect")
OTHER_PATHS = (
    "/v1/me/",
    "/v1/me",
    "/.well-known/oauth-authorization-server",
    "/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/nope",
    "/auth/token/x",
    "//auth/token/",
    "/auth/%74oken/",
)


@dataclass
class Target:
    server: live.GroupServer
    db_path: str
    conf: Seeded  # confidential client allowed password + refresh_token (not client_credentials)
    public: Seeded  # public client allowed password
    access_token: str


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    db = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{db}",
        # Limits off: the fuzzer must reach the grants, not be stopped at 429 after 20 tries.
        "TOKENTURN_RATE_LIMIT_CLIENT": "0",
        "TOKENTURN_RATE_LIMIT_ADDRESS": "0",
        "TOKENTURN_RATE_LIMIT_USERNAME": "0",
    }
    with live.GroupServer(env=env, log_path=db.with_suffix(".log")) as server:
        conf = seed_sync(server.settings, grant_types=frozenset({"password", "refresh_token"}))
        public = seed_sync(server.settings, public=True, grant_types=frozenset({"password"}))
        r = httpx.post(
            server.url + "/auth/token/",
            data={
                "grant_type": "password",
                "username": conf.username,
                "password": conf.password,
                "client_id": conf.client_id,
                "client_secret": conf.client_secret,
            },
        )
        assert r.status_code == 200, r.text
        yield Target(server, str(db), conf, public, r.json()["access_token"])
    log = db.with_suffix(".log").read_text(errors="replace")
    assert "Traceback" not in log and '"server.error"' not in log, log[-3000:]


def check_response(path: str, method: str, status: int, headers: Any, body: bytes) -> None:
    """The contract's promises for any response, whatever the request."""
    headers = {k.lower(): (v[0] if isinstance(v, list) else v) for k, v in headers.items()}
    assert status < 500, (status, body[:500])
    text = body.decode("utf-8", "replace")
    for marker in live.LEAK_MARKERS:
        assert marker not in text, (marker, text[:500])
    if status < 400 or method.upper() == "HEAD":
        live.OUTCOMES[str(status)] += 1
        return
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, text[:200])
    payload = json.loads(body)
    assert set(payload) == {"error", "error_description"}, payload
    assert isinstance(payload["error"], str) and isinstance(payload["error_description"], str)
    live.OUTCOMES[f"{status} {payload['error']}"] += 1
    if path.rstrip("/") in ("/auth/token", "/auth/revoke_token", "/auth/introspect"):
        assert headers.get("cache-control") == "no-store", (path, status, headers)


# -- raw hostile form posts ----------------------------------------------------------------------
FRAGMENTS = st.one_of(
    st.sampled_from(
        [
            "%00",
            "%FF",
            "%C3%28",
            "%ED%A0%80",
            "%0A",
            "%0D%0A",
            "%7F",
            "%",
            "+",
            "%E2%80%AE",
            "\x00",
            "%F0%9F%94%91",
            "read",
            "read write",
            "admin",
            "write read read",
            " ",
            "password",
            "refresh_token",
            "client_credentials",
            "authorization_code",
            "access_token",
            "tt_rt_",
        ]
    ),
    st.text(max_size=12).map(lambda t: quote(t, safe="")),
    st.binary(max_size=12).map(lambda b: quote(b, safe="")),
)
visible = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)


def now_and_then(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws (hypothesis favours small integers, so ``integers(0, n) == 0`` is not rare)."""
    return st.sampled_from([False] * (n - 1) + [True])


def _known(t: Target) -> dict[str, list[str]]:
    """Values that get a request past the framing: real ids, never a real password or refresh token."""
    return {
        "client_id": [t.conf.client_id, t.public.client_id, "nobody"],
        "client_secret": [t.conf.client_secret or "", "tt_cs_" + "A" * 43],
        "username": [t.conf.username, t.public.username, "root"],
        "password": ["wrong", "x" * 200, "correct horse battery stapl"],  # never the real one: nothing may write
        "refresh_token": [new_token("tt_rt_"), "tt_rt_", t.access_token],
        "token": [t.access_token, new_token("tt_rt_"), new_token("tt_at_")],
        "grant_type": ["password", "refresh_token"] * 3 + ["client_credentials", "implicit", "PASSWORD"],
        "scope": ["read", "read write", "admin", "read\twrite", "read  write", "write"],
        "token_type_hint": ["access_token", "refresh_token", "bogus"],
    }


@st.composite
def plausible_form(draw: st.DrawFn, t: Target, path: str) -> tuple[list[tuple[str, str]], bytes | None]:
    """A well-formed request for ``path`` (real client credentials, the right parameters), then mutated."""
    known = _known(t)
    items: list[tuple[str, str]] = []
    if path.startswith("/auth/token"):
        grant = draw(st.sampled_from(known["grant_type"]))
        items.append(("grant_type", grant))
        needs = {"password": ["username", "password"], "refresh_token": ["refresh_token"]}.get(grant, [])
        items += [(n, draw(st.sampled_from(known[n]))) for n in needs]
        if draw(st.booleans()):
            items.append(("scope", draw(st.sampled_from(known["scope"]))))
    else:
        # Not the live access token at the revocation endpoint: a real revocation is a legitimate write.
        tokens = known["token"][1:] if path.startswith("/auth/revoke") else known["token"]
        items.append(("token", draw(st.sampled_from(tokens))))
        if draw(st.booleans()):
            items.append(("token_type_hint", draw(st.sampled_from(known["token_type_hint"]))))
    auth: bytes | None = None
    how = draw(st.sampled_from(["post", "basic", "public", "public-basic", "both", "none"]))
    secret = t.conf.client_secret or ""
    if how == "post":
        items += [("client_id", t.conf.client_id), ("client_secret", secret)]
    elif how == "basic":
        auth = b"Basic " + base64.b64encode(f"{t.conf.client_id}:{secret}".encode())
        if draw(st.booleans()):
            items.append(("client_id", t.conf.client_id))
    elif how == "public":
        items.append(("client_id", t.public.client_id))
    elif how == "public-basic":
        auth = b"Basic " + base64.b64encode(f"{t.public.client_id}:".encode())
    elif how == "both":
        auth = b"Basic " + base64.b64encode(f"{t.conf.client_id}:{secret}".encode())
        items += [("client_id", t.conf.client_id), ("client_secret", secret)]
    rnd = draw(st.randoms(use_true_random=False))  # uniform picks: drawn integers lean to the first item
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):  # mutations
        kind = draw(st.sampled_from(["drop", "dup", "nasty", "extra"]))
        if kind == "drop" and items:
            items.pop(rnd.randrange(len(items)))
        elif kind == "dup" and items:
            items.append(rnd.choice(items))
        elif kind == "nasty" and items:
            i = rnd.randrange(len(items))
            items[i] = (items[i][0], draw(st.lists(FRAGMENTS, min_size=1, max_size=4).map("".join)))
        else:
            items.append((draw(st.sampled_from(PARAMS) | FRAGMENTS), draw(FRAGMENTS)))
    return items, auth


@st.composite
def hostile_form(draw: st.DrawFn, t: Target) -> tuple[list[tuple[str, str]], bytes | None]:
    """Parameters drawn at random: any name, known values or %-escaped garbage, any Authorization."""
    known = _known(t)
    items: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(PARAMS) | FRAGMENTS)
        choices = known.get(name)
        if choices and draw(st.booleans()):
            items.append((name, draw(st.sampled_from(choices))))
        else:
            items.append((name, draw(st.lists(FRAGMENTS, max_size=4).map("".join))))
    if items and draw(now_and_then(10)):
        items.append(draw(st.sampled_from(items)))  # a parameter given twice
    auth = draw(st.sampled_from([None, None, "bearer-good", "junk"]))
    if auth == "bearer-good":
        return items, f"Bearer {t.access_token}".encode()
    if auth == "junk":
        return items, draw(visible).encode("latin-1")
    return items, None


def _encode(items: list[tuple[str, str]]) -> bytes:
    """Known values are %-encoded; fragments are sent as drawn (they are already escaped, or hostile)."""
    out = []
    for name, value in items:
        v = value if "%" in value or "\x00" in value else quote(value, safe="")
        out.append(f"{name}={v}")
    return "&".join(out).encode("latin-1", "replace")


@st.composite
def raw_requests(draw: st.DrawFn, t: Target) -> tuple[str, str, dict[str, bytes], bytes]:
    """A method, a path with query, headers and a body: half plausible-then-mutated, half hostile."""
    path = draw(st.sampled_from(FORM_PATHS * 3 + OTHER_PATHS))
    plausible = draw(st.sampled_from([True, True, False]))
    items, auth = draw(plausible_form(t, path) if plausible else hostile_form(t))
    body = _encode(items)
    if draw(now_and_then(40)):
        body += b"&pad=" + b"A" * draw(st.integers(60 * 1024, 70 * 1024))
    headers: dict[str, bytes] = {}
    form_type = "application/x-www-form-urlencoded"
    rare = draw(now_and_then(10))  # a random content type and query string
    ct = draw(
        visible if rare else st.sampled_from([form_type] * 8 + [f"{form_type}; charset=UTF-8", "text/plain", None])
    )
    if ct is not None:
        headers["content-type"] = ct.encode("latin-1")
    if auth is not None:
        headers["authorization"] = auth
    for name in draw(
        st.lists(st.sampled_from(["origin", "x-forwarded-for", "content-encoding", "expect"]), max_size=2)
    ):
        headers[name] = draw(visible).encode("latin-1")
    method = "POST" if plausible else draw(st.sampled_from(["POST"] * 6 + ["GET", "PUT", "OPTIONS", "HEAD"]))
    query = draw(
        visible if rare else st.sampled_from([""] * 12 + ["x=1", "client_secret=s", "token=t", "access_token=t"])
    )
    return method, path + (f"?{quote(query, safe='=&')}" if query else ""), headers, body


@pytest.fixture(scope="module")
def raw_client(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.server.url, timeout=30) as client:
        yield client


def test_raw_form_posts_never_break_the_contract(target: Target, raw_client: httpx.Client) -> None:
    """Hostile methods, paths, headers and bodies: 4xx JSON errors, no 5xx, failures leave the store unchanged."""
    state = [live.snapshot(target.db_path)]

    @examples(250, 0.6)
    @given(raw_requests(target))
    def one(request: tuple[str, str, dict[str, bytes], bytes]) -> None:
        method, path, headers, body = request
        try:
            r = raw_client.request(method, path, headers=headers, content=body)
        except httpx.LocalProtocolError:
            reject()  # h11 refuses to send it: not a request the server could ever see
        live.REQUESTS_SENT["raw form posts"] += 1
        check_response(path.split("?")[0], method, r.status_code, r.headers, r.content)
        if path.startswith("/auth/token") and r.status_code == 200:
            pytest.fail(f"a token was issued to a fuzzed request: {request!r}")
        after = live.snapshot(target.db_path)
        if r.status_code >= 400:
            assert after == state[0], f"a failed request changed the store: {request!r} -> {r.status_code}"
        state[0] = after  # a successful revocation may write (the fuzzer may revoke its own access token)

    one()


# -- schemathesis, driven by the server's own OpenAPI document ------------------------------------
def test_openapi_operations_never_break_the_contract(target: Target) -> None:
    """Every operation of /openapi.json, schema-valid and schema-violating cases: same promises."""
    schema = schemathesis.openapi.from_url(target.server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/auth/token/", "/auth/revoke_token/", "/auth/introspect/", "/v1/me/"}
    strategy = st.one_of([op.as_strategy(generation_mode=mode) for op in operations for mode in GenerationMode])
    before = live.snapshot(target.db_path)
    session = requests.Session()

    @examples(200, 0.4)
    @given(strategy)
    def one(case: schemathesis.Case) -> None:
        try:
            response = case.call(base_url=target.server.url, session=session, timeout=30)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError, ValueError):
            reject()  # requests cannot even send it
        live.REQUESTS_SENT["schemathesis"] += 1
        check_response(case.operation.path, case.method, response.status_code, response.headers, response.content)
        assert live.snapshot(target.db_path) == before, f"the store changed after {case.method} {case.path}"

    one()
    session.close()


def test_the_fuzzer_gets_past_the_framing(target: Target, raw_client: httpx.Client) -> None:
    """Sanity: the credentials the fuzzer holds are real (so it exercises the grants, not only 401s)."""
    form = {
        "grant_type": "password",
        "username": target.conf.username,
        "password": "wrong",
        "client_id": target.conf.client_id,
        "client_secret": target.conf.client_secret or "",
    }
    r = raw_client.post("/auth/token/", data=form)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    r = raw_client.get("/v1/me/", headers={"Authorization": f"Bearer {target.access_token}"})
    assert r.status_code == 200, r.text
