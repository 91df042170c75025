"""The client side from the shell (contract §4): ``tokenturn token``, ``refresh``, ``revoke``, ``introspect``.

Thin over :mod:`tokenturn.client`. Secrets never have to be on the command line (where ``ps`` and
shell history would see them): the client secret comes from ``TOKENTURN_CLIENT_SECRET`` (or the first
stdin line with ``--client-secret-stdin``), the password from ``TOKENTURN_PASSWORD``, the refresh token
from ``TOKENTURN_REFRESH_TOKEN`` or ``--store FILE``; whatever is still missing is read from stdin
(prompted for, hidden, on a terminal). ``--store FILE`` keeps the session in a token file (mode 0600)
shared safely with other processes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Literal

import typer

from tokenturn.cli._common import app, fail
from tokenturn.client import (
    ClientError,
    JSONFileStore,
    LoginRequired,
    OAuthError,
    Session,
    StoreError,
    Token,
    TokenClient,
    TransportError,
    UnexpectedResponse,
)

ServerOption = Annotated[
    str,
    typer.Option("--server", help="Authorization server: base URL, a URL ending in /auth/token/, testnet, mainnet."),
]
ClientIdOption = Annotated[str, typer.Option("--client-id", help="Your client_id.")]
SecretStdinOption = Annotated[
    bool, typer.Option("--client-secret-stdin", help="Read the client secret from the first stdin line.")
]
AuthMethodOption = Annotated[
    str, typer.Option("--auth-method", help="Client authentication: post (in the body) or basic.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the token response shape).")]
StoreOption = Annotated[str | None, typer.Option("--store", help="Token file to keep the session in (0600).")]
HintOption = Annotated[
    str | None, typer.Option("--token-type-hint", help="access_token or refresh_token (RFC 7009 §2.1).")
]


def _stdin_secret(what: str) -> str:
    if sys.stdin is not None and sys.stdin.isatty():
        value: str = typer.prompt(what, hide_input=True)
    else:
        value = (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\r\n")
    if not value:
        fail(f"no {what} given (set it in the environment or pass it on stdin)", 2)
    return value


def _from_env_or_stdin(env: str, what: str) -> str:
    return os.environ.get(env) or _stdin_secret(what)


@contextmanager
def _client(server: str, client_id: str, secret_stdin: bool, auth_method: str) -> Iterator[TokenClient]:
    """A :class:`TokenClient`; every client-side failure becomes one clean line on stderr."""
    if auth_method not in ("post", "basic"):
        fail("--auth-method: expected post or basic", 2)
    secret = os.environ.get("TOKENTURN_CLIENT_SECRET") or None
    if secret is None and secret_stdin:
        secret = _stdin_secret("client secret")
    method: Literal["post", "basic"] = "basic" if auth_method == "basic" else "post"
    try:
        client = TokenClient(server, client_id=client_id, client_secret=secret, auth_method=method)
    except ValueError as exc:
        fail(f"--server: {exc}", 2)
    try:
        with client:
            yield client
    except OAuthError as exc:
        fail(f"{exc.error}: {exc.description}" if exc.description else exc.error)
    except TransportError as exc:
        fail(f"cannot reach {client.endpoints.token}: {exc}")
    except (LoginRequired, StoreError, UnexpectedResponse) as exc:
        fail(str(exc))
    except ClientError as exc:  # pragma: no cover - every subclass is handled above
        fail(str(exc))


def _print_token(token: Token, as_json: bool, stored: bool) -> None:
    if as_json:
        typer.echo(json.dumps(token.as_access_token()))
        return
    typer.echo(token.access_token)
    note = f"expires in {token.expires_in} s; scope {token.scope or '-'}"
    if token.refresh_token and not stored:
        note += "; refresh token not kept (use --store FILE or --json)"
    typer.echo(note, err=True)


@app.command()
def token(
    server: ServerOption,
    client_id: ClientIdOption,
    username: Annotated[str | None, typer.Option("--username", help="Password grant for this user.")] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Space-separated scopes.")] = None,
    client_secret_stdin: SecretStdinOption = False,
    auth_method: AuthMethodOption = "post",
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Get an access token: password grant with --username, the session in --store, or client credentials."""
    with _client(server, client_id, client_secret_stdin, auth_method) as client:
        file_store = None if store is None else JSONFileStore(store)
        if username is not None:
            password = _from_env_or_stdin("TOKENTURN_PASSWORD", "password")
            if file_store is None:
                result = client.password(username, password, scope)
            else:
                result = Session(client, file_store).login_password(username, password, scope)
        elif file_store is not None and file_store.load() is not None:
            result = Session(client, file_store, scope=scope).token()  # refreshed only if needed
        else:
            result = client.client_credentials(scope)
            if file_store is not None:
                with file_store.lock():
                    file_store.save(result)
        _print_token(result, as_json, file_store is not None)


@app.command()
def refresh(
    server: ServerOption,
    client_id: ClientIdOption,
    scope: Annotated[str | None, typer.Option("--scope", help="Narrow the new access token's scope.")] = None,
    client_secret_stdin: SecretStdinOption = False,
    auth_method: AuthMethodOption = "post",
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Exchange a refresh token for a new pair (from TOKENTURN_REFRESH_TOKEN, --store, or stdin)."""
    with _client(server, client_id, client_secret_stdin, auth_method) as client:
        if store is None:
            result = client.refresh(_from_env_or_stdin("TOKENTURN_REFRESH_TOKEN", "refresh token"), scope)
        else:
            file_store = JSONFileStore(store)
            # Read, refresh and write under the file lock: other processes using the file wait for us.
            with file_store.lock():
                stored = file_store.load()
                presented = os.environ.get("TOKENTURN_REFRESH_TOKEN") or (stored.refresh_token if stored else None)
                result = client.refresh(presented or _stdin_secret("refresh token"), scope)
                file_store.save(result)
        _print_token(result, as_json, store is not None)


def _token_to_act_on(store: str | None, prefer_refresh: bool) -> tuple[str, str | None]:
    """(token, hint) from --store, the environment, or stdin."""
    if store is not None:
        stored = JSONFileStore(store).load()
        if stored is None:
            fail(f"no token in {store}")
        if prefer_refresh and stored.refresh_token:
            return stored.refresh_token, "refresh_token"
        return stored.access_token, "access_token"
    from_env = os.environ.get("TOKENTURN_REFRESH_TOKEN")
    if from_env:
        return from_env, "refresh_token"
    return _stdin_secret("token"), None


@app.command()
def revoke(
    server: ServerOption,
    client_id: ClientIdOption,
    token_type_hint: HintOption = None,
    client_secret_stdin: SecretStdinOption = False,
    auth_method: AuthMethodOption = "post",
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Revoke a token (RFC 7009): the --store session's refresh token (its whole family), or one from env/stdin."""
    with _client(server, client_id, client_secret_stdin, auth_method) as client:
        value, hint = _token_to_act_on(store, prefer_refresh=True)
        client.revoke(value, token_type_hint or hint)
        if store is not None:
            file_store = JSONFileStore(store)
            with file_store.lock():
                file_store.clear()
    typer.echo(json.dumps({"revoked": True}) if as_json else "revoked")


@app.command()
def introspect(
    server: ServerOption,
    client_id: ClientIdOption,
    token_type_hint: HintOption = None,
    client_secret_stdin: SecretStdinOption = False,
    auth_method: AuthMethodOption = "post",
    as_json: JsonOption = False,
    store: StoreOption = None,
) -> None:
    """Ask the server about a token (RFC 7662): the --store session's access token, or one from env/stdin."""
    with _client(server, client_id, client_secret_stdin, auth_method) as client:
        value, hint = _token_to_act_on(store, prefer_refresh=False)
        info = client.introspect(value, token_type_hint or hint)
    if as_json:
        typer.echo(json.dumps(info))
        return
    for key, field in info.items():
        typer.echo(f"{key}: {field}")
