"""Two real ``tokenturn serve`` nodes over one PostgreSQL database (and one Redis), behind nginx."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import new_redis_url, new_schema_url, skip_backend
from tests.conftest import SECRET_KEY
from tokenturn.testing import Seeded, ServerProcess, free_port, seed_sync, wait_until_up

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "tokenturn.conf"
GRACE = 3  # seconds; short so that the after-the-grace-window replay test stays quick


def node_env(database_url: str, redis_url: str = "", **extra: str) -> dict[str, str]:
    env = {
        "TOKENTURN_DATABASE_URL": database_url,
        "TOKENTURN_SECRET_KEY": SECRET_KEY,
        "TOKENTURN_REFRESH_GRACE_SECONDS": str(GRACE),
        "TOKENTURN_RATE_LIMIT_CLIENT": "5/min",
        "TOKENTURN_RATE_LIMIT_ADDRESS": "10000/min",
        "TOKENTURN_TRUSTED_PROXIES": "127.0.0.1",
        "TOKENTURN_LOG_LEVEL": "WARNING",
        **extra,
    }
    if redis_url:
        env["TOKENTURN_REDIS_URL"] = redis_url
    return env


@dataclass
class Cluster:
    database_url: str
    redis_url: str
    nodes: list[ServerProcess]
    seeded: Seeded

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]


@pytest.fixture(scope="module")
def cluster(pg_database: str, redis_available: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Nodes A and B (one worker each) on one fresh schema, sharing Redis when it is reachable."""
    database_url = new_schema_url(pg_database, application_name="tt-cluster")
    redis_url = new_redis_url(redis_available) if redis_available else ""
    logs = tmp_path_factory.mktemp("cluster")
    env = node_env(database_url, redis_url)
    nodes = [ServerProcess(env=env, log_path=logs / f"node-{name}.log") for name in "ab"]
    try:
        for node in nodes:
            node.start()
        seeded = seed_sync(nodes[0].settings)
        yield Cluster(database_url, redis_url, nodes, seeded)
    finally:
        for node in nodes:
            node.stop()


def token_form(seeded: Seeded, **params: str) -> dict[str, str]:
    assert seeded.client_secret is not None
    return {"client_id": seeded.client_id, "client_secret": seeded.client_secret, **params}


def password_grant(url: str, seeded: Seeded) -> dict[str, Any]:
    r = httpx.post(
        url + "/auth/token/",
        data=token_form(seeded, grant_type="password", username=seeded.username, password=seeded.password),
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_unavailable(r: httpx.Response) -> None:
    """The contract's storage-down answer: 503 temporarily_unavailable with Retry-After, JSON, no trace."""
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json()["error"] == "temporarily_unavailable"
    assert int(r.headers["retry-after"]) >= 1
    assert "Traceback" not in r.text


@dataclass
class Nginx:
    url: str
    proc: subprocess.Popen[bytes]
    prefix: Path


def render_nginx_conf(upstreams: list[str], listen_port: int, prefix: Path) -> Path:
    """deploy/nginx/tokenturn.conf with its example addresses replaced, wrapped in a loopback main config."""
    text = NGINX_CONF.read_text()
    examples = ["127.0.0.1:8001", "127.0.0.1:8002"]
    assert all(e in text for e in examples), "the example upstream lines of deploy/nginx changed"
    head, _, tail = text.partition(examples[1])
    line_start = head.rfind("\n") + 1
    line_end = len(head) + len(examples[1]) + tail.index("\n")
    template = text[line_start:line_end]
    extra = "\n".join(template.replace(examples[1], u) for u in upstreams[1:])
    text = text[:line_start] + extra + text[line_end:]
    text = text.replace(examples[0], upstreams[0]).replace("127.0.0.1:8080", f"127.0.0.1:{listen_port}")
    (prefix / "tokenturn.conf").write_text(text)
    main = prefix / "nginx.conf"
    # As root, nginx's workers would drop to "nobody", who cannot write the 0700 tmp directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        f"""{user}worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    include {prefix}/tokenturn.conf;
}}
"""
    )
    return main


@pytest.fixture(scope="module")
def nginx(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if binary is None:
        skip_backend("nginx", "not installed, deploy/nginx is NOT exercised (apt-get install -y nginx-light)")
    prefix = tmp_path_factory.mktemp("nginx")
    port = free_port()
    conf = render_nginx_conf([u.removeprefix("http://") for u in cluster.urls], port, prefix)
    subprocess.run([binary, "-t", "-q", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)],
                   check=True)  # fmt: skip
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf), "-g", "daemon off;"]
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", proc=proc)  # type: ignore[arg-type]
        yield Nginx(f"http://127.0.0.1:{port}", proc, prefix)
    finally:
        proc.terminate()
        proc.wait(10)


def metric_total(url: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """Sum of a Prometheus sample family on one node, optionally filtered by labels."""
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] != name:
            continue
        if labels and not all(f'{k}="{v}"' in series for k, v in labels.items()):
            continue
        total += float(value)
    return total
