"""Scale figures (issue 4): several nodes on PostgreSQL, and refresh speed against table size.

``--postgres``: a fresh database ``tt_bench_<ts>`` (``createdb``, dropped at the end) on the
local PostgreSQL, two ``tokenturn serve --workers 2`` nodes over it, and refresh grants at c=16:
two runs of the peers' ``run_load.py`` at once, c=8 against each node, each with its own half of
the pool (no load balancer in the way: it would take CPU from the same two cores). The table sums
the two nodes' ok/s; latency percentiles are the worse node's; server CPU is both nodes' processes.

``--index-health`` (also part of ``--postgres``): refresh/s on one node (2 workers, c=8) with
10,000 grants stored beforehand vs 1,000,000, on SQLite and (with ``--postgres``) PostgreSQL.
The background grants are minted like the pool (``mint_pool.py``: family + refresh + access rows,
as a password grant writes them); the ratio 1M/10k shows whether lookups and the conditional
write stay index-bound as the tables grow.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import harness
from harness import Load, Seeded, Server, log

PG_HOST, PG_PORT = "127.0.0.1", 5432
BARS = {"pg_refresh": 1500, "index_ratio": 0.8}


def pg(sql: str, db: str = "test") -> str:
    done = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", str(PG_PORT), "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"psql failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


class PgDatabase:
    """A fresh database created for this run and dropped afterwards (only the one created here)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"postgresql://{PG_HOST}:{PG_PORT}/{name}"

    def __enter__(self) -> PgDatabase:
        subprocess.run(["createdb", "-h", PG_HOST, "-p", str(PG_PORT), self.name], check=True)
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["dropdb", "-h", PG_HOST, "-p", str(PG_PORT), "--if-exists", "--force", self.name], check=False)


def migrate(env: dict[str, str]) -> None:
    subprocess.run([harness.TOKENTURN, "migrate"], env=env, check=True, capture_output=True)


def store_background(env: dict[str, str], seeded: Seeded, count: int) -> None:
    """Fill the store with ``count`` grants before the server starts: one family, one refresh token and
    one access token each, the rows a password grant writes, with random 32-byte hashes and random family
    ids (so the indexes see the key distribution real tokens give them). Written in bulk SQL because a
    million grants through ``save_issue`` take minutes on SQLite and over ten on PostgreSQL; the timed
    pool still goes through the real code path (``mint_pool.py``)."""
    url = env["TOKENTURN_DATABASE_URL"]
    now = int(time.time())
    life = {"access": 3600, "refresh": 2_592_000, "family": 7_776_000}  # contract §5 defaults
    t0 = time.monotonic()
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        with contextlib.closing(conn):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TEMP TABLE bg AS WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq "
                "WHERE i < ?) SELECT lower(hex(randomblob(16))) AS fid, randomblob(32) AS rt, randomblob(32) AS at "
                "FROM seq",
                (count,),
            )
            _bulk_insert(conn.execute, "?", seeded, now, life)
            conn.execute("COMMIT")
    else:
        random_rows = (
            "CREATE TEMP TABLE bg AS SELECT replace(gen_random_uuid()::text, '-', '') AS fid, "
            "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) AS rt, "
            "uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()) AS at FROM generate_series(1, %s)"
        )
        statements = ["BEGIN", _inline(random_rows, (int(count),))]
        _bulk_insert(lambda sql, params: statements.append(_inline(sql, params)), "%s", seeded, now, life)
        statements.append("COMMIT")
        pg(";\n".join(statements) + ";", url.rsplit("/", 1)[1])
        pg("ANALYZE", url.rsplit("/", 1)[1])
    log(f"  stored {count:,} background grants in {time.monotonic() - t0:.0f}s (bulk SQL)")


def _bulk_insert(execute: Any, mark: str, seeded: Seeded, now: int, life: dict[str, int]) -> None:
    """The three INSERT … SELECT FROM bg statements; ``mark`` is the driver's placeholder."""
    p = ", ".join([mark] * 5)
    fam = "families (family_id, client_id, username, scope, created_at, expires_at)"
    ref = "refresh_tokens (token_hash, family_id, issued_at, expires_at)"
    acc = "access_tokens (token_hash, client_id, username, scope, issued_at, expires_at, family_id)"
    user = (seeded.client_id, seeded.username, "read write", now)
    execute(f"INSERT INTO {fam} SELECT fid, {p} FROM bg", (*user, now + life["family"]))  # noqa: S608
    execute(f"INSERT INTO {ref} SELECT rt, fid, {mark}, {mark} FROM bg", (now, now + life["refresh"]))  # noqa: S608
    execute(f"INSERT INTO {acc} SELECT at, {p}, fid FROM bg", (*user, now + life["access"]))  # noqa: S608


def _inline(sql: str, params: tuple[Any, ...]) -> str:
    """psql takes no bind parameters: inline ours (ids we generated and integers) as SQL literals."""
    for value in params:
        literal = str(int(value)) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
        sql = sql.replace("%s", literal, 1)
    return sql


def stored_refresh_tokens(env: dict[str, str]) -> int | None:
    url = env["TOKENTURN_DATABASE_URL"]
    try:
        if url.startswith("sqlite:///"):
            import sqlite3

            with sqlite3.connect(f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True) as conn:
                return int(conn.execute("SELECT count(*) FROM refresh_tokens").fetchone()[0])
        return int(pg("SELECT count(*) FROM refresh_tokens", url.rsplit("/", 1)[1]))
    except Exception as exc:  # a count is informative only
        log(f"  (could not count stored tokens: {type(exc).__name__})")
        return None


def merged(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + int(v)
    return total


def two_node_refresh(
    env: dict[str, str], seeded: Seeded, nodes: list[Server], load: Load, runs: int, rate: float, out: Path, tmp: Path
) -> list[dict[str, Any]]:
    """Each run: one pool per node, both run_load.py at once (c = load.concurrency per node)."""
    combined = []
    for i in range(runs):
        pools = []
        for k, _node in enumerate(nodes):
            pool = tmp / f"pool-pg-node{k}-{i}.txt"
            n = int(rate / len(nodes) * load.duration * 1.5) + load.warmup_count + load.concurrency + 100
            log(f"  node {k}: mint {n} refresh tokens: " + harness.mint(env, seeded, n, pool))
            pools.append(pool)
        results: list[dict[str, Any]] = [{} for _ in nodes]

        def go(k: int, node: Server, pool: Path, results: list[dict[str, Any]]) -> None:
            # one JSONL per node: two run_load.py processes append at the same moment
            node_out = out.with_name(f"{out.stem}-node{k}.jsonl")
            label = f"tokenturn-pg/refresh/node{k}"
            results[k] = harness.token_run(node.url, "refresh", seeded, load, label, node_out, [node.pid], pool)

        threads = [threading.Thread(target=go, args=(k, node, pools[k], results)) for k, node in enumerate(nodes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in pools:
            p.unlink(missing_ok=True)
        if not all(results):
            sys.exit("bench: a node's run gave no result")
        ok = sum(r["ok"] for r in results)
        cpu = sum(r.get("server_cpu_s") or 0 for r in results)
        row = {
            "label": "tokenturn-pg/refresh/2-nodes",
            "ok": ok,
            "ok_per_s": sum(r["ok_per_s"] for r in results),
            "p50_ms": max(r["p50_ms"] for r in results),
            "p99_ms": max(r["p99_ms"] for r in results),
            "server_cpu_ms_per_ok": round(1000 * cpu / ok, 3) if ok else None,
            "status": merged(r["status"] for r in results),
            "socket_errors": merged(r["socket_errors"] for r in results),
            "pool_exhausted": sum(r.get("pool_exhausted", 0) for r in results),
            "concurrency": load.concurrency * len(nodes),
        }
        log(f"  2 nodes together: ok/s={row['ok_per_s']:.1f} server_cpu/ok={row['server_cpu_ms_per_ok']}ms")
        combined.append(row)
        rate = max(max(r["ok_per_s"] for r in combined), 200.0)
    return combined


def index_health(
    a: argparse.Namespace, load: Load, results: Path, backend: str, ts: str
) -> dict[str, tuple[list[dict[str, Any]], int | None]]:
    """refresh/s with 10k vs 1M grants stored beforehand, one node, fresh store each."""
    out: dict[str, tuple[list[dict[str, Any]], int | None]] = {}
    for count in sizes(a):
        size = short(count)
        tmp = results / f"tmp-{backend}-{size}"
        tmp.mkdir()
        key = harness.new_secret_key()
        if backend == "sqlite":
            db_path = tmp / "tokenturn.db"
            env = harness.tokenturn_env(f"sqlite:///{db_path}", key)
            out[size] = _index_case(a, load, results, env, backend, size, count, tmp)
            for suffix in ("", "-wal", "-shm", ".lock"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        else:
            with PgDatabase(f"tt_bench_{ts}_{size.lower()}") as db:
                env = harness.tokenturn_env(db.url, key)
                migrate(env)
                out[size] = _index_case(a, load, results, env, backend, size, count, tmp)
    return out


def _index_case(
    a: argparse.Namespace, load: Load, results: Path, env: dict[str, str], backend: str, size: str, count: int,
    tmp: Path,
) -> tuple[list[dict[str, Any]], int | None]:  # fmt: skip
    from run import refresh_runs  # run.py is the entry point; imported late to avoid a cycle

    seeded = harness.seed(env)
    log(f"index health, {backend}, {size} stored:")
    store_background(env, seeded, count)
    stored = stored_refresh_tokens(env)
    with harness.serving(env, a.workers, results / f"server-{backend}-{size}.log") as server:
        rate = a.rate_guess if backend == "sqlite" else a.rate_guess / 2
        rows = refresh_runs(env, seeded, server, load, a.runs, rate, f"{backend}/refresh/{size}-stored",
                            results / "runs-index-health.jsonl", tmp)  # fmt: skip
    return rows, stored


def sizes(a: argparse.Namespace) -> list[int]:
    small, large = (int(x) for x in a.index_sizes.split(","))
    return [small, large]


def short(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def fmt(v: float | None, nd: int = 1) -> str:
    return "-" if v is None else f"{v:,.{nd}f}"


def main(a: argparse.Namespace, load: Load, results: Path) -> str:
    ts = results.name.replace("-", "_")
    m = harness.median_of
    report = [f"## tokenturn scale figures — {load.duration} s x {a.runs} run(s), medians\n"]
    if a.postgres:
        tmp = results / "tmp-pg"
        tmp.mkdir()
        with PgDatabase(f"tt_bench_{ts}") as db:
            env = harness.tokenturn_env(db.url, harness.new_secret_key())
            migrate(env)
            seeded = harness.seed(env)
            nodes = [Server(env, a.workers, results / f"server-pg-node{k}.log").start() for k in range(2)]
            try:
                log(f"PostgreSQL {db.name}: 2 nodes x {a.workers} workers on {[n.url for n in nodes]}")
                rows = two_node_refresh(env, seeded, nodes, load, a.runs, a.rate_guess / 2, results / "runs-pg.jsonl",
                                        tmp)  # fmt: skip
            finally:
                for node in nodes:
                    node.stop()
        ok = m(rows, "ok_per_s")
        report += [
            "| scenario | ok/s | ok/s per run | p50 ms (worse node) | p99 ms (worse node) | server CPU ms/ok "
            "| errors |",
            "|---|---|---|---|---|---|---|",
            f"| refresh, PostgreSQL, 2 nodes x {a.workers} workers, c={2 * load.concurrency} | {fmt(ok)} | "
            f"{', '.join(fmt(r['ok_per_s']) for r in rows)} | {fmt(m(rows, 'p50_ms'))} | {fmt(m(rows, 'p99_ms'))} | "
            f"{fmt(m(rows, 'server_cpu_ms_per_ok'), 3)} | {harness.errors_of(rows) or 0}"
            f"{' POOL-EXHAUSTED' if any(r['pool_exhausted'] for r in rows) else ''} |",
            "",
            f"- PostgreSQL refresh {fmt(ok, 0)}/s vs bar {BARS['pg_refresh']:,}/s: "
            f"{'MET' if ok and ok >= BARS['pg_refresh'] else 'NOT MET'}",
            "",
        ]
    if a.postgres or a.index_health:
        small_n, large_n = (short(n) for n in sizes(a))
        report += [
            f"| backend | {small_n} stored: ok/s | refresh tokens stored | {large_n} stored: ok/s | "
            f"refresh tokens stored | ratio {large_n}/{small_n} (bar {BARS['index_ratio']}) |",
            "|---|---|---|---|---|---|",
        ]
        for backend in ["sqlite", "postgresql"] if a.postgres else ["sqlite"]:
            res = index_health(a, load, results, backend, ts)
            (small, n_small), (big, n_big) = res[small_n], res[large_n]
            s_ok, b_ok = m(small, "ok_per_s"), m(big, "ok_per_s")
            ratio = b_ok / s_ok if s_ok and b_ok else None
            verdict = "-" if ratio is None else ("MET" if ratio >= BARS["index_ratio"] else "NOT MET")
            report.append(
                f"| {backend} (1 node x {a.workers} workers, c={load.concurrency}) | {fmt(s_ok)} | "
                f"{n_small if n_small is not None else '-'} | {fmt(b_ok)} | {n_big if n_big is not None else '-'} | "
                f"{fmt(ratio, 2)} {verdict} |"
            )
        report.append(
            "\n(stored = refresh tokens in the table after the background grants, before the first run's pool;"
            " each run's pool adds about 1.5 x rate x duration more)"
        )
    return "\n".join(report) + "\n"
