"""Framing shared by the token, revocation and introspection endpoints (RFC 6749 §3.2, contract §1-2).

POST only, a form-encoded body of at most 64 KiB, no credentials or tokens in the query string
(RFC 6749 §3.2: "sent using the HTTP POST method"; RFC 6750 §5.3), and exactly one client
authentication method.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenturn.core.errors import InvalidRequest
from tokenturn.core.form import parse_form, parse_query_names
from tokenturn.core.http import HttpRequest

FORM_TYPE = "application/x-www-form-urlencoded"
SENSITIVE_QUERY = frozenset(
    {
        "client_id",
        "client_secret",
        "password",
        "username",
        "refresh_token",
        "access_token",
        "token",
        "code",
        "assertion",
        "grant_type",
    }
)


def method_not_allowed(*allowed: str) -> InvalidRequest:
    """``405`` naming the methods the endpoint takes (POST unless told otherwise)."""
    methods = allowed or ("POST",)
    return InvalidRequest(f"Use {' or '.join(methods)}.", status=405, headers={"Allow": ", ".join(methods)})


def check_framing(request: HttpRequest) -> dict[str, str]:
    """Check method, query string and content type; return the parsed form."""
    if request.method != "POST":
        raise method_not_allowed()
    if request.query and not SENSITIVE_QUERY.isdisjoint(parse_query_names(request.query)):
        raise InvalidRequest("Credentials and tokens must be sent in the body, not the query string.")
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != FORM_TYPE:
        raise InvalidRequest(f"The body must be {FORM_TYPE}.")
    return parse_form(request.body)


def has_basic(headers: Mapping[str, str]) -> bool:
    """Whether the request tried HTTP Basic (so a 401 must carry ``WWW-Authenticate``)."""
    return headers.get("authorization", "").lstrip()[:6].lower() == "basic "
