"""Property tests on the sans-I/O request parsing: whatever arrives, only ``OAuthError`` comes out.

The token, revocation and introspection endpoints run :func:`check_framing` /
:func:`extract_credentials` on raw bytes and latin-1 header strings straight from the socket, and
``/v1/me/`` runs :func:`bearer_token`. Any other exception would become a 503 ("unexpected error")
at the app's last-resort handler, so each property is: every input either parses or raises an
:class:`OAuthError` subclass, and what parses keeps the documented invariants (no duplicates, no
control characters, no empty values, exactly one client authentication method).
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.hardening.conftest import PARAMS, examples
from tokenturn.core.bearer import bearer_token
from tokenturn.core.client_auth import ClientCredentials, extract_credentials
from tokenturn.core.errors import OAuthError
from tokenturn.core.form import MAX_BODY, parse_form, parse_query_names
from tokenturn.core.http import HttpRequest
from tokenturn.core.request import check_framing

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
BASIC_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Pieces of a hostile form body: raw bytes, %-escapes that decode to invalid UTF-8, NUL, CR/LF.
nasty_fragment = st.one_of(
    st.binary(max_size=24),
    st.sampled_from(
        [
            b"%00",
            b"%FF",
            b"%C3",
            b"%C3%28",
            b"%ED%A0%80",
            b"%0A",
            b"%0D",
            b"%7F",
            b"%",
            b"%G1",
            b"+",
            b"=",
            b"&",
            b"\x00",
            b"\xff",
            b"\r\n",
            b"%E2%80%AE",
            b"%F0%9F%94%91",
            b"%25",
        ]
    ),
    st.text(max_size=16).map(lambda t: quote(t, safe="").encode()),
    st.text(max_size=16).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
value_bytes = st.lists(nasty_fragment, max_size=5).map(b"".join)
name_bytes = st.one_of(st.sampled_from(PARAMS).map(str.encode), value_bytes)
pairs = st.lists(st.tuples(name_bytes, st.one_of(st.none(), value_bytes)), max_size=12)


def _join(items: list[tuple[bytes, bytes | None]]) -> bytes:
    return b"&".join(n if v is None else n + b"=" + v for n, v in items)


form_bodies = st.one_of(
    st.binary(max_size=300),
    pairs.map(_join),
    # The same parameter given twice, with anything around it.
    st.tuples(pairs, st.sampled_from(PARAMS[:-1]), value_bytes, value_bytes).map(
        lambda t: _join([*t[0], (t[1].encode(), t[2]), (t[1].encode(), t[3])])
    ),
    # Just under and just over the 64 KiB limit.
    st.integers(MAX_BODY - 40, MAX_BODY + 40).map(lambda n: (b"grant_type=password&password=" + b"A" * n)[:n]),
)

latin1 = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=80)
b64ish = st.one_of(
    st.binary(max_size=60).map(lambda b: base64.b64encode(b).decode()),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=60).map(
        lambda t: base64.b64encode(t.encode("utf-8", "surrogatepass")).decode()
    ),
    st.tuples(st.text(max_size=20), st.text(max_size=20)).map(
        lambda t: base64.b64encode(f"{t[0]}:{t[1]}".encode("utf-8", "surrogatepass")).decode()
    ),
    latin1,
)
authorization = st.one_of(
    st.none(),
    latin1,
    st.tuples(
        st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "Digest", "", " Basic"]),
        st.sampled_from([" ", "  ", "\t", ""]),
        b64ish,
    ).map("".join),
)
header_maps = st.dictionaries(
    st.sampled_from(["content-type", "authorization", "content-length", "x-forwarded-for", "origin"]) | latin1,
    latin1,
    max_size=5,
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=utf-8",
            "application/x-www-form-urlencoded;charset=latin-1",
            "application/json",
            "multipart/form-data",
            "",
            "application/x-www-form-urlencoded\x00",
            "text/plain; application/x-www-form-urlencoded",
        ]
    ),
    latin1,
)
queries = st.one_of(st.just(""), latin1, st.sampled_from(PARAMS).map(lambda p: f"{p}=x"))
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "HEAD", "OPTIONS", "post", "DELETE", ""])


def _refused(exc: OAuthError, statuses: set[int], errors: set[str]) -> None:
    """A refusal is one of the expected wire errors, with a description safe to return."""
    assert exc.status in statuses, (exc.status, exc.description)
    assert exc.error in errors, (exc.error, exc.description)
    assert exc.description and len(exc.description) < 200


@st.composite
def requests(draw: st.DrawFn) -> HttpRequest:
    headers = dict(draw(header_maps))
    headers["content-type"] = draw(content_types)
    auth = draw(authorization)
    if auth is not None:
        headers["authorization"] = auth
    return HttpRequest(draw(methods), "/auth/token/", draw(queries), headers, draw(form_bodies), "127.0.0.1")


@examples(300, 0.05)
@given(form_bodies)
def test_parse_form_raises_only_oauth_errors(body: bytes) -> None:
    """Any body parses into clean parameters or raises an OAuthError."""
    try:
        form = parse_form(body)
    except OAuthError as exc:
        _refused(exc, {400, 413}, {"invalid_request"})
        return
    for name, value in form.items():
        assert value, "an empty value counts as missing"
        assert not CONTROL.search(name) and not CONTROL.search(value)


@examples(200, 0.02)
@given(latin1)
def test_parse_query_names_never_raises(query: str) -> None:
    """Query names are looked at for every request; the parser never fails, whatever the bytes."""
    assert isinstance(parse_query_names(query), set)


@examples(300, 0.05)
@given(requests())
def test_framing_and_client_auth_raise_only_oauth_errors(request: HttpRequest) -> None:
    """check_framing + extract_credentials on arbitrary methods, headers, queries and bodies."""
    try:
        form = check_framing(request)
        creds = extract_credentials(request.headers, form)
    except OAuthError as exc:
        _refused(exc, {400, 401, 405, 413}, {"invalid_request", "invalid_client"})
        return
    assert creds.client_id
    assert creds.method in ("client_secret_basic", "client_secret_post", "none")
    assert (creds.method == "client_secret_post") == ("client_secret" in form)
    assert creds.secret is None or not CONTROL.search(creds.secret)


@examples(300, 0.05)
@given(header_maps, authorization, st.dictionaries(st.sampled_from(PARAMS) | st.text(max_size=8), st.text(max_size=40)))
def test_extract_credentials_raises_only_oauth_errors(
    headers: dict[str, str], auth: str | None, form: dict[str, str]
) -> None:
    """Client-auth decoding on any Authorization header and form: credentials or an OAuthError."""
    headers = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    if auth is not None:
        headers["authorization"] = auth
    try:
        creds = extract_credentials(headers, form)
    except OAuthError as exc:
        _refused(exc, {400, 401}, {"invalid_request", "invalid_client"})
        return
    assert isinstance(creds, ClientCredentials)
    assert "secret=" not in repr(creds), "the secret must never be printed"


@examples(200, 0.02)
@given(st.text(max_size=20), st.text(max_size=20))
def test_basic_credentials_round_trip(client_id: str, secret: str) -> None:
    """Form-url-encoded Basic credentials decode to exactly what was encoded (RFC 6749 §2.3.1)."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode("utf-8", "surrogatepass")
    headers = {"authorization": "Basic " + base64.b64encode(raw).decode()}
    try:
        creds = extract_credentials(headers, {})
    except OAuthError:
        # Basic refuses every C0 control, tab included (a form value may carry a tab).
        assert not client_id or BASIC_CONTROL.search(client_id + secret) or not _utf8(client_id + secret)
        return
    assert (creds.client_id, creds.secret or "") == (client_id, secret)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@examples(300, 0.05)
@given(header_maps, authorization, queries)
def test_bearer_parser_raises_only_oauth_errors(headers: dict[str, str], auth: str | None, query: str) -> None:
    """bearer_token on any header and query: a b64token (RFC 6750 §2.1) or an OAuthError."""
    headers = {k.lower(): v for k, v in headers.items() if k.lower() != "authorization"}
    if auth is not None:
        headers["authorization"] = auth.replace("Basic", "Bearer", 1)
    try:
        token = bearer_token(headers, query)
    except OAuthError as exc:
        _refused(exc, {400, 401}, {"invalid_request", "invalid_token"})
        return
    assert re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", token)
