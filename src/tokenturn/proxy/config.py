"""The proxy's settings: one frozen object built by the command line and passed down (contract §3, §4).

``--upstream`` takes a base URL, a token endpoint URL ending in ``/auth/token/``, or ``testnet`` /
``mainnet``; the token and revocation endpoints (RFC 6749 §3.2, RFC 7009 §2) sit under that base.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from urllib.parse import urlsplit

from tokenturn.client import SERVERS as NAMED_UPSTREAMS
from tokenturn.config import RateLimit

TOKEN_PATH = "/auth/token/"
REVOKE_PATH = "/auth/revoke_token/"
#: Per source address. A person's tabs need a few refreshes a minute; a login form, a few tries.
DEFAULT_REFRESH_LIMIT = RateLimit(60, 60)
DEFAULT_LOGIN_LIMIT = RateLimit(10, 60)


class ProxyConfigError(ValueError):
    """A proxy setting is malformed; the message names it and never quotes a secret."""


def upstream_base(text: str) -> str:
    """``testnet`` / ``mainnet`` / a base URL / a token endpoint URL -> the base URL, no trailing slash."""
    text = text.strip()
    if text in NAMED_UPSTREAMS:
        return NAMED_UPSTREAMS[text]
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ProxyConfigError(f"--upstream: expected http(s)://host[:port], testnet or mainnet, got {text!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ProxyConfigError("--upstream: give a plain base URL (no credentials, query or fragment)")
    path = parts.path.rstrip("/")
    if path.endswith(TOKEN_PATH.rstrip("/")):
        path = path[: -len(TOKEN_PATH.rstrip("/"))]
    return f"{parts.scheme}://{parts.netloc}{path}"


def normalize_origin(text: str) -> str:
    """An ``--allow-origin`` value as browsers send it in ``Origin``: ``scheme://host[:port]``."""
    parts = urlsplit(text.strip())
    if text.strip() == "*":
        raise ProxyConfigError("--allow-origin: '*' is refused; list each origin that may call the proxy")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ProxyConfigError(f"--allow-origin: expected scheme://host[:port], got {text!r}")
    if parts.query or parts.fragment or parts.username:
        raise ProxyConfigError(f"--allow-origin: expected scheme://host[:port], got {text!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """Everything the proxy app needs; built at the edge (``tokenturn proxy``), never read from globals."""

    upstream: str
    client_id: str
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    allow_origins: tuple[str, ...] = ()
    cookie_mode: bool = False
    insecure_cookies: bool = False
    demo_page: bool = False
    timeout: float = 10.0
    # Idle refresh-token lifetime on the upstream is not known here; the cookie lives as long as the
    # contract's default (30 days) and the upstream decides whether the token inside is still good.
    cookie_max_age: int = 2_592_000
    cookie_name: str = "tokenturn_rt"
    dedupe_seconds: float = 5.0
    rate_limit_refresh: RateLimit = DEFAULT_REFRESH_LIMIT
    rate_limit_login: RateLimit = DEFAULT_LOGIN_LIMIT
    max_body: int = 16 * 1024

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstream", upstream_base(self.upstream))
        object.__setattr__(self, "allow_origins", tuple(normalize_origin(o) for o in self.allow_origins))
        if not self.client_id:
            raise ProxyConfigError("--client-id: required")
        if not 0 < self.timeout <= 300:
            raise ProxyConfigError(f"--timeout: {self.timeout} is out of range (0 to 300 seconds)")
        if self.demo_page and not self.cookie_mode:
            raise ProxyConfigError("--demo-page needs --cookie-mode (the page signs in through /login)")
        if self.insecure_cookies and not self.cookie_mode:
            raise ProxyConfigError("--insecure-cookies only makes sense with --cookie-mode")

    @property
    def token_url(self) -> str:
        return self.upstream + TOKEN_PATH

    @property
    def revoke_url(self) -> str:
        return self.upstream + REVOKE_PATH

    def replace(self, **changes: object) -> ProxyConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
