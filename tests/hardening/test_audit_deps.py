"""The dependency-audit gate: a vulnerability fails the build, an outage only warns (loudly)."""

from __future__ import annotations

from tests.hardening.audit_deps import judge


def test_a_known_vulnerability_fails_with_a_clear_list() -> None:
    report = {
        "dependencies": [
            {"name": "httpx", "version": "0.28.1", "vulns": []},
            {"name": "jinja2", "version": "2.0", "vulns": [{"id": "PYSEC-2019-217", "fix_versions": ["2.10.1"]}]},
        ]
    }
    code, message = judge(report, 1, "")
    assert code == 1
    assert "jinja2 2.0: PYSEC-2019-217 (fixed in 2.10.1)" in message


def test_an_unreachable_service_warns_loudly_and_passes() -> None:
    code, message = judge(None, 1, "requests.exceptions.ConnectionError: Max retries exceeded with url: /pypi/x/json")
    assert code == 0
    assert "NOT PERFORMED" in message and "not a pass" in message


def test_every_package_skipped_counts_as_not_performed() -> None:
    report = {"dependencies": [{"name": "anyio", "skip_reason": "Dependency not found on PyPI"}] * 3}
    code, message = judge(report, 0, "")
    assert code == 0 and "NOT PERFORMED" in message


def test_a_clean_audit_passes_quietly() -> None:
    code, message = judge({"dependencies": [{"name": "httpx", "version": "0.28.1", "vulns": []}]}, 0, "")
    assert code == 0 and "no known vulnerabilities" in message


def test_an_unexplained_failure_fails() -> None:
    code, _ = judge(None, 2, "usage: pip-audit [-h] ... error: unrecognized arguments")
    assert code == 1
