"""Strict ``application/x-www-form-urlencoded`` parsing for the token endpoints (RFC 6749 §3.2, Appendix B).

Stricter than ``urllib.parse.parse_qs`` on purpose: a parameter given twice, a body that is not
UTF-8, a NUL or other control character, or a body over the limit is ``invalid_request``
(RFC 6749 §3.1, §3.2: "Request and response parameters MUST NOT be included more than once").
An empty value counts as missing, so it is dropped here.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from tokenturn.core.errors import InvalidRequest

MAX_BODY = 64 * 1024
_FORBIDDEN = {chr(c) for c in range(0x20) if c not in (0x09,)} | {"\x7f"}


def _decode(raw: bytes, what: str) -> str:
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(f"The {what} is not valid UTF-8.") from None
    if not _FORBIDDEN.isdisjoint(text):
        raise InvalidRequest(f"The {what} contains control characters.")
    return text


def parse_form(body: bytes) -> dict[str, str]:
    """Parse a form body into a dict; reject duplicates, bad encodings and control characters."""
    if len(body) > MAX_BODY:
        raise InvalidRequest("The request body is larger than 64 KiB.", status=413)
    params: dict[str, str] = {}
    seen: set[str] = set()
    if not body:
        return params
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decode(raw_name, "parameter name")
        if name in seen:
            raise InvalidRequest(f"The parameter {name[:40]!r} is given more than once.")
        seen.add(name)
        value = _decode(raw_value, f"value of {name[:40]!r}")
        if value:
            params[name] = value
    return params


def parse_query_names(query: str) -> set[str]:
    """Names of the query-string parameters (values are never looked at: they may be secrets)."""
    names: set[str] = set()
    for pair in query.split("&"):
        if pair:
            try:
                names.add(unquote_to_bytes(pair.partition("=")[0].replace("+", " ")).decode("utf-8", "replace"))
            except ValueError:  # pragma: no cover - unquote_to_bytes does not raise for str input
                continue
    return names
