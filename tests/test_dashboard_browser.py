"""The account page in a real browser: headless Debian Chromium via Playwright.

Sign in through the fake GitHub, create a key, read it from the page, use it
from an MCP client, see and forget the memory, revoke the key, and see the
next MCP call refused. Screenshots of the main states go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from playwright.sync_api import Page, sync_playwright

from tests.fakes import github_profile
from tests.support import ROOT, call, mcp_client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
MEMORY = "Prefers <b>green</b> tea & reads <i>poetry</i> on Sundays"


@pytest.fixture
def page():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def in_thread(coroutine_factory):
    """Run an async MCP client beside Playwright's own event loop."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine_factory())
        except BaseException as exc:  # surfaced below
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_a_person_manages_keys_and_memories_in_the_browser(page: Page, auth_server, github):
    github.next_profile = github_profile(9801, "browseruser")
    page.goto(auth_server.url + "/dashboard")
    shot(page, "1-signed-out")
    page.get_by_role("link", name="Sign in with GitHub").click()
    page.wait_for_url(auth_server.url + "/dashboard")
    assert "browseruser@example.com" in page.inner_text(".profile")

    page.fill("input[name=name]", "browser key")
    page.get_by_role("button", name="Create key").click()
    key = page.inner_text("#new-key-value").strip()
    assert key.startswith("mg_") and page.is_visible("text=shown only this once")
    shot(page, "2-new-key")

    async def store() -> dict:
        async with mcp_client(auth_server.url, key) as client:
            return await call(client, "memory_store", observation=MEMORY)

    stored = in_thread(store)
    page.goto(auth_server.url + "/dashboard")
    memory = page.locator("#memories .memory-text", has_text="green")
    assert memory.inner_text() == MEMORY  # markup shown as text, not rendered
    assert page.locator("#memories b").count() == 0
    shot(page, "3-memory")

    page.fill("input[name=q]", "which tea do they like?")
    page.get_by_role("button", name="Search").click()
    assert stored["ref"] in page.inner_text("#memories")

    page.locator("#memories li", has_text="green").first.get_by_role("button", name="Forget").click()
    assert "Memory forgotten" in page.inner_text(".notice")
    assert page.locator("#memories .memory-text", has_text="green").count() == 0
    shot(page, "4-forgotten")

    page.locator("#keys summary", has_text="Revoke").first.click()
    page.get_by_role("button", name="Yes, revoke browser key").click()
    assert "Key revoked" in page.inner_text(".notice")
    assert "revoked" in page.inner_text("#keys tbody tr")
    shot(page, "5-revoked")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    shot(page, "6-phone")

    refused = httpx.post(
        auth_server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
    )
    assert refused.status_code == 401
