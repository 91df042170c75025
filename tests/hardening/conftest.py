"""Hardening suite: hypothesis profiles sized for CI or for a long fuzz run, and a live-server launcher.

``make test`` runs the ``tokenturn-ci`` profile: derandomized (the same examples every run, so a
loaded 2-core CI machine never flakes on a new random draw), bounded ``max_examples``, no deadline.
``make fuzz`` sets ``FUZZ_EXAMPLES`` and gets the ``tokenturn-fuzz`` profile: random, and every
``examples(n)`` scaled so the whole run sends at least that many requests.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

from tests.hardening import live

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0") or 0)

settings.register_profile(
    "tokenturn-ci",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "tokenturn-fuzz",
    derandomize=False,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
PROFILE = settings.get_profile("tokenturn-fuzz" if FUZZ_EXAMPLES else "tokenturn-ci")


def examples(ci: int, share: float = 0.0) -> settings:
    """Hypothesis settings: ``ci`` examples in CI; ``share`` of ``FUZZ_EXAMPLES`` in a fuzz run."""
    n = max(ci, int(FUZZ_EXAMPLES * share)) if FUZZ_EXAMPLES else ci
    return settings(PROFILE, max_examples=n)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many HTTP requests the fuzz tests sent (``make fuzz`` reports this figure)."""
    if live.REQUESTS_SENT:
        total = sum(live.REQUESTS_SENT.values())
        terminalreporter.write_sep("=", f"hardening: {total} fuzz requests sent to live servers")
        for name, count in sorted(live.REQUESTS_SENT.items()):
            terminalreporter.write_line(f"  {name}: {count}")
        outcomes = ", ".join(f"{k}: {v}" for k, v in live.OUTCOMES.most_common())
        terminalreporter.write_line(f"  responses: {outcomes}")
    for line in live.REPORT:
        terminalreporter.write_line(line)


#: Parameter names the hostile generators draw from: every one the endpoints read, plus "".
PARAMS = [
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "refresh_token",
    "scope",
    "token",
    "token_type_hint",
    "access_token",
    "code",
    "redirect_uri",
    "",
]
