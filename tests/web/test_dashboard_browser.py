"""Every page, form and link a person meets, clicked in a real browser:
headless Debian Chromium through Playwright.

With Google and GitHub (fakes that speak their protocols) configured: each
sign-in choice, key create / copy / revoke, search, paging, forget, consent
allow and deny, disconnect, sign out and sign out everywhere. With nothing
configured (local mode, a fresh data directory): the local owner's button on
the account page, and the whole story of a loopback MCP client — the official
SDK's OAuthClientProvider opening its authorization URL in Chromium — through
sign-in, consent, tools/list and a memory that then shows on /dashboard.

Screenshots of each state go to test-artifacts/ (desktop width and phone).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from playwright.async_api import async_playwright
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect, sync_playwright
from sqlalchemy import select, text, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from memory import spaces
from models import ForgottenMemory, ImportJob, Observation, Space
from oauth_models import User
from tests.fakes import github_profile
from tests.oauth_support import MemoryTokenStorage, authorize_url, exchange_code, pkce_pair, register_client
from tests.support import (
    ROOT,
    ServedApp,
    ServerProcess,
    call,
    call_error,
    mcp_client,
    new_key,
    serve_asgi,
    session_scope,
    subprocess_env,
    traces_of,
)

pytestmark = pytest.mark.slow

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
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
# What #28 asks every page to fit: a phone, a tablet, a laptop, a desktop.
SCREEN_WIDTHS = (375, 768, 1280, 1920)
ARTIFACTS = ROOT / "test-artifacts"
MEMORY = "Prefers <b>green</b> tea & reads <i>poetry</i> on Sundays"
READER_ZONE = "America/New_York"  # the reader's own zone, not the server's UTC
LOCAL_OWNER_BUTTON = "Continue as the local owner (this computer only)"


class LoopbackCallback:
    """What a desktop MCP client runs to receive the authorization answer."""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/callback", self._callback)])

    async def _callback(self, request: Request) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>Done</title><p>You can close this window.</p>")


@pytest.fixture(scope="module")
def callback() -> Iterator[ServedApp]:
    with serve_asgi(LoopbackCallback().app()) as served:
        yield served


@pytest.fixture
def browser_contexts() -> Iterator[Callable[[], BrowserContext]]:
    """Make fresh Chromium contexts (separate cookie jars), closed afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        made: list[BrowserContext] = []

        def make() -> BrowserContext:
            made.append(browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id=READER_ZONE))
            return made[-1]

        try:
            yield make
        finally:
            for context in made:
                context.close()
            browser.close()


@pytest.fixture
def page(browser_contexts) -> Page:
    return browser_contexts().new_page()


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


def shot(page: Page, name: str, *, phone_too: bool = False) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if phone_too:
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)


def fits_every_screen(page: Page, name: str) -> None:
    """Nothing sticks out of its card, no table scrolls sideways, on a phone,
    a tablet, a laptop and a desktop screen; a screenshot of each for review."""
    for width in SCREEN_WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.evaluate(NEXT_FRAME)  # what redraws on a resize (the graph) has, as a person would see it
        assert page.evaluate(OVERFLOWING) == [], (width, page.evaluate(OVERFLOWING))
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)
    page.evaluate(NEXT_FRAME)


def sign_in_with_github(page: Page, server_url: str, github, github_id: int, login: str) -> None:
    github.next_profile = github_profile(github_id, login)
    page.goto(server_url + "/dashboard")
    page.get_by_role("link", name="Sign in with GitHub").click()
    page.wait_for_url(server_url + "/dashboard")
    assert f"{login}@example.com" in page.inner_text(".profile")


def store_memories(server_url: str, key: str, texts: list[str]) -> list[dict]:
    async def store() -> list[dict]:
        async with mcp_client(server_url, key) as client:
            return [await call(client, "memory_store", observation=text) for text in texts]

    return in_thread(store)


def user_id_for(email: str):
    with session_scope() as db:
        return db.scalars(select(User.id).where(User.email == email)).one()


def stored_space(observation_id: int):
    with session_scope() as db:
        return db.scalars(select(Observation.owner_id).where(Observation.id == observation_id)).one()


def notice(page: Page) -> str:
    return page.inner_text("[role=status] p")


# --- with sign-in providers ------------------------------------------------------


# How many lines a word of an element's text is laid out on (1: it is not broken).
WORD_LINES = """([id, word]) => {
  const node = document.getElementById(id).firstChild;
  const range = document.createRange();
  const start = node.textContent.indexOf(word);
  range.setStart(node, start);
  range.setEnd(node, start + word.length);
  return new Set([...range.getClientRects()].map((rect) => Math.round(rect.top))).size;
}"""


# What sticks out of its card (or makes a table or the page scroll sideways).
NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
OVERFLOWING = """() => {
  const found = [];
  for (const card of document.querySelectorAll(".card")) {
    const box = card.getBoundingClientRect();
    for (const element of card.querySelectorAll("*")) {
      const closed = element.closest("details:not([open])");
      if (closed && !element.closest("summary")) continue;  // not shown
      const rect = element.getBoundingClientRect();
      if (rect.width && (rect.right > box.right + 1 || rect.left < box.left - 1)) {
        found.push(`${element.tagName.toLowerCase()} "${element.textContent.trim().slice(0, 30)}" in #${card.id}`);
      }
    }
    for (const wrap of card.querySelectorAll(".table-wrap")) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) found.push(`a table scrolls in #${card.id}`);
    }
  }
  if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) found.push("the page scrolls");
  return found;
}"""


def test_a_person_manages_keys_and_memories_in_the_browser(browser_contexts, auth_server, github):
    context = browser_contexts()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=auth_server.url)
    page = context.new_page()
    page.goto(auth_server.url + "/dashboard")
    shot(page, "dashboard-1-signed-out", phone_too=True)
    sign_in_with_github(page, auth_server.url, github, 9801, "browseruser")
    assert "signed in with GitHub" in page.inner_text(".profile")

    page.get_by_role("link", name="Keys and clients").click()
    page.wait_for_url("**/dashboard/keys")
    assert page.locator("nav.sections a[aria-current=page]").inner_text() == "Keys and clients"
    page.fill("input[name=name]", "browser key")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url("**/dashboard/keys?notice=key-created#new-key")  # post, redirect, get: loaded
    key = page.inner_text("#new-key-value").strip()
    assert key.startswith("mg_") and page.is_visible("text=shown only this once")
    assert notice(page) == "API key created."
    shot(page, "dashboard-2-new-key")
    copy = page.locator("#new-key button[data-copy]")
    copy.click()
    expect(copy).to_have_text("Copied")  # waits for the clipboard write to finish
    assert page.evaluate("navigator.clipboard.readText()") == key
    page.reload()  # the key is never shown twice, and reloading creates nothing
    assert page.locator("#new-key-value").count() == 0
    assert page.locator("#keys tbody tr").count() == 1
    # Times are shown in the reader's zone, not as raw ISO strings.
    created = page.locator("#keys time").first
    assert re.fullmatch(r"\w{3} \d{1,2}, \d{4}, \d\d:\d\d [AP]M EST", created.inner_text())
    assert created.get_attribute("title").endswith(" UTC")

    # Every field of the key form: a key that may only read, and expires in 30 days.
    page.fill("input[name=name]", "reader")
    page.fill("input[name=expires_days]", "30")
    assert page.locator("#keys input[value='account:manage']").is_checked() is False  # managing keys: asked for
    page.get_by_label("write: store, change and archive memories").uncheck()
    page.get_by_label("forget: delete memories and conversations for good").uncheck()
    page.get_by_role("button", name="Create key").click()
    page.wait_for_url("**/dashboard/keys?notice=key-created#new-key")
    reader_key = page.inner_text("#new-key-value").strip()
    # Snippets wrap between words, never inside one ("Autho|rization"), at a desktop's width and a phone's.
    for width in (1280, 375):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate(WORD_LINES, ["snippet-json", "Authorization"]) == 1, width
    page.set_viewport_size(DESKTOP)
    # The new key is filled into the snippets that need one (this page only: it is shown once).
    assert f'"Authorization": "Bearer {reader_key}"' in page.inner_text("#snippet-json")
    assert page.inner_text("#snippet-claude-code").endswith(f'--header "Authorization: Bearer {reader_key}"')
    reader_row = page.locator("#keys tbody tr", has_text="reader")
    assert reader_row.locator("td[data-label=Rights]").inner_text() == "read"
    browser_row = page.locator("#keys tbody tr", has_text="browser key")
    assert browser_row.locator("td[data-label=Rights]").inner_text() == "read, write, forget"
    assert reader_row.locator("td[data-label=Expires] time").count() == 1  # a date, not "never"
    page.fill("input[name=expires_days]", "-3")  # refused in the page, nothing created
    page.fill("input[name=name]", "bad expiry")
    page.get_by_role("button", name="Create key").click()
    assert "Expires after:" in page.inner_text("[role=alert]")
    page.fill("input[name=name]", "no rights")
    for box in page.locator("#keys fieldset input[type=checkbox]").all():
        box.uncheck()
    page.get_by_role("button", name="Create key").click()
    assert "Rights: tick at least one" in page.inner_text("[role=alert]")
    assert page.locator("#keys tbody tr").count() == 2

    for snippet in ("snippet-url", "snippet-claude-code", "snippet-json"):
        copy = page.locator(f"button[data-copy={snippet}]")
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == page.inner_text(f"#{snippet}").strip()
    assert auth_server.url + "/mcp" in page.evaluate("navigator.clipboard.readText()")

    stored = store_memories(auth_server.url, key, [MEMORY, *(f"numbered memory {n:02d}" for n in range(11))])

    async def write_with_the_reader_key() -> str:
        async with mcp_client(auth_server.url, reader_key) as client:
            return await call_error(client, "memory_store", observation="not allowed")

    assert "lacks memory:write" in in_thread(write_with_the_reader_key)
    page.goto(auth_server.url + "/dashboard")
    assert "12 observations" in page.inner_text(".counts") and "0 patterns" in page.inner_text(".counts")
    page.get_by_role("link", name="Older").click()
    page.wait_for_url("**/dashboard?page=1#recent")
    memory = page.locator("#recent .memory-text", has_text="green")
    assert memory.inner_text() == MEMORY  # markup shown as text, not rendered
    assert page.locator("#recent b").count() == 0
    shot(page, "dashboard-3-older-page")
    page.get_by_role("link", name="Newer").click()
    page.wait_for_url("**/dashboard?page=0#recent")
    assert page.locator("#recent .memory-text", has_text="numbered memory 10").count() == 1

    page.fill("input[name=q]", "which tea do they like?")
    page.get_by_role("button", name="Search").click()
    hit = page.locator("#search-results li", has_text="green").first
    assert stored[0]["ref"] in hit.inner_text() and "score" in hit.inner_text()
    shot(page, "dashboard-4-search")
    hit.locator("summary", has_text="Forget").click()  # asks first, as Revoke does
    shot(page, "dashboard-4-forget-asks")
    page.get_by_role("button", name=f"Yes, forget {stored[0]['ref']}").click()
    assert notice(page) == "Memory forgotten."
    assert page.locator(".memory-text", has_text="green").count() == 0
    assert f"Memory forgotten: {stored[0]['ref']}" in page.inner_text("#activity")  # named by its ref
    row = page.locator("#recent li", has_text="numbered memory 10")
    row.locator("summary", has_text="Forget").click()
    row.get_by_role("button", name=re.compile(r"^Yes, forget observation:\d+$")).click()
    assert notice(page) == "Memory forgotten." and "10 observations" in page.inner_text(".counts")

    page.get_by_role("link", name="Keys and clients").click()
    browser_key_row = page.locator("#keys tbody tr", has_text="browser key")
    browser_key_row.locator("summary", has_text="Revoke").click()
    fits_every_screen(page, "dashboard-revoke-asks")  # the confirmation open
    page.get_by_role("button", name="Yes, revoke browser key").click()
    assert notice(page) == "Key revoked."
    assert "revoked" in page.locator("#keys tbody tr", has_text="browser key").inner_text()
    assert "revoked" not in page.locator("#keys tbody tr", has_text="reader").inner_text()
    shot(page, "dashboard-5-revoked", phone_too=True)
    page.get_by_role("link", name="Account").click()
    assert "API key revoked: “browser key” (mg_" in page.inner_text("#activity")  # events as words, named

    refused = httpx.post(
        auth_server.url + "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"},
    )
    assert refused.status_code == 401

    page.get_by_role("link", name="MemoryGate").click()  # the brand link
    page.wait_for_url(auth_server.url + "/dashboard")
    page.get_by_role("button", name="Sign out", exact=True).click()
    assert page.get_by_role("link", name="Sign in with GitHub").is_visible()


def test_google_sign_in_and_sign_out_everywhere(browser_contexts, auth_server, google, github):
    google.next_profile = {**google.next_profile, "sub": "google-9802", "email": "everywhere@example.com"}
    laptop = browser_contexts().new_page()
    laptop.goto(auth_server.url + "/dashboard")
    laptop.get_by_role("link", name="Sign in with Google").click()
    laptop.wait_for_url(auth_server.url + "/dashboard")
    assert "signed in with Google" in laptop.inner_text(".profile")
    phone = browser_contexts().new_page()
    phone.goto(auth_server.url + "/dashboard")
    phone.get_by_role("link", name="Sign in with Google").click()
    phone.wait_for_url(auth_server.url + "/dashboard")

    laptop.get_by_role("button", name="Sign out everywhere").click()
    assert laptop.get_by_role("link", name="Sign in with Google").is_visible()
    phone.reload()
    assert phone.get_by_role("link", name="Sign in with Google").is_visible()


def test_a_person_makes_renames_tends_exports_and_deletes_spaces(page, auth_server, github, tmp_path):
    sign_in_with_github(page, auth_server.url, github, 9811, "tidy")
    owner = user_id_for("tidy@example.com")
    page.get_by_role("link", name="Settings").click()
    page.locator("#retention").get_by_role("link", name="Spaces").click()
    page.wait_for_url(auth_server.url + "/dashboard/spaces")
    assert page.locator("#space-list > li").count() == 1  # the default space, which has no Delete
    assert page.locator("#space-list summary", has_text="Delete").count() == 0

    page.locator("#new-space input[name=name]").fill("Clients")
    page.get_by_role("button", name="Make space").click()
    assert notice(page) == "Space made."
    page.locator("#new-space input[name=name]").fill("  CLIENTS ")
    page.get_by_role("button", name="Make space").click()
    assert "'CLIENTS' reads the same as a space this account already has" in page.inner_text(".error")
    clients = page.locator("#space-list > li[data-space=Clients]")
    clients.locator("input[name=name]").fill("Client work")
    clients.get_by_role("button", name="Rename").click()
    assert notice(page) == "Space renamed."
    work = page.locator("#space-list > li[data-space='Client work']")

    work.locator("input[name=days]").fill("forever")
    work.get_by_role("button", name="Save").click()
    assert "Retention: a whole number of days" in page.inner_text(".error")
    work = page.locator("#space-list > li[data-space='Client work']")
    work.locator("input[name=days]").fill("90")
    work.get_by_role("button", name="Save").click()
    assert notice(page) == "Retention saved."
    with session_scope() as db:
        retention = dict(db.execute(select(Space.name, Space.retention_days).where(Space.owner_user_id == owner)).all())
    assert retention == {"personal": None, "Client work": 90}
    work = page.locator("#space-list > li[data-space='Client work']")
    work.locator("input[name=days]").fill("")
    work.get_by_role("button", name="Save").click()
    assert page.locator("#space-list > li[data-space='Client work'] input[name=days]").input_value() == ""

    # A key that reaches only that space stores there.
    page.get_by_role("link", name="Keys and clients").click()
    choices = page.locator("#key-spaces")
    choices.get_by_label("personal").select_option(label="nothing")
    choices.get_by_label("spaces you make later, and those shared with you").select_option(label="nothing")
    assert choices.get_by_label("Client work").input_value().endswith(":all")
    choices.get_by_label("Client work").select_option(label="reads and writes, never deletes")
    page.fill("input[name=name]", "client-agent")
    page.get_by_role("button", name="Create key").click()
    key = page.inner_text("#new-key code")
    assert "in Client work · never deletes in Client work" in page.inner_text("#keys tbody")
    stored = store_memories(auth_server.url, key, ["The Acme contract renews in June"])[0]
    store_memories(auth_server.url, new_key(owner), ["Plays the cello on Sundays"])
    page.goto(auth_server.url + "/dashboard")
    assert "Client work · " in page.inner_text("#recent")  # the account page spans every space
    page.get_by_role("link", name="Memories").first.click()
    page.select_option("#browser select[name=space]", label="personal")
    page.get_by_role("button", name="Show").click()
    assert "cello" in page.inner_text("#memory-list") and "Acme" not in page.inner_text("#memory-list")

    page.get_by_role("link", name="Spaces").click()
    work = page.locator("#space-list > li[data-space='Client work']")
    assert "1 observation" in work.inner_text()
    work.get_by_role("link", name="See its memories").click()
    assert "Acme" in page.inner_text("#memory-list") and "cello" not in page.inner_text("#memory-list")
    page.go_back()
    work = page.locator("#space-list > li[data-space='Client work']")
    with page.expect_download() as download:
        work.get_by_role("link", name="Export it").click()
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.name.startswith("memorygate-Client-work-") and "Acme" in exported.read_text()
    assert "cello" not in exported.read_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export every space").click()
    bundle = tmp_path / download.value.suggested_filename
    download.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as files:
        assert sorted(files.namelist()) == ["Client-work.jsonl", "personal.jsonl"]
        assert "cello" in files.read("personal.jsonl").decode() and "Acme" in files.read("Client-work.jsonl").decode()
    page.get_by_role("link", name="Import and export").click()
    # One space's file from the account page's own form, brought into another space.
    page.locator("#export-form select[name=space]").select_option(label="Client work")
    with page.expect_download() as download:
        page.locator("#export-form").get_by_role("button", name="Download").click()
    one = tmp_path / download.value.suggested_filename
    download.value.save_as(one)
    assert one.name.startswith("memorygate-Client-work-") and "Acme" in one.read_text()
    page.set_input_files("#transfer input[type=file]", str(one))
    page.locator("#transfer form[action='/dashboard/import'] select[name=space]").select_option(label="personal")
    page.get_by_role("button", name="Preview import").click()
    assert "1 observation" in page.inner_text("#import-summary")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-status")).to_contain_text("Imported.")
    with session_scope() as db:
        mine = select(Space.id).where(Space.owner_user_id == owner)
        homes = db.execute(
            select(Observation.owner_id).where(
                Observation.observation.like("The Acme contract%"), Observation.owner_id.in_(mine)
            )
        )
        assert sorted(map(str, homes.scalars())) == sorted([str(owner), str(stored_space(stored["id"]))])
    page.goto(auth_server.url + "/dashboard/spaces")
    fits_every_screen(page, "spaces")

    work.get_by_text("Delete", exact=True).click()
    assert "are deleted with it, for good" in work.inner_text()
    work.locator("input[name=confirm_name]").fill("client")
    work.get_by_role("button", name="Yes, delete Client work").click()
    assert "type its name exactly" in page.inner_text(".error")
    work = page.locator("#space-list > li[data-space='Client work']")
    work.get_by_text("Delete", exact=True).click()
    work.locator("input[name=confirm_name]").fill("client work")
    work.get_by_role("button", name="Yes, delete Client work").click()
    assert notice(page) == "Space deleted, and every memory that was in it."
    assert page.locator("#space-list > li").count() == 1
    with session_scope() as db:
        assert db.get(Observation, stored["id"]) is None

    # The every-space ZIP brings the whole account back in one go: the deleted space is made again.
    page.get_by_role("link", name="Import and export").click()
    page.set_input_files("#transfer input[type=file]", str(bundle))
    page.get_by_role("button", name="Preview import").click()
    assert page.inner_text("#import-source") == "A MemoryGate export of every space, 2 spaces."
    assert page.inner_text("#import-summary").startswith("This file adds 1 space, 1 AI instance, 1 observation.")
    listed = page.locator("#import-spaces li")
    assert (
        listed.nth(0).inner_text()
        == "personal: its file adds nothing new. Already there: 1 AI instance, 1 observation."
    )
    assert listed.nth(1).inner_text() == "Client work (new): its file adds 1 space, 1 AI instance, 1 observation."
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-status")).to_contain_text("Imported into personal, Client work.")
    page.goto(auth_server.url + "/dashboard/spaces")
    assert "1 observation" in page.locator("#space-list > li[data-space='Client work']").inner_text()


def test_two_people_share_a_space_change_a_role_remove_and_leave(browser_contexts, auth_server, github):
    owner, member = browser_contexts().new_page(), browser_contexts().new_page()
    sign_in_with_github(owner, auth_server.url, github, 9830, "sharer")
    sign_in_with_github(member, auth_server.url, github, 9831, "joiner")
    owner.goto(auth_server.url + "/dashboard/spaces")
    owner.locator("#new-space input[name=name]").fill("Family")
    owner.get_by_role("button", name="Make space").click()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share", exact=True).click()
    family.locator("input[name=email]").fill("Joiner@Example.com")
    family.locator("select[name=role]").select_option("reader")
    family.get_by_role("button", name="Invite").click()
    assert notice(owner).startswith("Invitation sent")
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share (1)").click()
    assert "joiner@example.com invited as reader" in family.inner_text()
    owner_key = new_key(user_id_for("sharer@example.com"))

    async def store_in_family() -> str:
        async with mcp_client(auth_server.url, owner_key) as client:
            stored = await call(
                client, "memory_store", observation="Grandma's recipe uses brown butter", space="Family"
            )
            return stored["ref"]

    recipe = in_thread(store_in_family)

    member.goto(auth_server.url + "/dashboard/spaces")
    invitation = member.locator("#invitations li[data-invitation=Family]")
    assert "sharer@example.com invites you to Family as reader." in invitation.inner_text()
    invitation.get_by_role("button", name="Accept").click()
    assert notice(member) == "You joined the space: it is now in your search and brief."
    shared = member.locator("#shared-spaces li[data-shared='sharer@example.com/Family']")
    assert "shared by sharer@example.com; you are a reader" in shared.inner_text()
    assert "1 observation" in shared.inner_text()
    fits_every_screen(member, "spaces-shared")
    member.goto(auth_server.url + "/dashboard")
    member.get_by_role("textbox", name="Search").fill("grandma's recipe")
    member.get_by_role("button", name="Search").click()
    results = member.locator("#search-results")
    assert "sharer@example.com/Family · observation" in results.inner_text()
    assert results.locator("summary", has_text="Forget").count() == 0  # theirs to read, the owner's to change
    member.goto(auth_server.url + f"/dashboard/memories/{recipe}")
    assert "shared with you by sharer@example.com" in member.inner_text("#shared-from")
    assert member.get_by_role("button", name="Archive").count() == 0

    owner.reload()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share (1)").click()
    person = family.locator("li[data-member='joiner@example.com']")
    person.locator("select[name=role]").select_option("writer")
    person.get_by_role("button", name="Change role").click()
    assert notice(owner) == "Role changed."
    member.goto(auth_server.url + "/dashboard/spaces")
    assert "you are a writer" in member.locator("#shared-spaces").inner_text()

    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share (1)").click()
    family.get_by_role("button", name="Remove joiner@example.com").click()
    assert notice(owner) == "Removed from the space: what they stored stays in it."
    member.reload()
    assert member.locator("#shared-spaces").count() == 0

    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share", exact=True).click()
    family.locator("input[name=email]").fill("joiner@example.com")
    family.get_by_role("button", name="Invite").click()
    member.reload()
    member.locator("#invitations").get_by_role("button", name="Decline").click()
    assert notice(member) == "Invitation declined."
    owner.reload()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share", exact=True).click()
    family.locator("input[name=email]").fill("joiner@example.com")
    family.get_by_role("button", name="Invite").click()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share (1)").click()
    family.get_by_role("button", name="Take back").click()
    assert notice(owner) == "Invitation taken back."
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share", exact=True).click()
    family.locator("input[name=email]").fill("joiner@example.com")
    family.get_by_role("button", name="Invite").click()
    member.reload()
    member.locator("#invitations").get_by_role("button", name="Accept").click()
    shared = member.locator("#shared-spaces li[data-shared='sharer@example.com/Family']")
    shared.get_by_text("Leave", exact=True).click()
    shared.get_by_role("button", name="Yes, leave Family").click()
    assert notice(member) == "You left the space: what you stored stays in it."
    member.get_by_role("link", name="Account").click()
    activity = member.inner_text("#activity")
    assert "Space left" in activity and "Family" in activity

    # Invited once more and a member, they are told when the owner deletes the space.
    owner.reload()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Share", exact=True).click()
    family.locator("input[name=email]").fill("joiner@example.com")
    family.get_by_role("button", name="Invite").click()
    member.goto(auth_server.url + "/dashboard/spaces")
    member.locator("#invitations").get_by_role("button", name="Accept").click()
    owner.reload()
    family = owner.locator("#space-list > li[data-space=Family]")
    family.get_by_text("Delete", exact=True).click()
    family.locator("input[name=confirm_name]").fill("Family")
    family.get_by_role("button", name="Yes, delete Family").click()
    member.reload()
    assert "Family, shared by sharer@example.com, was deleted by its owner" in member.inner_text("#gone")
    assert member.locator("#shared-spaces").count() == 0


def test_a_person_browses_filters_edits_archives_and_forgets_with_undo(page, auth_server, github):
    sign_in_with_github(page, auth_server.url, github, 9814, "browser2")
    key = new_key(user_id_for("browser2@example.com"))

    async def seed() -> dict[str, str]:
        async with mcp_client(auth_server.url, key) as client:
            porto = await call(client, "memory_store", observation="Ann lives in Porto.", domain="places")
            coffee = await call(client, "memory_store", observation="Ann drinks coffee every morning.", domain="food")
            old = await call(client, "memory_store", observation="Kept a paper diary in 2019.")
            await call(client, "memory_archive", refs=[old["ref"]])
            await call(client, "memory_store_concept", name="Ann", concept_type="person", description="A friend")
            await call(client, "memory_add_concept_alias", concept_name="Ann", alias="Annie")
            return {"porto": porto["ref"], "coffee": coffee["ref"], "old": old["ref"]}

    refs = in_thread(seed)
    for link, landing in (
        ("Keys and clients", "/dashboard/keys"),
        ("Import and export", "/dashboard/transfer"),
        ("Settings", "/dashboard/settings"),
        ("Account", "/dashboard"),
    ):
        page.get_by_role("navigation", name="Your account").get_by_role("link", name=link).click()
        page.wait_for_url(auth_server.url + landing)
        assert page.locator("nav.sections a[aria-current=page]").inner_text() == link
        fits_every_screen(page, "section-" + landing.rsplit("/", 1)[1])
    page.get_by_role("link", name="Browse every memory").click()
    page.wait_for_url("**/dashboard/memories")
    page.goto(auth_server.url + "/dashboard")
    page.get_by_role("link", name="Memories", exact=True).click()
    page.wait_for_url("**/dashboard/memories")
    listed = page.locator("#memory-list li")
    assert listed.count() == 3 and "Ann" in listed.first.inner_text()  # newest first; the archived one left out
    fits_every_screen(page, "memories-browser")

    page.select_option("select[name=kind]", "concept")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#memory-list li").count() == 1 and "concept" in page.inner_text("#memory-list")
    page.select_option("select[name=kind]", "")
    page.fill("input[name=domain]", "food")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#memory-list .memory-text").all_inner_texts() == ["Ann drinks coffee every morning."]
    page.fill("input[name=domain]", "")
    page.select_option("select[name=archived]", "only")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#memory-list .memory-text").all_inner_texts() == ["Kept a paper diary in 2019."]
    page.select_option("select[name=archived]", "exclude")
    page.fill("input[name=since]", "2000-01-01")
    page.fill("input[name=until]", "2000-12-31")
    page.get_by_role("button", name="Show").click()
    assert page.inner_text("#memory-list") == "Nothing matches."  # stored today, not in 2000
    page.fill("input[name=since]", "")
    page.fill("input[name=until]", "")
    page.fill("input[name=q]", "where does Ann live?")
    page.get_by_role("button", name="Show").click()
    assert "Porto" in page.locator("#memory-list li").first.inner_text()

    page.locator("#memory-list a", has_text="Porto").click()
    page.wait_for_url(f"**/dashboard/memories/{refs['porto']}")
    assert page.inner_text("#memory-text") == "Ann lives in Porto."
    assert page.inner_text("#last-used") == "never"  # a person looking is not an agent using it
    assert page.inner_text("#concepts") == "Ann"
    fits_every_screen(page, "memory-page")

    page.locator("summary", has_text="Edit").click()
    page.fill("textarea[name=text]", "Ann lives in Lisbon now.")
    page.get_by_role("button", name="Save as a new version").click()
    page.wait_for_url("**/dashboard/memories/observation:*?notice=edited")
    lisbon = urlsplit(page.url).path.rsplit("/", 1)[1]
    assert lisbon != refs["porto"] and page.inner_text("#memory-text") == "Ann lives in Lisbon now."
    assert page.locator("#versions li").all_inner_texts()[0].startswith("Ann lives in Porto.")
    page.locator("#versions a", has_text="Porto").click()  # the older version's own page
    page.wait_for_url(f"**/dashboard/memories/{refs['porto']}")
    assert page.locator("h1 .tag", has_text="replaced").count() == 1 and page.locator("#edit").count() == 0
    page.locator("#concepts a", has_text="Ann").click()
    page.wait_for_url("**/dashboard/memories/concept:*")
    assert page.inner_text("#memory-text") == "A friend" and "Annie" in page.inner_text("#memory")
    page.get_by_role("link", name="← Every memory").click()
    page.wait_for_url("**/dashboard/memories")
    page.goto(f"{auth_server.url}/dashboard/memories/{lisbon}")

    page.get_by_role("button", name="Archive").click()
    assert notice(page).startswith("Archived") and page.locator("h1 .tag", has_text="archived").count() == 1
    page.get_by_role("button", name="Bring back from the archive").click()
    assert notice(page) == "Brought back from the archive." and page.locator("h1 .tag").count() == 0

    page.locator("#memory summary", has_text="Forget").click()
    page.get_by_role("button", name=f"Yes, forget {lisbon}").click()
    page.wait_for_url("**/dashboard/memories?notice=forgotten&undo=*")
    assert notice(page) == "Memory forgotten." and "Lisbon" not in page.inner_text("#memory-list")
    page.get_by_role("button", name="Undo").click()
    page.wait_for_url(f"**/dashboard/memories/{lisbon}?notice=restored")  # the same memory, the same ref
    assert notice(page) == "Memory brought back." and page.inner_text("#memory-text") == "Ann lives in Lisbon now."
    assert page.locator("#versions li").count() == 2  # its place among its versions too

    store_memories(auth_server.url, key, [f"numbered note {n:02d}" for n in range(25)])
    page.goto(auth_server.url + "/dashboard/memories")
    assert page.locator("#memory-list li").count() == 25 and "numbered note 24" in page.inner_text("#memory-list")
    page.get_by_role("link", name="Older").click()
    page.wait_for_url("**/dashboard/memories?*page=1")
    assert "Ann drinks coffee" in page.inner_text("#memory-list") and "numbered note 24" not in page.inner_text(
        "#memory-list"
    )
    page.get_by_role("link", name="Newer").click()
    page.wait_for_url("**/dashboard/memories?*page=0")

    page.goto(f"{auth_server.url}/dashboard/memories/{refs['coffee']}")
    page.locator("#memory summary", has_text="Forget").click()
    page.get_by_role("button", name=f"Yes, forget {refs['coffee']}").click()
    undo = page.url
    page.goto(auth_server.url + "/dashboard/memories?q=coffee")
    assert "coffee" not in page.inner_text("#memory-list")
    page.goto(undo)
    with session_scope() as db:  # ten minutes later
        gone = datetime.now(UTC) - timedelta(seconds=1)
        db.execute(update(ForgottenMemory).where(ForgottenMemory.ref == refs["coffee"]).values(expires_at=gone))
    page.get_by_role("button", name="Undo").click()
    assert "can no longer be brought back" in page.inner_text("[role=alert]")


def test_a_person_reads_their_timeline_and_clicks_through_to_a_periods_memories(page, auth_server, github):
    sign_in_with_github(page, auth_server.url, github, 9815, "timeline")
    key = new_key(user_id_for("timeline@example.com"))

    async def seed() -> None:
        async with mcp_client(auth_server.url, key) as client:
            await call(client, "memory_store", observation="Hiked the Rota Vicentina.", occurred_at="2024-05-01")
            await call(client, "memory_store", observation="Prefers window seats.", domain="travel")
            await call(client, "memory_store_concept", name="Porto", concept_type="place", description="A city")

    in_thread(seed)
    page.goto(auth_server.url + "/dashboard")
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Timeline").click()
    page.wait_for_url("**/dashboard/timeline")
    bars = page.locator("#chart a.bar")
    today = datetime.now(UTC).strftime("%d %b %Y")
    assert bars.count() == 1 and bars.first.get_attribute("aria-label") == (
        f"{today}: 3 memories, 2 observation, 1 concept"
    )
    assert page.locator("#legend li").all_inner_texts() == ["observation", "concept"]
    fits_every_screen(page, "timeline")
    bars.first.click()
    page.wait_for_url("**/dashboard/memories?since=*")
    assert page.locator("#memory-list li").count() == 3

    page.goto(auth_server.url + "/dashboard/timeline")
    page.select_option("select[name=time_field]", "occurred")
    page.select_option("select[name=by]", "domain")
    page.get_by_role("button", name="Show").click()
    assert page.locator("#chart a.bar").first.get_attribute("aria-label") == "01 May 2024: 1 memory, 1 no domain"
    page.locator("#chart a.bar").first.click()
    page.wait_for_url("**/dashboard/memories?since=2024-05-01*time_field=occurred")
    assert page.locator("#memory-list .memory-text").all_inner_texts() == ["Hiked the Rota Vicentina."]
    page.goto(auth_server.url + "/dashboard/timeline?by=domain")
    assert page.locator("#legend li").all_inner_texts() == ["travel", "no domain"]


NODE_ON_SCREEN = """(id) => {
  const node = window.memoryGraph.$id(id).renderedPosition();
  const box = document.getElementById("graph").getBoundingClientRect();
  return [box.left + node.x, box.top + node.y];
}"""


def test_a_person_explores_the_concept_graph(page, auth_server, github):
    console_errors: list[str] = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: console_errors.append(str(error)))
    sign_in_with_github(page, auth_server.url, github, 9813, "grapher")
    key = new_key(user_id_for("grapher@example.com"))

    async def seed() -> str:
        async with mcp_client(auth_server.url, key) as client:
            ann = await call(
                client, "memory_store_concept", name="Ann", concept_type="person", description="A <b>friend</b>"
            )
            for name, kind in (("Porto", "place"), ("Acme", "organization"), ("Lisbon", "place")):
                await call(client, "memory_store_concept", name=name, concept_type=kind, description=f"{name}.")
            await call(client, "memory_add_concept_alias", concept_name="Ann", alias="Annie")
            await call(
                client, "memory_add_concept_relationship", from_concept="Ann", to_concept="Porto", rel_type="related_to"
            )
            await call(
                client, "memory_add_concept_relationship", from_concept="Ann", to_concept="Acme", rel_type="part_of"
            )
            return ann["ref"]

    ann = in_thread(seed)
    page.goto(auth_server.url + "/dashboard")
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Concept graph").click()
    page.wait_for_url("**/dashboard/graph")
    console_errors.clear()  # (the account page's avatar comes from a host these tests cannot reach)
    page.wait_for_selector("body[data-graph-drawn-ms]")
    assert page.inner_text("#graph-status").startswith("4 concepts, 2 relationships.")
    fits_every_screen(page, "graph")
    page.reload()  # laid out afresh at a desktop's width, as a person opening it there sees it
    page.wait_for_selector("body[data-graph-drawn-ms]")

    x, y = page.evaluate(NODE_ON_SCREEN, ann)
    page.mouse.click(x, y)  # a real click on the drawn node
    details = page.locator("#node-details")
    expect(details.locator("h2")).to_have_text("Ann")
    assert "A <b>friend</b>" in details.inner_text() and details.locator("b").count() == 0  # text, not markup
    assert "Also called Annie" in details.inner_text()
    assert details.locator(".relations li").all_inner_texts() == ["Ann related_to Porto", "Ann part_of Acme"]
    shot(page, "graph-ann", phone_too=True)
    details.get_by_role("link", name="Porto").click()  # along a relationship
    expect(details.locator("h2")).to_have_text("Porto")
    assert details.locator(".relations li").all_inner_texts() == ["Ann related_to Porto"]

    zoom = page.evaluate("window.memoryGraph.zoom()")
    box = page.locator("#graph").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.wheel(0, -400)
    expect_change = page.evaluate("window.memoryGraph.zoom()")
    assert expect_change > zoom  # scrolling zooms
    pan = page.evaluate("window.memoryGraph.pan()")
    page.mouse.move(box["x"] + 15, box["y"] + box["height"] - 15)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + box["height"] - 60, steps=8)
    page.mouse.up()
    assert page.evaluate("window.memoryGraph.pan()") != pan  # dragging the background pans

    details.get_by_role("link", name="Memories that mention it").click()
    page.wait_for_url("**/dashboard/memories?q=Porto")
    page.go_back()
    page.wait_for_selector("body[data-graph-drawn-ms]")
    x, y = page.evaluate(NODE_ON_SCREEN, ann)
    page.mouse.click(x, y)
    page.locator("#node-details").get_by_role("link", name="Open this concept").click()
    page.wait_for_url(f"**/dashboard/memories/{ann}")
    assert console_errors == []  # nothing refused by the page's content security policy, no script error


def test_a_large_concept_graph_is_drawn_sized_by_connections_and_answers_a_click(page, auth_server, github):
    """Past 300 concepts the graph is laid out in one pass, the most connected
    in the middle, sized by how connected each is, labelled only when chosen."""
    sign_in_with_github(page, auth_server.url, github, 9833, "cartographer")
    owner = user_id_for("cartographer@example.com")
    with session_scope() as db:
        ids = [
            db.execute(
                text("INSERT INTO concepts (owner_id, name, type) VALUES (:o, :n, 'topic') RETURNING id"),
                {"o": owner, "n": f"Topic {n:03d}"},
            ).scalar_one()
            for n in range(400)
        ]
        pairs = [(ids[0], ids[n]) for n in range(1, 26)]  # a hub with 25 relationships
        pairs += [(ids[n], ids[n + 1]) for n in range(26, 399)]  # the rest in a chain
        for source, target in pairs:
            db.execute(
                text(
                    "INSERT INTO concept_relationships (owner_id, from_concept_id, to_concept_id, rel_type) "
                    "VALUES (:o, :s, :t, 'related_to')"
                ),
                {"o": owner, "s": source, "t": target},
            )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(auth_server.url + "/dashboard/graph")
    page.wait_for_selector("body[data-graph-drawn-ms]")
    assert page.inner_text("#graph-status").startswith("400 concepts, 398 relationships.")
    hub, leaf = f"concept:{ids[0]}", f"concept:{ids[399]}"
    size = "(id) => window.memoryGraph.$id(id).width()"
    assert page.evaluate(size, hub) == 40 and page.evaluate(size, leaf) == 14
    assert page.evaluate("(id) => window.memoryGraph.$id(id).style('label')", leaf) == ""
    x, y = page.evaluate(NODE_ON_SCREEN, hub)
    page.mouse.click(x, y)
    expect(page.locator("#node-details h2")).to_have_text("Topic 000")
    assert page.locator("#node-details .relations li").count() == 25
    assert page.evaluate("(id) => window.memoryGraph.$id(id).style('label')", hub) == "Topic 000"
    fits_every_screen(page, "graph-large")
    assert errors == []


def test_a_person_sees_kept_conversations_forgets_one_and_turns_capture_off(page, auth_server, github):
    sign_in_with_github(page, auth_server.url, github, 9812, "talker")
    with session_scope() as db:
        owner = db.scalars(select(User.id).where(User.email == "talker@example.com")).one()
    api = httpx.Client(base_url=auth_server.url + "/api/v1", headers={"Authorization": f"Bearer {new_key(owner)}"})
    said = [{"speaker": "user", "text": "Let us plan the allotment"}, {"speaker": "assistant", "text": "Sure."}]
    for conversation in ("garden-chat", "tax-chat"):
        assert api.post(f"/conversations/{conversation}/turns", json={"turns": said}).status_code == 200
    page.goto(auth_server.url + "/dashboard/memories?kind=turn")  # a turn's page says where it was said
    page.locator("#memory-list a", has_text="allotment").first.click()
    page.wait_for_url("**/dashboard/memories/turn:*")
    assert page.inner_text("#conversation").endswith("(kept)")
    page.locator("#conversation").get_by_role("link", name="(kept)").click()
    page.wait_for_url(auth_server.url + "/dashboard#conversations")
    rows = page.locator("#captured tbody tr")
    expect(rows).to_have_count(2)
    tax = rows.filter(has_text="tax-chat")
    assert "2" in tax.inner_text()
    tax.get_by_text("Forget", exact=True).click()  # opens the confirmation
    tax.get_by_role("button", name="Yes, forget it").click()
    assert notice(page) == "Conversation forgotten."
    expect(page.locator("#captured tbody tr")).to_have_count(1)
    assert api.get("/conversations/tax-chat/turns").status_code == 404

    page.locator("#conversations").get_by_role("link", name="setting").click()
    page.wait_for_url("**/dashboard/settings#capture")
    page.locator("#capture").get_by_role("button", name="Turn capture off").click()
    assert notice(page) == "Conversation capture is off: turns that clients send are not kept."
    assert page.inner_text("#capture-state") == "off"
    refused = api.post("/conversations/garden-chat/turns", json={"turns": said})
    assert refused.status_code == 409 and "capture is off" in refused.json()["detail"]
    page.locator("#capture").get_by_role("button", name="Turn capture on").click()
    assert page.inner_text("#capture-state") == "on"
    assert api.post("/conversations/garden-chat/turns", json={"turns": said}).status_code == 200
    page.get_by_role("link", name="Account").click()
    assert "Conversation capture turned off" in page.inner_text("#activity")
    api.close()


def test_a_person_deletes_their_account_after_typing_their_address(page, auth_server, github):
    sign_in_with_github(page, auth_server.url, github, 9810, "departing")
    user_id = user_id_for("departing@example.com")
    store_memories(auth_server.url, new_key(user_id), ["Departing soon"])
    page.get_by_role("link", name="Settings").click()
    page.fill("input[name=confirm_email]", "someone-else@example.com")
    page.get_by_role("button", name="Delete my account").click()
    assert "type your e-mail address exactly" in page.inner_text(".error")
    assert traces_of(user_id)  # a wrong address deletes nothing
    page.fill("input[name=confirm_email]", "departing@example.com")
    shot(page, "dashboard-7-delete-account")
    page.get_by_role("button", name="Delete my account").click()
    assert page.inner_text("h1") == "Account deleted"
    assert traces_of(user_id) == {}
    page.get_by_role("link", name="Back to MemoryGate").click()
    page.wait_for_url(auth_server.url + "/dashboard")
    assert page.get_by_role("link", name="Sign in with GitHub").is_visible()  # signed out


def test_consent_allow_disconnect_and_deny_in_the_browser(page, auth_server, github, callback):
    redirect = callback.url + "/callback"
    sign_in_with_github(page, auth_server.url, github, 9803, "consenter")
    for _ in range(2):  # two registrations with one name, told apart on the page
        client_id = register_client(auth_server.url, client_name="Pocket Agent", redirect_uris=[redirect])
        client_id = client_id.json()["client_id"]
        verifier, challenge = pkce_pair()
        page.goto(authorize_url(auth_server.url, client_id, challenge, redirect_uri=redirect))
        assert "Connect Pocket Agent to your memory?" in page.inner_text("h1")
        assert page.inner_text("code.destination") == urlsplit(callback.url).netloc
        shot(page, "consent")
        forgetting = page.get_by_label("forget: delete memories and conversations for good")
        assert forgetting.is_checked()  # each right asked for comes ticked; the person may untick any
        forgetting.uncheck()
        page.get_by_role("button", name="Allow").click()
        page.wait_for_url(redirect + "?*")
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        exchanged = exchange_code(auth_server.url, client_id, code, verifier, redirect_uri=redirect)
        assert exchanged.status_code == 200 and exchanged.json()["scope"] == "memory:read memory:write"

    page.goto(auth_server.url + "/dashboard/keys")
    rows = page.locator("#connections tbody tr", has_text="Pocket Agent")
    assert rows.count() == 2
    assert all(urlsplit(callback.url).netloc in rows.nth(n).inner_text() for n in range(2))
    shot(page, "dashboard-6-connections", phone_too=True)
    fits_every_screen(page, "dashboard-connections")  # "Last used" and "Disconnect" stay in the card
    assert rows.first.locator("td[data-label=Rights]").inner_text().startswith("read, write")  # not forget
    rows.first.locator("summary", has_text="Change").click()
    rows.first.get_by_label("write: store, change and archive memories").uncheck()
    fits_every_screen(page, "dashboard-rights-change")
    rows.first.get_by_role("button", name="Keep only these").click()
    assert notice(page) == "Client's rights changed."
    narrowed = page.locator("#connections tbody tr", has_text="Pocket Agent").first
    assert narrowed.locator("td[data-label=Rights]").inner_text().startswith("read")
    assert "write" not in narrowed.locator("td[data-label=Rights]").inner_text()
    store = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "memory_store", "arguments": {}}}
    headers = {"Authorization": f"Bearer {exchanged.json()['access_token']}", "Accept": "application/json"}
    refused = httpx.post(auth_server.url + "/mcp", json=store, headers=headers)  # the newest grant: the first row
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    rows.first.get_by_role("button", name="Disconnect").click()
    assert notice(page) == "Client disconnected."
    assert page.locator("#connections tbody tr", has_text="Pocket Agent").count() == 1
    page.get_by_role("link", name="Account").click()
    activity = page.inner_text("#activity")  # each client by its name
    assert "Client's rights narrowed: Pocket Agent" in activity and "Client disconnected: Pocket Agent" in activity

    client_id = register_client(auth_server.url, client_name="Nosy Agent", redirect_uris=[redirect])
    page.goto(authorize_url(auth_server.url, client_id.json()["client_id"], pkce_pair()[1], redirect_uri=redirect))
    page.get_by_role("button", name="Deny").click()
    page.wait_for_url(redirect + "?*")
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    page.goto(auth_server.url + "/dashboard/keys")
    assert "Nosy Agent" not in page.inner_text("#connections")


def test_a_person_connects_a_client_to_one_space_on_the_consent_page(page, auth_server, github, callback):
    redirect = callback.url + "/callback"
    sign_in_with_github(page, auth_server.url, github, 9832, "one-space")
    owner = user_id_for("one-space@example.com")
    with session_scope() as db:
        spaces.create(db, user_id=owner, name="Work")
    store_memories(auth_server.url, new_key(owner), ["Keeps a diary in Portuguese"])  # in personal
    client_id = register_client(auth_server.url, client_name="Work Agent", redirect_uris=[redirect]).json()["client_id"]
    verifier, challenge = pkce_pair()
    page.goto(authorize_url(auth_server.url, client_id, challenge, redirect_uri=redirect))
    for space in ("personal", "Work", "spaces you make later, and those shared with you"):
        page.locator("#consent-spaces").get_by_label(space).select_option(label="nothing")
    page.get_by_role("button", name="Allow").click()
    assert "Let it reach at least one space" in page.inner_text("[role=alert]")  # the request stays open
    for space in ("personal", "spaces you make later, and those shared with you"):
        page.locator("#consent-spaces").get_by_label(space).select_option(label="nothing")
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(redirect + "?*")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    token = exchange_code(auth_server.url, client_id, code, verifier, redirect_uri=redirect).json()["access_token"]

    async def use_it() -> tuple[list[dict], dict, list[str]]:
        async with mcp_client(auth_server.url, token) as client:
            spaces_reached = (await call(client, "memory_bootstrap"))["spaces"]
            stored = await call(client, "memory_store", observation="Sprint demo on Thursday")
            found = await call(client, "memory_search", query="diary Portuguese", min_similarity=0)
            return spaces_reached, stored, [hit["text"] for hit in found["results"]]

    reached, stored, texts = in_thread(use_it)
    assert reached == [{"name": "Work", "default": True}]  # "all it may" there, nothing elsewhere
    assert "Keeps a diary in Portuguese" not in texts
    with session_scope() as db:
        work = db.scalars(select(Space.id).where(Space.owner_user_id == owner, Space.name == "Work")).one()
        assert db.get(Observation, stored["id"]).owner_id == work
    page.goto(auth_server.url + "/dashboard/keys")
    row = page.locator("#connections tbody tr", has_text="Work Agent")
    assert "in Work" in row.locator("td[data-label=Rights]").inner_text()

    # Another client, given every space, is narrowed to one from the account page.
    home_id = register_client(auth_server.url, client_name="Home Agent", redirect_uris=[redirect]).json()["client_id"]
    verifier, challenge = pkce_pair()
    page.goto(authorize_url(auth_server.url, home_id, challenge, redirect_uri=redirect))
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(redirect + "?*")
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    home_token = exchange_code(auth_server.url, home_id, code, verifier, redirect_uri=redirect).json()["access_token"]
    page.goto(auth_server.url + "/dashboard/keys")
    row = page.locator("#connections tbody tr", has_text="Home Agent")
    assert " in " not in row.locator("td[data-label=Rights]").inner_text()  # every space
    row.locator("summary", has_text="Change").click()
    row.get_by_label("every space, and those you make later").uncheck()
    row.get_by_label("only personal").check()
    row.get_by_role("button", name="Keep only these").click()
    assert notice(page) == "Client's rights changed."
    row = page.locator("#connections tbody tr", has_text="Home Agent")
    assert "in personal" in row.locator("td[data-label=Rights]").inner_text()

    async def search_home() -> list[str]:
        async with mcp_client(auth_server.url, home_token) as client:
            found = await call(client, "memory_search", query="sprint demo Thursday", min_similarity=0)
            return [hit["text"] for hit in found["results"]]

    assert "Sprint demo on Thursday" not in in_thread(search_home)  # the next request: work is out of reach


def test_each_sign_in_choice_on_the_oauth_page_leads_to_consent(browser_contexts, auth_server, google, github):
    redirect = "http://127.0.0.1:33418/callback"
    github.next_profile = github_profile(9804, "oauthpage")
    google.next_profile = {**google.next_profile, "sub": "google-9804", "email": "oauthpage@example.com"}
    for choice in ("Continue with GitHub", "Continue with Google"):
        page = browser_contexts().new_page()
        client_id = register_client(auth_server.url, client_name="Signing Agent").json()["client_id"]
        page.goto(authorize_url(auth_server.url, client_id, pkce_pair()[1], redirect_uri=redirect))
        assert page.inner_text("h1") == "Sign in to connect Signing Agent"
        assert page.get_by_role("button", name=LOCAL_OWNER_BUTTON).count() == 0  # not local mode
        shot(page, "oauth-signin-providers")
        page.get_by_role("link", name=choice).click()
        page.wait_for_url("**/oauth/consent?*")
        assert "Signed in as oauthpage@example.com" in page.inner_text(".consent")


def test_error_pages_share_the_look_and_lead_back(page, auth_server):
    page.goto(auth_server.url + "/oauth/consent?request=no-such-request")
    assert page.inner_text("h1") == "Authorization expired"
    assert page.locator("link[rel=icon]").count() == 1
    shot(page, "message-expired")
    page.get_by_role("link", name="Back to MemoryGate").click()
    page.wait_for_url(auth_server.url + "/dashboard")
    assert page.get_by_role("link", name="Sign in with GitHub").is_visible()


# --- with nothing configured: local mode ------------------------------------------


@pytest.fixture(scope="module")
def local_server(tmp_path_factory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("local-mode")
    server = ServerProcess(subprocess_env(MEMORYGATE_DATA_DIR=str(data), EMBEDDING_PROVIDER="none")).start()
    try:
        yield server
    finally:
        assert server.terminate()


def test_the_local_owner_signs_in_on_the_account_page(page, local_server):
    page.goto(local_server.url + "/dashboard")
    assert page.get_by_role("link", name="Sign in with GitHub").count() == 0
    shot(page, "signin-local", phone_too=True)
    page.get_by_role("button", name=LOCAL_OWNER_BUTTON).click()
    page.wait_for_url(local_server.url + "/dashboard")
    assert "local@memorygate.internal" in page.inner_text(".profile")
    # Hosted clients cannot reach a server on this computer, and the page says so.
    page.get_by_role("link", name="Connect a client").click()
    page.wait_for_url(local_server.url + "/dashboard/keys#connect")
    said = page.inner_text("#not-public")
    assert "claude.ai and ChatGPT" in said and "public https:// address" in said and "docs/deploy.md" in said
    shot(page, "dashboard-local-owner")
    page.get_by_role("button", name="Sign out", exact=True).click()
    assert page.get_by_role("button", name=LOCAL_OWNER_BUTTON).is_visible()


async def test_a_loopback_mcp_client_connects_through_chromium_with_nothing_configured(local_server, callback):
    """Claude Code, the Inspector or mcp-remote on a fresh install: the SDK
    opens its authorization URL in the browser; the person picks the local
    owner and allows; the client lists tools and stores a memory, which the
    person then sees on the account page."""
    redirect = callback.url + "/callback"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport=DESKTOP)).new_page()

            async def open_in_browser(authorization_url: str) -> None:
                await page.goto(authorization_url)
                assert "Sign in to connect Claude Code" in await page.inner_text("h1")
                await page.screenshot(path=str(ARTIFACTS / "oauth-signin-local.png"), full_page=True)
                await page.get_by_role("button", name=LOCAL_OWNER_BUTTON).click()
                await page.wait_for_url("**/oauth/consent?*")
                await page.screenshot(path=str(ARTIFACTS / "oauth-consent-local.png"), full_page=True)
                await page.get_by_role("button", name="Allow").click()
                await page.wait_for_url(redirect + "?*")

            async def code_from_browser() -> AuthorizationCodeResult:
                query = parse_qs(urlsplit(page.url).query)
                return AuthorizationCodeResult(
                    code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
                )

            auth = OAuthClientProvider(
                server_url=local_server.url + "/mcp",
                client_metadata=OAuthClientMetadata(
                    client_name="Claude Code",
                    redirect_uris=[redirect],
                    grant_types=["authorization_code", "refresh_token"],
                    response_types=["code"],
                    token_endpoint_auth_method="none",
                ),
                storage=MemoryTokenStorage(),
                redirect_handler=open_in_browser,
                callback_handler=code_from_browser,
            )
            transport = StreamableHttpTransport(local_server.url + "/mcp", auth=auth)
            async with Client(transport) as client:
                assert "memory_store" in {tool.name for tool in await client.list_tools()}
                await call(client, "memory_store", observation="Connected from a loopback client")

            await page.goto(local_server.url + "/dashboard")
            assert "local@memorygate.internal" in await page.inner_text(".profile")
            assert "Connected from a loopback client" in await page.inner_text("#recent")
            await page.get_by_role("link", name="Keys and clients").click()
            assert "Claude Code" in await page.inner_text("#connections")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-local-story.png"), full_page=True)
        finally:
            await browser.close()


def test_a_person_downloads_their_memory_and_another_imports_it(browser_contexts, auth_server, github, tmp_path):
    leaving, arriving = browser_contexts().new_page(), browser_contexts().new_page()
    sign_in_with_github(leaving, auth_server.url, github, 9820, "mover")
    store_memories(auth_server.url, new_key(user_id_for("mover@example.com")), ["Keeps bees", "Speaks Basque"])
    leaving.get_by_role("link", name="Import and export").click()
    with leaving.expect_download() as download:
        leaving.get_by_role("link", name="Download everything").click()
    exported = tmp_path / download.value.suggested_filename
    download.value.save_as(exported)
    assert exported.name.startswith("memorygate-") and '"Speaks Basque"' in exported.read_text()

    sign_in_with_github(arriving, auth_server.url, github, 9821, "arriver")
    arriving.get_by_role("link", name="Import and export").click()
    arriving.set_input_files("#transfer input[type=file]", str(exported))
    arriving.get_by_role("button", name="Preview import").click()
    assert "This file adds 1 AI instance, 2 observations." in arriving.inner_text("#import-summary")
    shot(arriving, "import-1-preview")
    arriving.get_by_role("button", name="Import").click()
    expect(arriving.locator("#import-status")).to_contain_text("Imported.")  # the page refreshes itself until done
    shot(arriving, "import-2-done")
    arriving.get_by_role("link", name="Back to your memory").click()
    assert "Speaks Basque" in arriving.inner_text("#recent")

    arriving.get_by_role("link", name="Import and export").click()
    arriving.set_input_files("#transfer input[type=file]", str(exported))
    arriving.get_by_role("button", name="Preview import").click()
    assert "There is nothing to import." in arriving.inner_text("#import")
    arriving.get_by_role("button", name="Cancel").click()
    assert notice(arriving) == "Import cancelled; nothing was added."

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"format": "memorygate", "version": 1}\n{"kind": "observation", "id": 1}\n')
    arriving.set_input_files("#transfer input[type=file]", str(broken))
    arriving.get_by_role("button", name="Preview import").click()
    assert "line 2: observation.observation is required" in arriving.inner_text(".error")


def test_a_person_brings_their_chatgpt_history_and_finds_it_by_meaning(page, auth_server, github, tmp_path):
    from tests.portability.test_history_import import chatgpt_export

    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("conversations.json", json.dumps(chatgpt_export()))
    sign_in_with_github(page, auth_server.url, github, 9822, "historian")
    page.get_by_role("link", name="Import and export").click()
    page.set_input_files("#transfer input[type=file]", str(archive))
    page.get_by_role("button", name="Preview import").click()
    assert page.inner_text("#import-source") == "A ChatGPT data export, 2 conversations."
    assert "This file adds 1 AI instance, 2 conversations, 5 conversation turns." in page.inner_text("#import-summary")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-status")).to_contain_text("Imported.")
    page.get_by_role("link", name="Back to your memory").click()
    expect(page.locator("#captured tbody tr")).to_have_count(2)
    assert "Lisbon trip" in page.inner_text("#captured")
    page.fill("#memories input[name=q]", "what makes foliage roll up on vegetable plants")
    page.locator("#memories").get_by_role("button", name="Search").click()
    assert page.locator("#search-results li").first.inner_text().startswith("Why do my tomato leaves curl?")


def test_an_import_interrupted_while_embedding_says_so_and_finishes_when_tried_again(
    page, auth_server, github, tmp_path
):
    from tests.portability.test_history_import import claude_ai_export

    upload = tmp_path / "conversations.json"
    upload.write_text(json.dumps(claude_ai_export()))
    sign_in_with_github(page, auth_server.url, github, 9823, "embedder")
    page.get_by_role("link", name="Import and export").click()
    page.set_input_files("#transfer input[type=file]", str(upload))
    page.get_by_role("button", name="Preview import").click()
    job_id = uuid.UUID(_previewed_job(page))
    with session_scope() as db:  # as a server that died while making vectors leaves it
        db.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(status="running", embedding_count=2, embedded_count=1)
            .values(updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
    page.reload()
    assert "making them searchable by meaning was interrupted" in page.inner_text("#import-status")
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#import-status")).to_contain_text("Imported.")
    with session_scope() as db:
        job = db.get_one(ImportJob, job_id)
        assert (job.embedding_count, job.embedded_count) == (2, 2)


def _previewed_job(page) -> str:
    """The import job of the preview page the upload leads to, once that page
    has loaded (reloading it while it still loads detaches the page)."""
    page.wait_for_url("**/dashboard/import/*")
    expect(page.locator("#import-summary")).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def test_an_interrupted_import_is_tried_again_from_its_page(page, auth_server, github, tmp_path):
    sign_in_with_github(page, auth_server.url, github, 9824, "retrier")
    page.get_by_role("link", name="Import and export").click()
    upload = tmp_path / "memory.jsonl"
    upload.write_text(
        '{"type": "entity", "name": "Ada", "entityType": "person", "observations": ["Writes programs"]}\n'
    )
    page.set_input_files("#transfer input[type=file]", str(upload))
    page.get_by_role("button", name="Preview import").click()
    job_id = _previewed_job(page)
    with session_scope() as db:  # as a server that died mid-import leaves it
        db.execute(
            update(ImportJob)
            .where(ImportJob.id == uuid.UUID(job_id))
            .values(status="running", updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
    page.reload()
    assert "interrupted" in page.inner_text("#import-status")
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#import-status")).to_contain_text("Imported. This file added 1 concept, 1 observation.")
    with session_scope() as db:
        assert db.get(ImportJob, uuid.UUID(job_id)).content is None  # the file is not kept once imported

    upload.write_text(upload.read_text().replace("Ada", "Grace"))  # interrupted again, and given up this time
    page.goto(auth_server.url + "/dashboard/transfer")
    page.set_input_files("#transfer input[type=file]", str(upload))
    page.get_by_role("button", name="Preview import").click()
    given_up = uuid.UUID(_previewed_job(page))
    with session_scope() as db:
        db.execute(
            update(ImportJob)
            .where(ImportJob.id == given_up)
            .values(status="running", updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
    page.reload()
    page.get_by_role("button", name="Cancel").click()
    assert notice(page) == "Import cancelled; nothing was added."
    with session_scope() as db:
        assert db.get(ImportJob, given_up) is None
