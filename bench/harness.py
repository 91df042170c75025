"""Pieces the benchmark modes share: the peer harness's location, a ``tokenturn serve`` on loopback,
seeding through the CLI, minting pools, and running the load (the peers' ``load/run_load.py`` for
the token endpoint, ``read_load.lua`` for introspection and ``/v1/me/``).

Everything stays on 127.0.0.1; every process started here is stopped here, by its PID.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
BIN = Path(sys.executable).parent
TOKENTURN = str(BIN / "tokenturn")
# The shared peer harness, used in place (read-only): ../shared/peers from the repository.
PEERS = Path(os.environ.get("TOKENTURN_PEERS_DIR") or REPO.parent / "shared" / "peers")
RUN_LOAD = PEERS / "load" / "run_load.py"
READ_LUA = BENCH / "read_load.lua"
USERNAME = "bench"
PASSWORD = "bench-password-1"  # same as the DOT peer's bench user

sys.path.insert(0, str(PEERS / "load"))
import run_load  # noqa: E402  (the peers' module: CPU accounting of a process tree)


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("bench: wrk is missing; install it with `sudo apt-get install -y wrk` and run again")
    log("bench: installing wrk (apt-get)")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)


def tokenturn_env(database_url: str, secret_key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")}
    env.update(TOKENTURN_DATABASE_URL=database_url, TOKENTURN_SECRET_KEY=secret_key)
    return env


def new_secret_key() -> str:
    return secrets.token_hex(32)


@dataclass
class Server:
    """``tokenturn serve --workers N`` on a free loopback port; stop() ends it and its workers by PID."""

    env: dict[str, str]
    workers: int = 2
    log_path: Path | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    children: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.port = self.port or free_port()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        cmd = [TOKENTURN, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"bench: tokenturn serve exited with {self.proc.returncode} (log: {self.log_path})")
            if http_status(self.url + "/healthz") == 200 and len(self.worker_pids()) >= self.workers:
                # every worker must be up, or the first seconds of a run measure one worker
                break
            time.sleep(0.1)
        else:
            self.stop()
            sys.exit(f"bench: tokenturn serve did not come up on {self.url}")
        self.children = self.worker_pids()
        return self

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the serve process that run Python)."""
        out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return [int(line.split()[0]) for line in out.stdout.splitlines() if "spawn_main" in line]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        kids = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            for pid in kids.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(5)


@contextlib.contextmanager
def serving(env: dict[str, str], workers: int, log_path: Path) -> Iterator[Server]:
    server = Server(env, workers, log_path).start()
    try:
        yield server
    finally:
        server.stop()


def http_status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    return http_status_body(url, data, headers)[0]


def http_status_body(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of one loopback request (0 and "" if nothing answered)."""
    req = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310 (loopback URL built here)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:  # noqa: S310
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except OSError:
        return 0, ""


@dataclass(frozen=True)
class Seeded:
    client_id: str
    client_secret: str
    username: str = USERNAME
    password: str = PASSWORD

    @property
    def basic(self) -> str:
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def seed(env: dict[str, str]) -> Seeded:
    """A confidential client for all three grants and a user with the default argon2id parameters."""
    out = subprocess.run(
        [TOKENTURN, "client", "create", "--name", "bench", "--json",
         "--grant-types", "password,refresh_token,client_credentials"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    client = json.loads(out.stdout)
    subprocess.run(
        [TOKENTURN, "user", "create", "--username", USERNAME, "--password-stdin"],
        env=env, input=PASSWORD + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Seeded(client["client_id"], client["client_secret"])


def mint(env: dict[str, str], seeded: Seeded, count: int, out: Path | None, access_out: Path | None = None) -> str:
    """Mint ``count`` grants with bench/mint_pool.py (tokenturn's own code path); return its summary line."""
    cmd = [sys.executable, str(BENCH / "mint_pool.py"), "--client-id", seeded.client_id,
           "--username", seeded.username, "--count", str(count)]  # fmt: skip
    if out is not None:
        cmd += ["--out", str(out)]
    if access_out is not None:
        cmd += ["--access-out", str(access_out)]
    url = env["TOKENTURN_DATABASE_URL"]
    if url.startswith("postgresql://"):
        # Setup only, untimed: no fsync wait per commit and more connections, so a million grants
        # take minutes, not a quarter of an hour. The rows are the same; the server keeps its defaults.
        env = dict(env, TOKENTURN_DATABASE_URL=url + "?synchronous_commit=off&pool_max=32")
        cmd += ["--concurrency", "32"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"bench: mint_pool failed: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


@dataclass(frozen=True)
class Load:
    """One timed run's knobs (the peer harness's names)."""

    concurrency: int
    duration: int
    warmup_count: int = 20


def token_run(
    base_url: str, mode: str, seeded: Seeded, load: Load, label: str, out: Path,
    server_pids: list[int], tokens_file: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One timed run of the peers' run_load.py against ``base_url``; returns its JSON result."""
    env = dict(os.environ)
    env.update(
        BASE_URL=base_url, TOKEN_PATH="/auth/token/", MODE=mode, CLIENT_AUTH="basic",
        CLIENT_ID=seeded.client_id, CLIENT_SECRET=seeded.client_secret,
        USERNAME=seeded.username, PASSWORD=seeded.password,
        CONCURRENCY=str(load.concurrency), DURATION=str(load.duration), COUNT="0",
        WARMUP_COUNT=str(load.warmup_count), SERVER_PIDS=" ".join(map(str, server_pids)),
        LABEL=label, OUT=str(out),
    )  # fmt: skip
    if tokens_file is not None:
        env["TOKENS_FILE"] = str(tokens_file)
    before = count_lines(out)
    subprocess.run([sys.executable, str(RUN_LOAD)], env=env, check=True)
    rows = read_jsonl(out)
    if len(rows) != before + 1:
        sys.exit(f"bench: run_load.py wrote no result for {label}")
    return rows[-1]


def read_run(
    base_url: str, mode: str, tokens_file: Path, load: Load, label: str, out: Path,
    server_pids: list[int], authorization: str = "",
) -> dict[str, Any]:  # fmt: skip
    """One timed wrk run of read_load.lua (introspection or /v1/me/), with server CPU per ok."""
    env = dict(os.environ, MODE=mode, TOKENS_FILE=str(tokens_file), AUTHORIZATION=authorization)

    def wrk(seconds: int) -> dict[str, Any]:
        cmd = ["wrk", "-t1", f"-c{load.concurrency}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(READ_LUA), base_url]  # fmt: skip
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
        line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
        if line is None:
            sys.exit(f"bench: wrk gave no result for {label}:\n{done.stdout}\n{done.stderr}")
        result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
        result["wrk_cmd"] = " ".join(cmd)
        return result

    wrk(2)  # warm-up, untimed
    run_load.wait_idle(server_pids)
    ticks0, sys0 = run_load.proc_tree_ticks(server_pids), run_load.system_ticks()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = wrk(load.duration)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ticks1, sys1 = run_load.proc_tree_ticks(server_pids), run_load.system_ticks()
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    cpu_s = (ticks1 - ticks0) / run_load.CLK_TCK
    total = sys1[0] - sys0[0]
    res.update(
        label=label, base_url=base_url, concurrency=load.concurrency, duration_req_s=load.duration,
        server_cpu_s=round(cpu_s, 2), server_cores_used=round(cpu_s / res["duration_s"], 2),
        wrk_cpu_pct=round(100 * wrk_cpu / res["duration_s"], 1),
        server_cpu_ms_per_ok=round(1000 * cpu_s / res["ok"], 3) if res["ok"] else None,
        machine_busy_pct=round(100.0 * (total - (sys1[1] - sys0[1])) / max(total, 1), 1),
        ts=time.strftime("%Y-%m-%dT%H:%M:%S"),
    )  # fmt: skip
    errors = {k: v for k, v in res["status"].items() if k != "200"}
    log(
        f"{label}: ok/s={res['ok_per_s']:.1f} ok={res['ok']} p50={res['p50_ms']:.1f}ms p99={res['p99_ms']:.1f}ms "
        f"errors={errors or 0} server_cpu/ok={res['server_cpu_ms_per_ok']}ms"
        + (f" first_error={res['first_error'][:120]!r}" if res.get("first_error") else "")
    )
    with open(out, "a") as fh:
        fh.write(json.dumps(res, sort_keys=True) + "\n")
    return res


def count_lines(path: Path) -> int:
    return len(read_jsonl(path))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def other_cores(row: dict[str, Any]) -> float | None:
    """CPU (in cores) that neither the server nor wrk used during a run: the noise of a shared machine."""
    if row.get("machine_busy_pct") is None or row.get("server_cores_used") is None:
        return None
    busy = row["machine_busy_pct"] / 100 * (os.cpu_count() or 1)
    return round(max(float(busy - row["server_cores_used"] - row.get("wrk_cpu_pct", 0) / 100), 0.0), 2)


def errors_of(rows: list[dict[str, Any]]) -> dict[str, int]:
    errors: dict[str, int] = {}
    for r in rows:
        for k, v in r["status"].items():
            if k != "200":
                errors[k] = errors.get(k, 0) + v
        for k, v in r["socket_errors"].items():
            if v:
                errors["sock_" + k] = errors.get("sock_" + k, 0) + v
    return errors
