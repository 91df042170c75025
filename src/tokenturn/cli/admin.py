"""Administration: ``migrate``, ``client …``, ``user …``, ``purge``. Changes reach a running server at once
(it reads clients and users from the store on every request)."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tokenturn.cli._common import ConfigOption, app, fail, run, settings_from, with_storage
from tokenturn.config import Settings
from tokenturn.core.crypto import CLIENT_SECRET_PREFIX, Keys, new_client_id, new_token
from tokenturn.core.errors import InvalidScope
from tokenturn.core.models import GRANT_CLIENT_CREDENTIALS, GRANT_TYPES, Client, User
from tokenturn.core.scopes import format_scope, parse_scope
from tokenturn.passwords import passwords_for
from tokenturn.storage import Conflict, Storage

client_app = typer.Typer(help="Register and manage OAuth clients.", no_args_is_help=True)
user_app = typer.Typer(help="Manage resource owners (users of the password grant).", no_args_is_help=True)
app.add_typer(client_app, name="client")
app.add_typer(user_app, name="user")

console = Console()


async def keys_for(settings: Settings, storage: Storage) -> Keys:
    secret = settings.secret_key or await storage.secret_key(generate=settings.is_embedded)
    if secret is None:  # pragma: no cover - settings validation requires it for PostgreSQL
        fail("TOKENTURN_SECRET_KEY is required", 2)
    return Keys(secret)


@app.command()
def migrate(config: ConfigOption = None) -> None:
    """Bring the schema up to date."""
    settings = settings_from(config)

    async def action(storage: Storage) -> list[str]:
        return []  # with_storage has migrated already

    run(with_storage(settings, action))
    typer.echo("schema is up to date")


def _client_json(client: Client, secret: str | None) -> dict[str, object]:
    out: dict[str, object] = {"client_id": client.client_id}
    if secret is not None:
        out["client_secret"] = secret
    out.update(
        name=client.name,
        grant_types=sorted(client.grant_types),
        scope=format_scope(client.scope),
        public=client.is_public,
        introspection=client.introspection,
    )
    return out


def _parse_grants(text: str, public: bool) -> frozenset[str]:
    grants = frozenset(g.strip() for g in text.split(",") if g.strip())
    unknown = grants - set(GRANT_TYPES)
    if not grants or unknown:
        fail(f"--grant-types: expected a comma-separated subset of {','.join(GRANT_TYPES)}", 2)
    if public and GRANT_CLIENT_CREDENTIALS in grants:
        fail("--grant-types: a public client may not use client_credentials", 2)
    return grants


@client_app.command("create")
def client_create(
    name: Annotated[str, typer.Option("--name", help="A name for people.")],
    grant_types: Annotated[str, typer.Option("--grant-types")] = "password,refresh_token",
    scope: Annotated[str, typer.Option("--scope")] = "read write",
    public: Annotated[bool, typer.Option("--public", help="No secret (RFC 6749 §2.1).")] = False,
    introspection: Annotated[bool, typer.Option("--introspection", help="May introspect any token.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    config: ConfigOption = None,
) -> None:
    """Register a client; its secret is printed once and stored only as a keyed hash."""
    settings = settings_from(config)
    grants = _parse_grants(grant_types, public)
    try:
        scopes = parse_scope(scope)
    except InvalidScope:
        fail("--scope: expected space-separated scope names of printable ASCII", 2)
    if not name.strip():
        fail("--name must not be empty", 2)

    async def action(storage: Storage) -> tuple[Client, str | None]:
        keys = await keys_for(settings, storage)
        secret = None if public else new_token(CLIENT_SECRET_PREFIX)
        client = Client(
            new_client_id(),
            name.strip(),
            None if secret is None else keys.hash_token(secret),
            grants,
            scopes,
            introspection,
            int(time.time()),
        )
        await storage.create_client(client)
        return client, secret

    client, secret = run(with_storage(settings, action))
    if as_json:
        typer.echo(json.dumps(_client_json(client, secret)))
        return
    console.print(f"client_id:     {client.client_id}")
    if secret is not None:
        console.print(f"client_secret: {secret}")
        console.print("[yellow]The secret is shown only once; store it now.[/yellow]")
    console.print(f"grant types:   {', '.join(sorted(client.grant_types))}")
    console.print(f"scope:         {format_scope(client.scope)}")


@client_app.command("list")
def client_list(as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOption = None) -> None:
    """List registered clients (never their secrets)."""
    settings = settings_from(config)
    clients = run(with_storage(settings, lambda s: s.list_clients()))
    if as_json:
        typer.echo(json.dumps([_client_json(c, None) for c in clients]))
        return
    table = Table("client_id", "name", "grant types", "scope", "type", "introspection")
    for c in clients:
        table.add_row(
            c.client_id,
            c.name,
            ",".join(sorted(c.grant_types)),
            format_scope(c.scope),
            "public" if c.is_public else "confidential",
            "yes" if c.introspection else "",
        )
    console.print(table)


@client_app.command("delete")
def client_delete(client_id: str, config: ConfigOption = None) -> None:
    """Delete a client and every token issued to it."""
    settings = settings_from(config)
    if not run(with_storage(settings, lambda s: s.delete_client(client_id))):
        fail(f"no client {client_id!r}")
    typer.echo(f"deleted client {client_id}")


@client_app.command("rotate-secret")
def client_rotate_secret(
    client_id: str, as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOption = None
) -> None:
    """Give a confidential client a new secret; the old one stops working at once."""
    settings = settings_from(config)

    async def action(storage: Storage) -> Client | None:
        keys = await keys_for(settings, storage)
        client = await storage.get_client(client_id)
        if client is None or client.is_public:
            return client
        await storage.set_client_secret(client_id, keys.hash_token(secret))
        return client

    secret = new_token(CLIENT_SECRET_PREFIX)
    client = run(with_storage(settings, action))
    if client is None:
        fail(f"no client {client_id!r}")
    if client.is_public:
        fail(f"client {client_id!r} is public and has no secret")
    if as_json:
        typer.echo(json.dumps(_client_json(client, secret)))
    else:
        console.print(f"client_id:     {client_id}\nclient_secret: {secret}")


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Option("--username")],
    password: Annotated[str | None, typer.Option("--password", help="Prefer --password-stdin.")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    config: ConfigOption = None,
) -> None:
    """Create a user whose password is stored as an argon2id hash."""
    settings = settings_from(config)
    if (password is None) == (not password_stdin):
        fail("give exactly one of --password or --password-stdin", 2)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    assert password is not None
    if not password:
        fail("the password must not be empty", 2)
    if not username.strip() or any(ord(c) < 0x20 for c in username):
        fail("--username must be non-empty printable text", 2)
    hashed = passwords_for(settings).hash(password)

    async def action(storage: Storage) -> bool:
        try:
            await storage.create_user(User(username, hashed, False, int(time.time())))
        except Conflict:
            return False
        return True

    if not run(with_storage(settings, action)):
        fail(f"user {username!r} exists already")
    typer.echo(f"created user {username}")


@user_app.command("list")
def user_list(as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOption = None) -> None:
    """List users."""
    settings = settings_from(config)
    users = run(with_storage(settings, lambda s: s.list_users()))
    if as_json:
        typer.echo(json.dumps([{"username": u.username, "disabled": u.disabled} for u in users]))
        return
    table = Table("username", "status")
    for u in users:
        table.add_row(u.username, "disabled" if u.disabled else "active")
    console.print(table)


@user_app.command("disable")
def user_disable(username: str, config: ConfigOption = None) -> None:
    """Disable a user: the password grant refuses them and their tokens stop working."""
    settings = settings_from(config)
    if not run(with_storage(settings, lambda s: s.set_user_disabled(username, True))):
        fail(f"no user {username!r}")
    typer.echo(f"disabled user {username}")


@app.command()
def purge(
    older_than: Annotated[int, typer.Option("--older-than", help="Retention in seconds.")] = 7 * 86400,
    batch: Annotated[int, typer.Option("--batch")] = 1000,
    config: ConfigOption = None,
) -> None:
    """Delete expired and revoked tokens past the retention, in batches (safe while serving)."""
    settings = settings_from(config)
    if older_than < 0 or batch < 1:
        fail("--older-than must be >= 0 and --batch >= 1", 2)

    async def action(storage: Storage) -> int:
        total = 0
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        ) as progress:
            task = progress.add_task("purging: 0 records deleted", total=None)
            while True:
                n = await storage.purge(int(time.time()), older_than, batch)
                total += n
                progress.update(task, description=f"purging: {total} records deleted")
                if n == 0:
                    return total

    total = run(with_storage(settings, action))
    typer.echo(f"purged {total} records")
