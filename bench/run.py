"""``make bench``: tokenturn against the django-oauth-toolkit peer, same load, same run, one table.

Embedded mode (default), bounded and loopback-only:

1. ``tokenturn serve --workers 2`` on a fresh SQLite file (127.0.0.1, free port, its own
   ``TOKENTURN_SECRET_KEY``), seeded through the CLI with one confidential client (password,
   refresh_token, client_credentials) and one user hashed with the *default* argon2id parameters;
2. the peers' ``load/run_load.py`` (wrk, c=8, HTTP Basic client auth, 20 warm-up responses,
   server CPU measured over the serve process tree) for ``refresh`` (each request spends a distinct
   refresh token from a pool minted by ``mint_pool.py``), ``client_credentials`` and ``password``;
3. introspection and ``GET /v1/me/`` with ``read_load.lua``, when the server has those endpoints;
4. the DOT peer via the peers' ``run_peer.sh`` with the same concurrency, duration and runs;
5. one markdown table (medians of the runs) printed and saved under ``bench/results/<ts>/``.

``--postgres`` runs the several-node mode instead (see ``scale.py``). ``--profile`` adds one
refresh run under py-spy and prints where the workers' time goes (not part of the table).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True  # do not leave __pycache__ in the shared peer harness
import harness  # noqa: E402
import pyspy as spy  # noqa: E402
from harness import Load, Seeded, Server, log  # noqa: E402

BARS = {"refresh": 2000, "refresh_goal": 5000, "refresh_vs_dot": 10, "introspect": 5000, "me": 5000}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description="tokenturn vs django-oauth-toolkit, same run.")
    ap.add_argument("--quick", action="store_true", help="5 s runs, 1 run each (a smoke test, not a figure)")
    ap.add_argument("--duration", type=int, help="seconds per timed run (default 20; --quick 5)")
    ap.add_argument("--runs", type=int, help="timed runs per scenario, median reported (default 3; --quick 1)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warmup-count", type=int, default=20)
    ap.add_argument("--rate-guess", type=int, default=6000, help="refresh/s used to size the first pool")
    ap.add_argument("--only", default="refresh,client_credentials,password,introspect,me",
                    help="tokenturn scenarios to run (comma-separated)")  # fmt: skip
    ap.add_argument("--no-dot", action="store_true", help="skip the DOT peer (no ratios then)")
    ap.add_argument("--dot-hashed", action="store_true", help="also DOT refresh/hashed (its default; slow)")
    ap.add_argument("--profile", action="store_true", help="one extra refresh run under py-spy")
    ap.add_argument("--postgres", action="store_true", help="several-node PostgreSQL mode (scale.py)")
    ap.add_argument("--index-health", action="store_true", help="refresh/s with 1M vs 10k tokens stored")
    ap.add_argument("--index-sizes", default="10000,1000000", help="small,large grant counts stored beforehand")
    ap.add_argument("--results", type=Path, help="output folder (default bench/results/<timestamp>)")
    a = ap.parse_args(argv)
    a.duration = a.duration or (5 if a.quick else 20)
    a.runs = a.runs or (1 if a.quick else 3)
    if not (1 <= a.runs <= 20 and 1 <= a.duration <= 600 and 1 <= a.concurrency <= 1024):
        ap.error("--runs 1..20, --duration 1..600, --concurrency 1..1024")
    return a


def pool_size(rate: float, load: Load) -> int:
    """Tokens for one refresh run: 1.5 x the expected rate x duration, plus warm-up (peer README rule)."""
    return int(rate * load.duration * 1.5) + load.warmup_count + load.concurrency + 100


def refresh_runs(
    env: dict[str, str], seeded: Seeded, server: Server, load: Load, runs: int, rate: float, label: str,
    out: Path, tmp: Path, profile_raw: Path | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """``runs`` timed refresh runs, each on a freshly minted pool sized from the last measured rate."""
    rows: list[dict[str, Any]] = []
    for i in range(runs):
        pool = tmp / f"pool-{label.replace('/', '-')}-{i}.txt"
        log(f"  mint {pool_size(rate, load)} refresh tokens: " + harness.mint(env, seeded, pool_size(rate, load), pool))
        spy_proc = spy.record(server.pid, load.duration + 4, profile_raw) if profile_raw else None
        row = harness.token_run(server.url, "refresh", seeded, load, label, out, [server.pid], pool)
        if spy_proc is not None:
            _, err = spy_proc.communicate(timeout=120)
            if spy_proc.returncode:
                log(f"  py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
        pool.unlink(missing_ok=True)
        rows.append(row)
        # the best rate so far: a run slowed by a noisy neighbour must not starve the next one's pool
        rate = max(max(r["ok_per_s"] for r in rows), 200.0)
    return rows


def tokenturn_sqlite(a: argparse.Namespace, load: Load, results: Path) -> dict[str, list[dict[str, Any]]]:
    tmp = results / "tmp"
    tmp.mkdir()
    db = tmp / "tokenturn.db"
    env = harness.tokenturn_env(f"sqlite:///{db}", harness.new_secret_key())
    seeded = harness.seed(env)
    out = results / "runs-tokenturn.jsonl"
    only = {s.strip() for s in a.only.split(",")}
    rows: dict[str, list[dict[str, Any]]] = {}
    with harness.serving(env, a.workers, results / "server-tokenturn.log") as server:
        log(f"tokenturn serve --workers {a.workers} on {server.url} (pid {server.pid}, SQLite {db})")
        if "refresh" in only:
            rows["refresh"] = refresh_runs(
                env, seeded, server, load, a.runs, a.rate_guess, "tokenturn/refresh", out, tmp
            )
        for mode in ("client_credentials", "password"):
            if mode in only:
                rows[mode] = [
                    harness.token_run(server.url, mode, seeded, load, f"tokenturn/{mode}", out, [server.pid])
                    for _ in range(a.runs)
                ]
        rows.update(read_scenarios(env, seeded, server, load, a.runs, only, out, tmp))
        if a.profile:
            raw = results / "profile-refresh.raw"
            rate = harness.median_of(rows.get("refresh", []), "ok_per_s") or a.rate_guess
            log("profile: one refresh run under py-spy (not in the table)")
            try:
                refresh_runs(env, seeded, server, load, 1, rate, "tokenturn/refresh-under-py-spy",
                             results / "runs-profile.jsonl", tmp, raw)  # fmt: skip
                summary = spy.summarize(raw)
                (results / "profile-refresh.md").write_text(summary)
                log(summary)
            except FileNotFoundError as exc:
                log(f"profile skipped: {exc}")
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return rows


def read_scenarios(
    env: dict[str, str], seeded: Seeded, server: Server, load: Load, runs: int, only: set[str], out: Path, tmp: Path
) -> dict[str, list[dict[str, Any]]]:
    """Introspection and /v1/me/ (issue 3), each skipped with a message if the server lacks it."""
    wanted = [m for m in ("introspect", "me") if m in only]
    if not wanted:
        return {}
    access = tmp / "access.txt"
    harness.mint(env, seeded, 1000, None, access)
    token = access.read_text().split()[0]
    probes = {
        "introspect": harness.http_status_body(
            server.url + "/auth/introspect/", f"token={token}".encode(),
            {"Authorization": seeded.basic, "Content-Type": "application/x-www-form-urlencoded"},
        ),
        "me": harness.http_status_body(server.url + "/v1/me/", None, {"Authorization": f"Bearer {token}"}),
    }  # fmt: skip
    rows: dict[str, list[dict[str, Any]]] = {}
    for mode in wanted:
        status, body = probes[mode]
        path = "/auth/introspect/" if mode == "introspect" else "/v1/me/"
        if status != 200:
            log(f"SKIP {mode}: {path} answered {status} to a valid request (endpoint not built yet?)")
            continue
        log(f"{path} probe: {status} {body[:160]}")
        rows[mode] = [
            harness.read_run(server.url, mode, access, load, f"tokenturn/{mode}", out, [server.pid], seeded.basic)
            for _ in range(runs)
        ]
    return rows


def dot_peer(a: argparse.Namespace, results: Path) -> dict[str, list[dict[str, Any]]]:
    """The peers' run_peer.sh, unchanged, with this run's knobs; results under results/dot/."""
    scenarios = "refresh/plain password/plain client_credentials/plain" + (" refresh/hashed" if a.dot_hashed else "")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.update(
        SCENARIOS=scenarios, RUNS=str(a.runs), DURATION=str(a.duration), CONCURRENCY=str(a.concurrency),
        WORKERS=str(a.workers), WARMUP_COUNT=str(a.warmup_count), CLIENT_AUTH="basic",
        PORT=str(harness.free_port()), RESULTS_DIR=str(results / "dot"),
        POOL_PLAIN=str(max(10_000, 500 * a.duration)),
    )  # fmt: skip
    log(f"DOT peer: SCENARIOS={scenarios!r} RUNS={a.runs} DURATION={a.duration} CONCURRENCY={a.concurrency}")
    done = subprocess.run(["bash", str(harness.PEERS / "run_peer.sh")], env=env)
    if done.returncode:
        log(f"DOT peer failed (exit {done.returncode}); its figures are missing from the table")
    rows: dict[str, list[dict[str, Any]]] = {}
    for r in harness.read_jsonl(results / "dot" / "runs.jsonl"):
        rows.setdefault(r["label"], []).append(r)
    return rows


def fmt(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def table(tt: dict[str, list[dict[str, Any]]], dot: dict[str, list[dict[str, Any]]]) -> tuple[str, list[str]]:
    m = harness.median_of
    lines = [
        "| scenario | tokenturn ok/s | p50 ms | p99 ms | server CPU ms/ok | DOT ok/s | DOT p50 ms | DOT p99 ms "
        "| DOT server CPU ms/ok | ratio | other load, cores (tt / DOT) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    pairs = [
        ("refresh (DOT plain secret)", "refresh", "refresh/plain"),
        ("refresh (DOT hashed secret, its default)", "refresh", "refresh/hashed"),
        ("client_credentials (DOT plain secret)", "client_credentials", "client_credentials/plain"),
        ("password (argon2id vs DOT PBKDF2, plain secret)", "password", "password/plain"),
        ("introspection `POST /auth/introspect/`", "introspect", None),
        ("`GET /v1/me/` (Bearer)", "me", None),
    ]
    ratios: dict[str, float | None] = {}
    for title, mine, theirs in pairs:
        t, d = tt.get(mine), dot.get(theirs) if theirs else None
        if not t or (theirs == "refresh/hashed" and not d):
            continue
        t_ok, d_ok = m(t, "ok_per_s"), m(d, "ok_per_s") if d else None
        ratio = t_ok / d_ok if t_ok and d_ok else None
        ratios[theirs or mine] = ratio
        errors = {k: v for k, v in harness.errors_of(t).items()}
        errors.update({f"dot:{k}": v for k, v in harness.errors_of(d or []).items()})
        exhausted = sum(1 for r in t if r.get("pool_exhausted"))
        lines.append(
            f"| {title} | {fmt(t_ok)} | {fmt(m(t, 'p50_ms'))} | {fmt(m(t, 'p99_ms'))} | "
            f"{fmt(m(t, 'server_cpu_ms_per_ok'), 3)} | {fmt(d_ok)} | {fmt(m(d, 'p50_ms')) if d else '-'} | "
            f"{fmt(m(d, 'p99_ms')) if d else '-'} | {fmt(m(d, 'server_cpu_ms_per_ok'), 2) if d else '-'} | "
            f"{fmt(ratio, 1) + 'x' if ratio else '-'} | {noise(t)} / {noise(d) if d else '-'} | {errors or 0}"
            f"{f' POOL-EXHAUSTED x{exhausted}' if exhausted else ''} |"
        )
    bars = []
    refresh = m(tt["refresh"], "ok_per_s") if tt.get("refresh") else None
    if refresh is not None:
        bars.append(f"refresh {fmt(refresh, 0)}/s vs bar {BARS['refresh']:,}/s: {verdict(refresh >= BARS['refresh'])}"
                    f" (goal {BARS['refresh_goal']:,}/s: {verdict(refresh >= BARS['refresh_goal'])})")  # fmt: skip
        r = ratios.get("refresh/plain")
        verdict_dot = (
            f"{r:.1f}x vs bar {BARS['refresh_vs_dot']}x: {verdict(r >= BARS['refresh_vs_dot'])}" if r else None
        )
        bars.append(f"refresh vs DOT plain-secret refresh, same run: {verdict_dot or 'no DOT figure'}")
    for mode, name in (("introspect", "introspection"), ("me", "/v1/me/")):
        v = m(tt[mode], "ok_per_s") if tt.get(mode) else None
        bars.append(f"{name}: " + (f"{fmt(v, 0)}/s vs bar {BARS[mode]:,}/s: {verdict(v >= BARS[mode])}"
                                    if v is not None else "not measured (endpoint missing)"))  # fmt: skip
    return "\n".join(lines) + "\n", bars


def noise(rows: list[dict[str, Any]]) -> str:
    vals = [v for v in (harness.other_cores(r) for r in rows) if v is not None]
    return fmt(max(vals), 2) if vals else "-"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def environment(a: argparse.Namespace) -> str:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[:1]
    git = subprocess.run(
        ["git", "-C", str(harness.REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "?")
    return "\n".join([
        f"date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}", f"cpu: {cpu} x {os.cpu_count()}",
        f"load average before: {os.getloadavg()}", f"python: {platform.python_version()}",
        f"sqlite: {sqlite3.sqlite_version}", f"wrk: {' '.join(wrk)}", f"tokenturn commit: {git.stdout.strip()}",
        f"command: {shlex.join(sys.argv)}", f"knobs: {vars(a)}",
    ]) + "\n"  # fmt: skip


def main() -> None:
    a = parse_args()
    if not harness.RUN_LOAD.exists():
        sys.exit(f"bench: peer harness not found at {harness.PEERS} (set TOKENTURN_PEERS_DIR)")
    harness.ensure_wrk()
    results = a.results or harness.BENCH / "results" / time.strftime("%Y%m%d-%H%M%S")
    results.mkdir(parents=True, exist_ok=False)
    (results / "env.txt").write_text(environment(a))
    load = Load(a.concurrency, a.duration, a.warmup_count)
    log(f"results: {results}")
    if a.postgres or a.index_health:
        import scale

        report = scale.main(a, load, results)
    else:
        tt = tokenturn_sqlite(a, load, results)
        dot = {} if a.no_dot else dot_peer(a, results)
        body, bars = table(tt, dot)
        report = (
            f"## tokenturn vs django-oauth-toolkit — SQLite, {a.workers} workers, c={a.concurrency}, "
            f"{a.duration} s x {a.runs} run(s), medians\n\n{body}\n" + "\n".join(f"- {b}" for b in bars) + "\n"
        )
    report += f"\nCommand: `{shlex.join(['python', *sys.argv])}`; raw results: {results}\n"
    (results / "table.md").write_text(report)
    log("\n" + report)


if __name__ == "__main__":
    main()
