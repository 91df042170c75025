"""A real ``tokenturn serve`` for the hardening tests, and what they read from it (``/proc``, the store)."""

from __future__ import annotations

import collections
import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tokenturn.config import Settings
from tokenturn.testing import ServerProcess

SECRET_KEY = "h" * 64
#: name -> requests sent, summed in the terminal summary (the ``make fuzz`` figure).
REQUESTS_SENT: collections.Counter[str] = collections.Counter()
#: "status error" -> count over every fuzzed response (shows how deep the fuzzers got).
OUTCOMES: collections.Counter[str] = collections.Counter()
#: Lines (soak figures, ...) printed at the end of the run.
REPORT: list[str] = []

#: Strings that must never appear in a response body: they betray a traceback or the source tree.
LEAK_MARKERS = ("Traceback", "/src/", '.py"', "site-packages", 'File "')


@dataclass
class GroupServer(ServerProcess):
    """:class:`tokenturn.testing.ServerProcess` (its own process group, so ``kill()`` takes the
    workers down with the supervisor) with the hardening suite's defaults: a fixed secret key, no
    background purge, a generous start-up timeout for a loaded machine."""

    startup_timeout: float = 60.0

    def __post_init__(self) -> None:
        self.env = {"TOKENTURN_SECRET_KEY": SECRET_KEY, "TOKENTURN_PURGE_INTERVAL": "0", **self.env}


def vm_rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (``VmRSS`` of ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def sqlite_path(settings: Settings) -> str:
    return settings.database_url.removeprefix("sqlite:///").split("?", 1)[0]


def snapshot(db_path: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, sorted: two snapshots are equal iff the store is unchanged."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


@contextlib.contextmanager
def running(env: Mapping[str, str], workers: int = 1, log_path: Path | None = None) -> Iterator[GroupServer]:
    with GroupServer(env=env, workers=workers, log_path=log_path) as server:
        yield server
