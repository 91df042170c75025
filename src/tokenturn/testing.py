"""Helpers for tests — tokenturn's own and yours: a server on loopback, a fake clock, seeded records.

from tokenturn.testing import ServerProcess, seed

with ServerProcess(env={"TOKENTURN_DATABASE_URL": "sqlite:////tmp/t.db"}) as server:
    creds = seed_sync(server.settings)
    httpx.post(server.url + "/auth/token/", data={...})
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tokenturn.config import Settings, load_settings
from tokenturn.core.crypto import CLIENT_SECRET_PREFIX, Keys, new_client_id, new_token
from tokenturn.core.models import Client, User
from tokenturn.passwords import passwords_for
from tokenturn.storage import Storage, open_storage

#: Cheap argon2 parameters for tests (never for production).
FAST_ARGON2 = {
    "TOKENTURN_ARGON2_TIME_COST": "1",
    "TOKENTURN_ARGON2_MEMORY_KIB": "64",
    "TOKENTURN_ARGON2_PARALLELISM": "1",
}


class FakeClock:
    """A clock to pass as ``clock=``: starts at ``start`` and moves only when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Seeded:
    client_id: str
    client_secret: str | None
    username: str
    password: str


async def seed(
    storage: Storage,
    settings: Settings,
    *,
    grant_types: frozenset[str] = frozenset({"password", "refresh_token"}),
    scope: frozenset[str] = frozenset({"read", "write"}),
    public: bool = False,
    introspection: bool = False,
    username: str | None = None,
    password: str = "correct horse battery staple",  # noqa: S107 - a test fixture value
    client_id: str | None = None,
) -> Seeded:
    """Create one client and (unless it exists) one user in ``storage``; return their credentials."""
    await storage.migrate()
    secret_key = settings.secret_key or await storage.secret_key(generate=True)
    assert secret_key is not None
    keys = Keys(secret_key)
    client_id = client_id or new_client_id()
    secret = None if public else new_token(CLIENT_SECRET_PREFIX)
    now = int(time.time())
    await storage.create_client(
        Client(
            client_id,
            "test client",
            None if secret is None else keys.hash_token(secret),
            grant_types,
            scope,
            introspection,
            now,
        )
    )
    username = username or f"user-{client_id[:8]}"
    if await storage.get_user(username) is None:
        await storage.create_user(User(username, passwords_for(settings).hash(password), False, now))
    return Seeded(client_id, secret, username, password)


def seed_sync(settings: Settings, **kwargs: Any) -> Seeded:
    """:func:`seed` from synchronous code, on its own connection."""

    async def go() -> Seeded:
        storage = open_storage(settings.database_url)
        try:
            return await seed(storage, settings, **kwargs)
        finally:
            await storage.close()

    return asyncio.run(go())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


@dataclass
class ServerProcess:
    """``tokenturn serve`` in a child process on a free loopback port (a context manager)."""

    env: Mapping[str, str] = field(default_factory=dict)
    workers: int = 1
    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    startup_timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def settings(self) -> Settings:
        return load_settings(self.full_env)

    @property
    def full_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")}
        env.update(FAST_ARGON2)
        env.update(self.env)
        return env

    def start(self) -> ServerProcess:
        self.port = self.port or free_port()
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(open(self.log_path, "ab")) if self.log_path else subprocess.DEVNULL
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [
                    sys.executable,
                    "-m",
                    "tokenturn",
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=self.full_env,
                stdout=out,
                stderr=out,
                # Its own process group, so stop()/kill() reach every worker, even after a SIGKILL.
                start_new_session=True,
            )
        try:
            wait_until_up(self.url, timeout=self.startup_timeout, proc=self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, sig: int | None = None) -> None:
        """Stop the server: SIGTERM to its supervisor (graceful), or ``sig`` to the whole process
        group (e.g. ``signal.SIGKILL`` to crash every worker at once); no worker is left behind."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # workers orphaned by a killed supervisor
            os.killpg(self.proc.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the supervisor and every worker at once: a crash, for crash-safety tests."""
        self.stop(signal.SIGKILL)

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the supervisor's children, or itself with one worker."""
        assert self.proc is not None
        children: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{self.proc.pid}/task"):
                with open(f"/proc/{self.proc.pid}/task/{task}/children") as fh:
                    children += [int(c) for c in fh.read().split()]
        return [pid for pid in children if "resource_tracker" not in _cmdline(pid)] or [self.proc.pid]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run an ASGI app with uvicorn in a background thread of this process; yield its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
