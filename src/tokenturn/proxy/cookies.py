"""The refresh-token cookie of cookie mode (RFC 6265 §4.1; RFC 9700 §4.14 keeps it out of scripts).

``HttpOnly`` so page scripts (and XSS) cannot read it, ``SameSite=Strict`` so other sites cannot make
the browser send it, ``Secure`` unless the operator explicitly chose ``--insecure-cookies`` for a
plain-HTTP localhost demo. The cookie is scoped to the two endpoints that read it: one ``Set-Cookie``
per path, ``/refresh`` and ``/logout`` (under the ASGI ``root_path`` when the proxy is mounted below
``/``), so it never travels with the page, its scripts, or anything else on the host.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

COOKIE_ENDPOINTS = ("/refresh", "/logout")


def cookie_paths(root_path: str) -> tuple[str, ...]:
    root = root_path.rstrip("/")
    return tuple(root + path for path in COOKIE_ENDPOINTS)


def _attributes(path: str, max_age: int, secure: bool) -> str:
    return f"Path={path}; Max-Age={max_age}; HttpOnly{'; Secure' if secure else ''}; SameSite=Strict"


def set_cookie_headers(
    name: str, token: str, *, root_path: str, max_age: int, secure: bool
) -> tuple[tuple[str, str], ...]:
    """``Set-Cookie`` headers holding ``token``; percent-encoded so any upstream token is a cookie-octet."""
    value = quote(token, safe="-._~")
    return tuple(
        ("set-cookie", f"{name}={value}; {_attributes(path, max_age, secure)}") for path in cookie_paths(root_path)
    )


def clear_cookie_headers(name: str, *, root_path: str, secure: bool) -> tuple[tuple[str, str], ...]:
    """``Set-Cookie`` headers that make the browser drop the cookie on every path it was set for."""
    return tuple(
        ("set-cookie", f"{name}=; {_attributes(path, 0, secure)}; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        for path in cookie_paths(root_path)
    )


def read_cookie(cookie_header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, decoded; None when absent or empty."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            value = unquote(value.strip().strip('"'))
            return value or None
    return None
