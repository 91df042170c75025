"""Scope strings (RFC 6749 §3.3): space-delimited, case-sensitive, order-free sets of NQCHAR tokens."""

from __future__ import annotations

import re

from tokenturn.core.errors import InvalidScope

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def parse_scope(text: str) -> frozenset[str]:
    """Split a scope string; a token outside RFC 6749's ``scope-token`` grammar is ``invalid_scope``."""
    items = text.split(" ")
    scopes = frozenset(i for i in items if i)
    for item in scopes:
        if not _SCOPE_TOKEN.fullmatch(item):
            raise InvalidScope("The scope contains a malformed scope token.")
    return scopes


def format_scope(scopes: frozenset[str] | set[str]) -> str:
    """Canonical form: sorted, single spaces (stable for storage and comparisons)."""
    return " ".join(sorted(scopes))


def narrow(requested: str | None, allowed: frozenset[str], *, what: str) -> frozenset[str]:
    """The scope to grant: ``allowed`` when nothing is requested, else a subset of it or ``invalid_scope``."""
    if requested is None:
        return allowed
    wanted = parse_scope(requested)
    if not wanted:
        return allowed
    if not wanted <= allowed:
        raise InvalidScope(f"The requested scope is unknown or wider than {what}.")
    return wanted
