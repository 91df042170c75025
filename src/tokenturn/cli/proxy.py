"""``tokenturn proxy``: the refresh proxy of contract §3 on uvicorn.

The client secret comes from ``TOKENTURN_PROXY_CLIENT_SECRET`` only, never from the command line
(where ``ps`` and shell history would show it); without it the proxy acts for a public client.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.console import Console

from tokenturn.cli._common import app, fail
from tokenturn.config import ConfigError, RateLimit, parse_rate_limit
from tokenturn.proxy import ProxyApp, ProxyConfig, ProxyConfigError

SECRET_ENV = "TOKENTURN_PROXY_CLIENT_SECRET"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _limit(option: str, text: str) -> RateLimit:
    try:
        return parse_rate_limit("proxy", text)
    except ConfigError:
        raise ProxyConfigError(f"{option}: expected a limit like '60/min' or '0' (off), got {text!r}") from None


@app.command()
def proxy(
    upstream: Annotated[str, typer.Option("--upstream", help="Token service: base URL, testnet or mainnet.")],
    client_id: Annotated[str, typer.Option("--client-id", help="The proxy's client_id at the upstream.")],
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 3000,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", help="A browser origin allowed to call the proxy (repeat, or comma-separate)."),
    ] = None,
    cookie_mode: Annotated[
        bool, typer.Option("--cookie-mode", help="Keep refresh tokens in an HttpOnly cookie; adds /login, /logout.")
    ] = False,
    insecure_cookies: Annotated[
        bool, typer.Option("--insecure-cookies", help="Drop the cookie's Secure flag (plain-HTTP localhost demos).")
    ] = False,
    demo_page: Annotated[bool, typer.Option("--demo-page", help="Serve the demo page at / (needs --cookie-mode).")] = (
        False
    ),
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the upstream (then 504).")] = 10.0,
    rate_limit_refresh: Annotated[str, typer.Option("--rate-limit-refresh", help="Per source address.")] = "60/min",
    rate_limit_login: Annotated[str, typer.Option("--rate-limit-login", help="Per source address.")] = "10/min",
) -> None:
    """Run the refresh proxy: browsers renew tokens without ever holding the client secret."""
    import uvicorn

    from tokenturn.server.logs import configure

    secret = os.environ.get(SECRET_ENV) or None
    origins = tuple(o.strip() for value in allow_origin or () for o in value.split(",") if o.strip())
    try:
        config = ProxyConfig(
            upstream=upstream,
            client_id=client_id,
            client_secret=secret,
            allow_origins=origins,
            cookie_mode=cookie_mode,
            insecure_cookies=insecure_cookies,
            demo_page=demo_page,
            timeout=timeout,
            rate_limit_refresh=_limit("--rate-limit-refresh", rate_limit_refresh),
            rate_limit_login=_limit("--rate-limit-login", rate_limit_login),
        )
    except ProxyConfigError as exc:
        fail(str(exc), 2)

    console = Console(stderr=True, soft_wrap=True)
    configure("INFO")
    base = f"http://{host}:{port}"
    console.print(f"tokenturn proxy on {base} -> {config.token_url}", highlight=False)
    if secret is None:
        console.print(f"  {SECRET_ENV} is not set: acting as a public client", highlight=False)
    if config.cookie_mode:
        console.print(
            f"  cookie mode: POST {base}/login, /refresh, /logout"
            f"{' (insecure cookies: plain HTTP only)' if config.insecure_cookies else ''}",
            highlight=False,
        )
        if config.insecure_cookies and host not in LOOPBACK:
            console.print("  warning: --insecure-cookies on a non-loopback address sends the cookie in clear")
    if config.demo_page:
        console.print(f"  demo page: {base}/  (the API must allow it: TOKENTURN_CORS_ORIGINS={base})", highlight=False)
    console.print(
        f"  allowed origins: {', '.join(config.allow_origins) or '(none: same origin only)'}", highlight=False
    )
    try:
        uvicorn.run(
            ProxyApp(config),
            host=host,
            port=port,
            access_log=False,  # paths and statuses are logged by the app itself, without bodies
            log_level="warning",
            server_header=False,
            lifespan="on",
        )
    except SystemExit as exc:
        if exc.code:
            fail(f"the proxy stopped (exit {exc.code})")
