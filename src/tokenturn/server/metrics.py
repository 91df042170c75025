"""Prometheus metrics (``GET /metrics``, Prometheus text exposition format) — cheap enough for the hot path.

What is counted: tokens issued by grant, refreshes (rotated or replayed inside the grace window),
refresh-token reuse detections (RFC 9700 §4.14.2), family revocations by reason, single
access-token revocations, failures by OAuth error code, and a request latency histogram per
endpoint.

Cost per request: one histogram observation (two in-process increments) plus at most one or two
counter increments. Label values come from fixed, small sets (route names, grant types, error
codes); anything else is folded into ``other``, so a client sending odd paths or odd error
codes cannot grow the series count. Labelled children are resolved once, at import, so the hot
path does a dict lookup instead of ``labels()``.

Several worker processes: prometheus-client's multiprocess mode. When ``PROMETHEUS_MULTIPROC_DIR``
is set (before this module is imported) every worker writes its values to memory-mapped files in
that directory, without any cross-process lock, and ``/metrics`` on any worker sums them all.
:func:`multiprocess_dir` creates a fresh directory for one server run; the ``serve`` command wraps
its uvicorn run in it. Without the variable each process counts on its own (one worker: exact).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client import values as _values

from tokenturn.core.http import Response
from tokenturn.core.models import GRANT_TYPES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Route labels (the app maps each path to one of these); anything else is ``other``.
ENDPOINTS = (
    "token",
    "revoke",
    "introspect",
    "me",
    "metadata",
    "openapi",
    "metrics",
    "healthz",
    "readyz",
    "other",
)
ERRORS = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_token_type",
    "invalid_scope",
    "invalid_token",
    "insufficient_scope",
    "too_many_requests",
    "temporarily_unavailable",
    "server_error",
    "not_found",
    "other",
)

REGISTRY = CollectorRegistry(auto_describe=True)

TOKENS_ISSUED = Counter(
    "tokenturn_tokens_issued", "Token responses with new tokens, by grant type.", ["grant"], registry=REGISTRY
)
REFRESHES = Counter(
    "tokenturn_refreshes",
    "Successful refreshes: rotated (new pair) or replayed (same pair, grace window).",
    ["result"],
    registry=REGISTRY,
)
REUSE_DETECTED = Counter(
    "tokenturn_refresh_reuse_detected", "Used refresh tokens presented again (RFC 9700 §4.14.2).", registry=REGISTRY
)
FAMILY_REVOCATIONS = Counter(
    "tokenturn_family_revocations",
    "Token families revoked, by reason (reuse detection or the revocation endpoint).",
    ["reason"],
    registry=REGISTRY,
)
ACCESS_REVOCATIONS = Counter(
    "tokenturn_access_token_revocations", "Single access tokens revoked at the revocation endpoint.", registry=REGISTRY
)
FAILURES = Counter("tokenturn_failures", "Error responses, by OAuth error code.", ["error"], registry=REGISTRY)
LATENCY = Histogram(
    "tokenturn_request_duration_seconds",
    "Time from the request's arrival to its response, by endpoint.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)

# Children resolved once: ``labels()`` takes a lock and builds a tuple on every call.
_ISSUED = {g: TOKENS_ISSUED.labels(g) for g in GRANT_TYPES}
_REFRESHED = REFRESHES.labels("rotated")
_REPLAYED = REFRESHES.labels("replayed")
_REVOKED_FAMILY = {r: FAMILY_REVOCATIONS.labels(r) for r in ("reuse", "revocation")}
_FAILED = {e: FAILURES.labels(e) for e in ERRORS}
_LATENCY = {e: LATENCY.labels(e) for e in ENDPOINTS}


def endpoint_label(name: str) -> str:
    return name if name in _LATENCY else "other"


def observe(endpoint: str, response: Response, seconds: float) -> None:
    """Record one answered request: its latency and what its audit values say happened."""
    _LATENCY.get(endpoint, _LATENCY["other"]).observe(seconds)
    audit: Mapping[str, Any] = response.audit
    if not audit:
        return
    event = audit.get("event")
    if event is None:
        error = audit.get("error")
        if error is not None:
            _FAILED.get(error, _FAILED["other"]).inc()
    elif event == "token.refreshed":
        _ISSUED["refresh_token"].inc()
        _REFRESHED.inc()
    elif event == "token.issued":
        counter = _ISSUED.get(audit.get("grant", ""))
        if counter is not None:
            counter.inc()
    elif event == "token.replayed":
        _REPLAYED.inc()
    elif event == "token.revoked":
        kind = audit.get("kind")
        if kind == "family":
            _REVOKED_FAMILY["revocation"].inc()
        elif kind == "access_token":
            ACCESS_REVOCATIONS.inc()


def reuse_detected(family_revoked: bool) -> None:
    """Called by the token endpoint when a used refresh token comes back."""
    REUSE_DETECTED.inc()
    if family_revoked:
        _REVOKED_FAMILY["reuse"].inc()


def multiprocess_enabled() -> bool:
    """Whether this process's values live in the shared directory.

    Decided by prometheus-client when it was first imported, not by the variable now: a process
    that imported it before the variable was set (``serve`` with one worker) counts in memory,
    and must expose its own registry, not an empty directory.
    """
    return _values.ValueClass is not _values.MutexValue


def exposition() -> Response:
    """The ``/metrics`` answer: this process's values, or every worker's summed in multiprocess mode."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(200, (("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store")), body)


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """A fresh ``PROMETHEUS_MULTIPROC_DIR`` for one server run, removed afterwards.

    Wrap the code that starts the worker processes in it: the variable must be in the
    environment before any worker imports prometheus-client. An operator who sets the variable
    keeps their directory (it must be empty at start, as prometheus-client requires).
    """
    existing = os.environ.get(MULTIPROC_ENV)
    if existing:
        os.makedirs(existing, exist_ok=True)
        yield existing
        return
    path = tempfile.mkdtemp(prefix="tokenturn-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
