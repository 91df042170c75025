"""Strict form parsing (RFC 6749 §3.2, Appendix B) and request framing."""

from __future__ import annotations

import pytest

from tokenturn.core.errors import InvalidRequest
from tokenturn.core.form import MAX_BODY, parse_form
from tokenturn.core.http import HttpRequest
from tokenturn.core.request import check_framing

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", {}),
        (b"a=1&b=2", {"a": "1", "b": "2"}),
        (b"a=x+y%2Bz", {"a": "x y+z"}),
        (b"a=&b=2", {"b": "2"}),  # an empty value counts as missing
        (b"a=1&&b=2&", {"a": "1", "b": "2"}),
        (b"name=%C3%A9t%C3%A9", {"name": "été"}),
        (b"flag", {}),
    ],
)
def test_parse_form_accepts_well_formed_bodies(body: bytes, expected: dict[str, str]) -> None:
    assert parse_form(body) == expected


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"a=1&a=2", 400),  # a parameter given twice
        (b"a=1&a=", 400),
        (b"a=%FF", 400),  # not UTF-8
        (b"a=\xff", 400),
        (b"a=%00", 400),  # NUL
        (b"a=x%0Ay", 400),  # control character
        (b"%00=1", 400),
        (b"a=" + b"x" * MAX_BODY, 413),
    ],
)
def test_parse_form_rejects_malformed_bodies(body: bytes, status: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_form(body)
    assert info.value.status == status


def request(method: str = "POST", query: str = "", content_type: str | None = FORM, body: bytes = b"") -> HttpRequest:
    headers = {} if content_type is None else {"content-type": content_type}
    return HttpRequest(method, "/auth/token/", query, headers, body)


@pytest.mark.parametrize(
    ("req", "status"),
    [
        (request(method="GET"), 405),
        (request(method="PUT"), 405),
        (request(query="client_secret=x"), 400),
        (request(query="refresh_token=x"), 400),
        (request(query="password=x&foo=1"), 400),
        (request(content_type=None), 400),
        (request(content_type="application/json"), 400),
        (request(content_type="multipart/form-data; boundary=x"), 400),
    ],
)
def test_framing_errors(req: HttpRequest, status: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_framing(req)
    assert info.value.status == status
    if status == 405:
        assert info.value.headers == {"Allow": "POST"}


def test_framing_allows_a_charset_and_harmless_query() -> None:
    req = request(query="foo=bar", content_type="Application/X-WWW-Form-Urlencoded; charset=UTF-8", body=b"a=1")
    assert check_framing(req) == {"a": "1"}
