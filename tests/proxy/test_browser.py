"""End to end in headless Chromium: the demo page signs in, renews on its own, calls the API, signs out.

Real parts only: ``tokenturn serve`` (3-second access tokens, CORS for the proxy's origin),
``tokenturn proxy --cookie-mode --demo-page`` and Debian's Chromium driven by Playwright. Needs
``apt-get install -y chromium`` and ``pip install playwright`` (never ``playwright install``: the
system browser is used through ``executable_path``). A screenshot goes to ``test-artifacts/``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.proxy.conftest import proxy_process, upstream_refresh
from tokenturn.testing import ServerProcess, free_port, seed_sync

CHROMIUM = os.environ.get("TOKENTURN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ACCESS_TTL = 3

_missing = [
    why
    for why, absent in (
        (f"no Chromium at {CHROMIUM} (apt-get install -y chromium)", shutil.which(CHROMIUM) is None),
        (
            "Playwright for Python is not installed (pip install -e '.[dev]')",
            importlib.util.find_spec("playwright") is None,
        ),
    )
    if absent
]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(bool(_missing), reason="BROWSER TEST NOT RUN: " + "; ".join(_missing)),
]


def test_demo_page_signs_in_renews_calls_the_api_and_signs_out(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    proxy_port = free_port()
    proxy_origin = f"http://127.0.0.1:{proxy_port}"
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 'tokenturn.db'}",
        "TOKENTURN_ACCESS_TOKEN_TTL": str(ACCESS_TTL),
        "TOKENTURN_CORS_ORIGINS": proxy_origin,
    }
    with ServerProcess(env=env, log_path=tmp_path / "server.log") as server:
        creds = seed_sync(server.settings, username="ada")
        args = [
            "--upstream", server.url, "--client-id", creds.client_id,
            "--cookie-mode", "--insecure-cookies", "--demo-page",
        ]  # fmt: skip
        with (
            proxy_process(args, secret=creds.client_secret, port=proxy_port, log_path=tmp_path / "proxy.log") as url,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 900, "height": 700})
                page = context.new_page()
                console_errors: list[str] = []
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                page.goto(url + "/")
                expect(page.locator("#signin")).to_be_visible()

                # A wrong password is explained in words, not as a status code.
                page.fill("#username", "ada")
                page.fill("#password", "not the password")
                page.click("#signin-button")
                expect(page.locator("#notice")).to_contain_text("username and password don't match")

                page.fill("#password", creds.password)
                page.click("#signin-button")
                signed_in = time.monotonic()
                expect(page.locator("#session")).to_be_visible()
                expect(page.locator("#who")).to_have_text(" as ada")
                first_token = page.locator("#token-id").text_content()

                # The refresh token is an HttpOnly, SameSite=Strict cookie scoped to the proxy's endpoints.
                cookies = {c["path"]: c for c in context.cookies() if c["name"] == "tokenturn_rt"}
                assert set(cookies) == {"/refresh", "/logout"}
                assert all(c["httpOnly"] and c["sameSite"] == "Strict" for c in cookies.values())
                assert page.evaluate("document.cookie") == "", "scripts cannot read the refresh token"

                # Past the first access token's lifetime: the page renewed it by itself, twice.
                # (expect, not wait_for_function: the page's CSP forbids evaluating strings, as it should.)
                expect(page.locator("#refresh-count")).to_have_text(re.compile(r"^([2-9]|\d\d+)$"), timeout=20_000)
                assert time.monotonic() - signed_in > ACCESS_TTL
                assert page.locator("#token-id").text_content() != first_token
                expect(page.locator("#events")).to_contain_text("renewed automatically")

                # The API accepts the current access token (cross-origin, allowed by TOKENTURN_CORS_ORIGINS).
                page.locator("#me-result").evaluate("el => { el.textContent = ''; }")
                page.click("#me-button")
                expect(page.locator("#me-result")).to_contain_text('"username": "ada"')
                remaining = float(page.locator("#remaining").text_content() or "0")
                assert 0 <= remaining <= ACCESS_TTL
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "proxy-demo.png"), full_page=True)

                # Sign out revokes the family upstream and drops the cookie.
                session_token = next(iter(c["value"] for c in context.cookies() if c["name"] == "tokenturn_rt"))
                page.click("#signout-button")
                expect(page.locator("#signin")).to_be_visible()
                expect(page.locator("#notice")).to_contain_text("signed out")
                assert not [c for c in context.cookies() if c["name"] == "tokenturn_rt"]
                assert upstream_refresh(server, creds, session_token).json()["error"] == "invalid_grant"

                # A reload finds no session and shows the sign-in form, without an error.
                page.reload()
                expect(page.locator("#signin")).to_be_visible()
                expect(page.locator("#notice")).to_be_hidden()
                assert not [e for e in console_errors if "Failed to load resource" not in e], console_errors
            finally:
                browser.close()
        proxy_log = (tmp_path / "proxy.log").read_text()
        assert creds.client_secret not in proxy_log
        assert session_token not in proxy_log
        assert httpx.get(server.url + "/healthz").status_code == 200
