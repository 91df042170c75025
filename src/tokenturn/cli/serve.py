"""``tokenturn serve``: migrate (embedded), optionally seed the demo, then run uvicorn workers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import time
from typing import Annotated

import typer
from rich.console import Console

from tokenturn.cli._common import ConfigOption, app, fail, run, settings_from, with_storage
from tokenturn.config import Settings
from tokenturn.core.crypto import CLIENT_SECRET_PREFIX, b64url
from tokenturn.core.models import Client, User
from tokenturn.passwords import passwords_for
from tokenturn.storage import Conflict, Storage

DEMO_CLIENT_ID = "demo-client"
DEMO_USERNAME = "demo"


def _demo_value(secret_key: str, label: str) -> str:
    """Demo credentials derived from the server key: created once, printable again on every start."""
    return b64url(hmac.digest(secret_key.encode(), f"tokenturn/demo/{label}".encode(), hashlib.sha256))


async def seed_demo(settings: Settings, storage: Storage) -> tuple[str, str]:
    from tokenturn.cli.admin import keys_for

    keys = await keys_for(settings, storage)
    key = settings.secret_key or await storage.secret_key(generate=True) or ""
    secret = CLIENT_SECRET_PREFIX + _demo_value(key, "client-secret")
    password = _demo_value(key, "password")[:20]
    now = int(time.time())
    grants = frozenset({"password", "refresh_token", "client_credentials"})
    # A concurrent start may have created them first: that is fine.
    if await storage.get_client(DEMO_CLIENT_ID) is None:
        demo_client = Client(
            DEMO_CLIENT_ID, "tokenturn demo", keys.hash_token(secret), grants, frozenset({"read", "write"}), True, now
        )
        with contextlib.suppress(Conflict):
            await storage.create_client(demo_client)
    if await storage.get_user(DEMO_USERNAME) is None:
        hashed = passwords_for(settings).hash(password)
        with contextlib.suppress(Conflict):
            await storage.create_user(User(DEMO_USERNAME, hashed, False, now))
    return secret, password


def demo_text(base: str, secret: str, password: str) -> str:
    return f"""
tokenturn demo — client and user (created once, kept in the store)
  client_id      {DEMO_CLIENT_ID}
  client_secret  {secret}
  username       {DEMO_USERNAME}
  password       {password}

Get a token (password grant):
  curl -s -X POST {base}/auth/token/ \\
    -d grant_type=password -d username={DEMO_USERNAME} -d password={password} \\
    -d client_id={DEMO_CLIENT_ID} -d client_secret={secret}

Refresh it (use the refresh_token from the answer):
  curl -s -X POST {base}/auth/token/ \\
    -d grant_type=refresh_token -d refresh_token=tt_rt_... \\
    -d client_id={DEMO_CLIENT_ID} -d client_secret={secret}
"""


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64)] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="Create a demo client and user; print curl lines.")] = False,
    config: ConfigOption = None,
) -> None:
    """Run the authorization server."""
    import uvicorn

    if config is not None:
        os.environ["TOKENTURN_CONFIG"] = os.path.abspath(config)
    settings = settings_from(config)
    if settings.issuer is None:
        os.environ["TOKENTURN_ISSUER"] = settings.issuer_for(host, port)
    settings = settings_from(config)

    async def prepare(storage: Storage) -> tuple[str, str] | None:
        return await seed_demo(settings, storage) if demo else None

    credentials = run(with_storage(settings, prepare))
    console = Console()
    if credentials is not None:
        console.print(
            demo_text(settings.issuer or f"http://{host}:{port}", *credentials),
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"tokenturn serving on http://{host}:{port} ({workers} worker{'s' * (workers > 1)}, "
        f"{'SQLite' if settings.is_embedded else 'PostgreSQL'})",
        highlight=False,
    )
    # Several workers sum their metrics through prometheus-client's multiprocess files.
    from tokenturn.server import metrics

    try:
        with metrics.multiprocess_dir():
            uvicorn.run(
                "tokenturn.server.app:app_from_environment",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                http="httptools",
                loop="uvloop",
                access_log=False,
                log_level="warning",
                server_header=False,
                proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=",".join(settings.trusted_proxies) or None,
                timeout_graceful_shutdown=10,
            )
    except SystemExit as exc:
        if exc.code:
            fail(f"the server stopped (exit {exc.code})")
