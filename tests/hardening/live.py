"""A real ``tokenturn serve`` in its own process group, and what the hardening tests read from it.

Unlike :class:`tokenturn.testing.ServerProcess`, the server gets a new session (process group),
so a test can SIGKILL the supervisor *and* its uvicorn workers at once — killing only the
supervisor would leave orphaned workers serving on the socket — and can find the worker pids to
read their memory and descriptors in ``/proc``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tokenturn.config import Settings, load_settings
from tokenturn.testing import FAST_ARGON2, free_port, wait_until_up

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
class GroupServer:
    """``tokenturn serve`` on a free loopback port, in its own process group (a context manager)."""

    env: Mapping[str, str] = field(default_factory=dict)
    workers: int = 1
    log_path: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")}
        env.update(FAST_ARGON2)
        env.update({"TOKENTURN_SECRET_KEY": SECRET_KEY, "TOKENTURN_PURGE_INTERVAL": "0"})
        env.update(self.env)
        return env

    @property
    def settings(self) -> Settings:
        return load_settings(self.full_env)

    def start(self) -> GroupServer:
        self.port = self.port or free_port()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tokenturn",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.full_env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        try:
            wait_until_up(self.url, timeout=60, proc=self.proc)
        except BaseException:
            self.kill()
            raise
        return self

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the supervisor's children, or itself with one worker."""
        assert self.proc is not None
        children = _children(self.proc.pid)
        workers = [pid for pid in children if "multiprocessing" not in _cmdline(pid) or "spawn_main" in _cmdline(pid)]
        return workers or [self.proc.pid]

    def kill(self) -> None:
        """SIGKILL the whole process group (supervisor and workers) and reap the supervisor."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM the group (a graceful uvicorn shutdown); SIGKILL what is left after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(15)
        self.kill()

    def __enter__(self) -> GroupServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


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
