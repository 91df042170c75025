"""Token material: generation, keyed hashes at rest, and deterministic successors.

* Tokens are ``tt_at_``/``tt_rt_``/``tt_cs_`` plus 43 base64url characters (256 random bits), so
  secret scanners can recognise leaked ones: ``tt_(at|rt|cs)_[A-Za-z0-9_-]{43}``.
* The store keeps only ``HMAC-SHA256(hash_key, label || token)`` (RFC 9700 §4.14 does not require
  it; fosite's ``hmacsha`` strategy does the same). Tokens carry 256 bits of entropy, so a fast
  keyed hash is as safe as a slow one and costs microseconds instead of DOT's ~180 ms PBKDF2.
* A refresh token's successors are *derived* from it with a second key, never stored in clear:
  a client replaying a used refresh token inside the grace window gets the very same pair back
  (contract §1, "idempotent retry"), recomputed from the token it presents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ACCESS_PREFIX = "tt_at_"
REFRESH_PREFIX = "tt_rt_"
CLIENT_SECRET_PREFIX = "tt_cs_"
TOKEN_PATTERN = r"tt_(at|rt|cs)_[A-Za-z0-9_-]{43}"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_token(prefix: str) -> str:
    """A fresh opaque token: prefix + 256 random bits, unreserved characters only."""
    return prefix + b64url(secrets.token_bytes(32))


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_client_id() -> str:
    """20 alphanumerics (119 bits): unreserved, and never starting with "-" (a command-line option)."""
    return "".join(secrets.choice(_ALNUM) for _ in range(20))


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


class Keys:
    """Keys derived from ``TOKENTURN_SECRET_KEY``, one per purpose (domain separation)."""

    __slots__ = ("_derive_key", "_hash_key")

    def __init__(self, secret_key: str) -> None:
        root = secret_key.encode("utf-8")
        self._hash_key = hmac.digest(root, b"tokenturn/v1/hash", "sha256")
        self._derive_key = hmac.digest(root, b"tokenturn/v1/successor", "sha256")

    def hash_token(self, token: str) -> bytes:
        """The at-rest form of a token or client secret: a 32-byte keyed hash."""
        return hmac.digest(self._hash_key, token.encode("utf-8"), hashlib.sha256)

    def successors(self, refresh_token: str) -> tuple[str, str]:
        """The (access token, refresh token) that rotating ``refresh_token`` yields, always the same."""
        seed = refresh_token.encode("utf-8")
        access = hmac.digest(self._derive_key, b"access\x00" + seed, hashlib.sha256)
        refresh = hmac.digest(self._derive_key, b"refresh\x00" + seed, hashlib.sha256)
        return ACCESS_PREFIX + b64url(access), REFRESH_PREFIX + b64url(refresh)
