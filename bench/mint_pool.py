"""Mint refresh tokens fast, in process, through tokenturn's own password-grant code path.

A real password grant costs one argon2id verification (tens of ms of CPU), so building a pool of
150,000 refresh tokens over HTTP would take far longer than the benchmark itself. Like
django-oauth-toolkit's ``mint_refresh_tokens`` in the peer harness, this runs the grant's own
decision (``core.grants.password.decide`` -> ``issue_tokens``) with the password check taken as
passed and writes each grant with ``storage.save_issue`` -- one transaction per grant, exactly
the rows a real ``POST /auth/token/ grant_type=password`` writes. Refreshing these tokens
therefore costs the server exactly what refreshing HTTP-issued ones costs.

Configuration comes from the same environment as ``tokenturn serve`` (``TOKENTURN_DATABASE_URL``,
``TOKENTURN_SECRET_KEY``, TTLs), so the tokens are hashed with the server's key.

    TOKENTURN_DATABASE_URL=sqlite:////tmp/b.db TOKENTURN_SECRET_KEY=... \\
      .venv/bin/python bench/mint_pool.py --client-id ID --username bench --count 150000 --out pool.txt

``--out`` gets one refresh token per line; ``--access-out`` one access token per line (for the
introspection and ``/v1/me/`` scenarios); without either the grants are only stored (background
rows for the index-health scenario). Prints one line: count, seconds, grants/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from tokenturn.config import load_settings
from tokenturn.core.crypto import Keys
from tokenturn.core.grants import password
from tokenturn.core.grants.base import Policy
from tokenturn.storage import Storage, open_storage


async def mint(args: argparse.Namespace) -> tuple[list[str], list[str], float]:
    settings = load_settings()
    storage: Storage = open_storage(settings.database_url)
    try:
        if settings.is_embedded:
            await storage.migrate()
        secret = settings.secret_key or await storage.secret_key(generate=False)
        if secret is None:
            sys.exit("mint_pool: no secret key (set TOKENTURN_SECRET_KEY or start the server once)")
        keys = Keys(secret)
        policy = Policy(
            settings.access_token_ttl,
            settings.refresh_token_ttl,
            settings.family_ttl,
            settings.refresh_grace_seconds,
        )
        client = await storage.get_client(args.client_id)
        user = await storage.get_user(args.username)
        if client is None or user is None:
            sys.exit("mint_pool: unknown client or user (create them with `tokenturn client/user create`)")
        form = {"scope": args.scope} if args.scope else {}
        refresh: list[str] = []
        access: list[str] = []
        keep_refresh, keep_access = args.out is not None, args.access_out is not None
        remaining = args.count

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                # The grant's own decision with the argon2id check taken as passed (issuance only).
                issue = password.decide(client, user, True, form, int(time.time()), policy, keys)
                await storage.save_issue(issue)
                if keep_refresh and issue.refresh_token is not None:
                    refresh.append(issue.refresh_token)
                if keep_access:
                    access.append(issue.access_token)

        t0 = time.perf_counter()
        # SQLite calls are synchronous on the loop, so extra tasks only help a networked backend.
        await asyncio.gather(*(worker() for _ in range(1 if settings.is_embedded else args.concurrency)))
        return refresh, access, time.perf_counter() - t0
    finally:
        await storage.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--username", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--scope", default="", help="requested scope (default: the client's whole scope)")
    ap.add_argument("--out", help="file for the refresh tokens, one per line")
    ap.add_argument("--access-out", help="file for the access tokens, one per line")
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent grants (PostgreSQL only)")
    args = ap.parse_args()
    if not 0 < args.count <= 5_000_000:
        ap.error("--count must be in 1..5000000")
    refresh, access, seconds = asyncio.run(mint(args))
    for path, tokens in ((args.out, refresh), (args.access_out, access)):
        if path is not None:
            with open(path, "w") as fh:
                fh.write("\n".join(tokens) + "\n")
    rate = args.count / seconds if seconds else 0.0
    print(f"minted {args.count} grants in {seconds:.1f}s ({rate:.0f}/s)", flush=True)


if __name__ == "__main__":
    main()
