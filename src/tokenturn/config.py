"""Settings: one frozen object built at the edge (environment or a TOML file) and passed down.

Every name is a ``TOKENTURN_*`` variable of the contract (§5); a TOML file given with ``--config``
uses the same names, lower-cased and without the prefix (``access_token_ttl = 600``), and the
environment wins over the file. A value out of range or malformed raises :class:`ConfigError`
whose message is one line naming the setting: the process stops, it never runs with it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "TOKENTURN_"


class ConfigError(ValueError):
    """A setting is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``count`` failures are answered normally within ``window`` seconds; the next gets 429."""

    count: int
    window: int

    def __str__(self) -> str:
        return f"{self.count}/{self.window}s"


_UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "m": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate_limit(name: str, text: str) -> RateLimit:
    """Parse ``"20/min"``, ``"10/15min"``, ``"5/30s"``; ``"0"`` disables (count 0)."""
    if text.strip() == "0":
        return RateLimit(0, 60)
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", text)
    if not m or m.group(3) not in _UNITS:
        raise ConfigError(f"{PREFIX}{name.upper()}: expected a limit like '20/min' or '10/15min', got {text!r}")
    count, mult = int(m.group(1)), int(m.group(2) or 1)
    window = mult * _UNITS[m.group(3)]
    if count < 1 or window < 1:
        raise ConfigError(f"{PREFIX}{name.upper()}: count and window must be positive, got {text!r}")
    return RateLimit(count, window)


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration; fields are the contract's names without the prefix."""

    database_url: str = "sqlite:///tokenturn.db"
    redis_url: str | None = None
    secret_key: str | None = None
    issuer: str | None = None
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 2_592_000
    family_ttl: int = 7_776_000
    refresh_grace_seconds: int = 10
    cors_origins: tuple[str, ...] = ()
    rate_limit_client: RateLimit = RateLimit(20, 60)
    rate_limit_address: RateLimit = RateLimit(20, 60)
    rate_limit_username: RateLimit = RateLimit(10, 900)
    trusted_proxies: tuple[str, ...] = ()
    purge_interval: int = 3600
    purge_retention: int = 7 * 86400
    log_level: str = "INFO"
    # argon2id cost for user passwords (RFC 9106 "second recommended option" by default).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite:")

    def issuer_for(self, host: str, port: int) -> str:
        return self.issuer or f"http://{host}:{port}"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


_INT_RANGES: dict[str, tuple[int, int]] = {
    "access_token_ttl": (1, 86_400 * 7),
    "refresh_token_ttl": (60, 86_400 * 365),
    "family_ttl": (60, 86_400 * 3650),
    "refresh_grace_seconds": (0, 60),
    "purge_interval": (0, 86_400 * 7),
    "purge_retention": (0, 86_400 * 3650),
    "argon2_time_cost": (1, 20),
    "argon2_memory_kib": (8, 4 * 1024 * 1024),
    "argon2_parallelism": (1, 64),
}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _convert(name: str, raw: Any) -> Any:
    env_name = PREFIX + name.upper()
    if name in _INT_RANGES:
        lo, hi = _INT_RANGES[name]
        try:
            value = int(str(raw).strip()) if not isinstance(raw, bool) else None
        except ValueError:
            value = None
        if value is None:
            raise ConfigError(f"{env_name}: expected a whole number, got {raw!r}")
        if not lo <= value <= hi:
            raise ConfigError(f"{env_name}: {value} is out of range ({lo} to {hi})")
        return value
    if name.startswith("rate_limit_"):
        return parse_rate_limit(name, str(raw))
    if name in ("cors_origins", "trusted_proxies"):
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(str(i).strip().rstrip("/") for i in items if str(i).strip())
    if name == "log_level":
        level = str(raw).strip().upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"{env_name}: expected one of {', '.join(_LOG_LEVELS)}, got {raw!r}")
        return level
    text = str(raw).strip()
    return text or None if name in ("redis_url", "secret_key", "issuer") else text


def _validate(s: Settings) -> Settings:
    url = s.database_url
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        raise ConfigError(
            f"{PREFIX}DATABASE_URL: expected sqlite:///file.db or postgresql://..., got {url.split('@')[-1]!r}"
        )
    if s.secret_key is not None and len(s.secret_key.encode()) < 32:
        raise ConfigError(f"{PREFIX}SECRET_KEY: must be at least 32 bytes (generate one with `openssl rand -hex 32`)")
    if not s.is_embedded and s.secret_key is None:
        raise ConfigError(f"{PREFIX}SECRET_KEY: required with PostgreSQL (every node must share it)")
    if s.redis_url is not None and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{PREFIX}REDIS_URL: expected redis://host:port/db")
    if s.refresh_token_ttl > s.family_ttl:
        raise ConfigError(f"{PREFIX}REFRESH_TOKEN_TTL: must not exceed {PREFIX}FAMILY_TTL")
    if s.access_token_ttl > s.family_ttl:
        raise ConfigError(f"{PREFIX}ACCESS_TOKEN_TTL: must not exceed {PREFIX}FAMILY_TTL")
    if s.access_token_ttl > s.refresh_token_ttl:
        # An access token outliving the refresh token that renews it defeats short-lived access (RFC 9700 §4.14).
        raise ConfigError(f"{PREFIX}ACCESS_TOKEN_TTL: must not exceed {PREFIX}REFRESH_TOKEN_TTL")
    if s.refresh_grace_seconds >= s.refresh_token_ttl:
        raise ConfigError(f"{PREFIX}REFRESH_GRACE_SECONDS: must be shorter than {PREFIX}REFRESH_TOKEN_TTL")
    for origin in s.cors_origins:
        if origin == "*" or not re.fullmatch(r"https?://[^/\s]+", origin):
            raise ConfigError(f"{PREFIX}CORS_ORIGINS: {origin!r} is not an origin like https://app.example")
    if s.issuer is not None and not re.fullmatch(r"https?://[^\s?#]+", s.issuer):
        raise ConfigError(f"{PREFIX}ISSUER: expected an http(s) URL without query or fragment")
    return s


def load_settings(environ: Mapping[str, str] | None = None, config_file: str | Path | None = None) -> Settings:
    """Build settings from a TOML file (optional) overlaid by ``TOKENTURN_*`` environment variables."""
    env = os.environ if environ is None else environ
    fields = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    if config_file is None:
        config_file = env.get(PREFIX + "CONFIG") or None
    if config_file is not None:
        try:
            with open(config_file, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"--config: cannot read {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config: {config_file} is not valid TOML: {exc}") from None
        table = data.get("tokenturn", data)
        for key, raw in table.items():
            name = key.lower().removeprefix("tokenturn_")
            if name not in fields:
                raise ConfigError(f"--config: unknown setting {key!r} in {config_file}")
            values[name] = _convert(name, raw)
    for name in fields:
        raw = env.get(PREFIX + name.upper())
        if raw is not None:
            values[name] = _convert(name, raw)
    return _validate(Settings(**values))
