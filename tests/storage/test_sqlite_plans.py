"""SQLite query plans: purge runs under the cross-process writer lock, so it must never scan a table."""

from __future__ import annotations

import re
from pathlib import Path

from tokenturn.storage.sqlite import SQLiteStorage

NOW = 1_800_000_000


async def test_purge_uses_indexes_only(tmp_path: Path) -> None:
    """Every statement purge runs is planned as index searches, never a full SCAN of a token table."""
    storage = SQLiteStorage(str(tmp_path / "plans.db"))
    await storage.migrate()
    conn = storage._connect()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        await storage.purge(NOW, 0)
    finally:
        conn.set_trace_callback(None)
    planned = [s for s in statements if re.match(r"\s*(SELECT|DELETE)", s, re.IGNORECASE)]
    assert planned, statements
    for statement in planned:
        plan = " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}"))
        assert not re.search(r"\bSCAN (access_tokens|refresh_tokens|families)\b", plan), (statement, plan)
    await storage.close()
