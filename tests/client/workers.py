"""Code run in child processes by the cross-process tests (importable by the spawn start method)."""

from __future__ import annotations

import sys
from typing import Any

from tokenturn.client import JSONFileStore, Session, TokenClient


def refresh_in_process(url: str, client_id: str, secret: str, path: str, barrier: Any, results: Any) -> None:
    """Wait for the others, then ask a file-store session for a token; report the access token seen."""
    with TokenClient(url, client_id=client_id, client_secret=secret) as client:
        session = Session(client, JSONFileStore(path))
        barrier.wait()
        results.put(session.token().access_token)


def write_forever(path: str) -> None:
    """Save big tokens in a loop until killed (the crash-safety test kills it mid-write)."""
    import time

    from tokenturn.client import Token

    store = JSONFileStore(path)
    n = 0
    while True:
        n += 1
        now = time.time()
        store.save(Token(f"at-{n}", "Bearer", 60, "x" * 2_000_000, f"rt-{n}", now, now + 60))


if __name__ == "__main__":
    write_forever(sys.argv[1])
