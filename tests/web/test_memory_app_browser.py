"""The memory browser as an MCP App, in Chromium inside a minimal host.

The host is what an app-rendering client does, written from the MCP Apps
extension (io.modelcontextprotocol/ui, protocol 2026-01-26): it finds the
tool's ``_meta.ui.resourceUri`` in tools/list, reads that resource over MCP,
renders it in a sandboxed frame under the extension's default Content
Security Policy, answers ``ui/initialize``, sends the tool's input and
result, and passes the app's ``tools/call`` requests to the server through a
real MCP client holding one credential. The app inside is ours, with the
extension SDK's own App class.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from core.principal import READ_SCOPE
from memory import browser_app, spaces
from models import Observation
from tests.support import mcp_client, new_key, new_user, session_scope
from tests.web.test_dashboard_browser import ARTIFACTS, browser_contexts, in_thread  # noqa: F401 (a fixture)

# What the extension says a host applies when the resource declares no domains.
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'"
)

HOST = """
<!doctype html><html><head><title>test host</title></head><body><main id="conversation"></main><script>
window.startApp = (appHtml, toolInput, toolResult) => {
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "allow-scripts");
  frame.title = "MemoryGate";
  frame.style.cssText = "width: 100%; height: 400px; border: 1px solid #ccc";
  frame.srcdoc = appHtml;
  const post = (message) => frame.contentWindow.postMessage({ jsonrpc: "2.0", ...message }, "*");
  window.seen = [];
  window.addEventListener("message", async (event) => {
    if (event.source !== frame.contentWindow) return;
    const message = event.data;
    window.seen.push(message.method || "response");
    if (message.method === "ui/initialize") {
      post({ id: message.id, result: {
        protocolVersion: message.params.protocolVersion,
        hostInfo: { name: "test host", version: "1" },
        hostCapabilities: { serverTools: {} },
        hostContext: { theme: "dark", displayMode: "inline", locale: "en-US" },
      } });
    } else if (message.method === "ui/notifications/initialized") {
      post({ method: "ui/notifications/tool-input", params: { arguments: toolInput } });
      post({ method: "ui/notifications/tool-result", params: toolResult });
    } else if (message.method === "tools/call") {
      const result = await window.callTool(message.params.name, message.params.arguments || {});
      post({ id: message.id, result });
    } else if (message.method === "ui/notifications/size-changed") {
      frame.style.height = Math.max(200, message.params.height) + "px";
    } else if (message.id !== undefined && message.method) {
      post({ id: message.id, error: { code: -32601, message: "not supported by this host" } });
    }
  });
  document.getElementById("conversation").append(frame);
};
</script></body></html>
"""


def _mcp(server_url: str, key: str, work) -> Any:
    async def run() -> Any:
        async with mcp_client(server_url, key) as client:
            return await work(client)

    return in_thread(run)


def _wire(result: Any) -> dict:
    """A tools/call result as it travels in JSON-RPC."""
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


@pytest.fixture
def page(browser_contexts) -> Page:  # noqa: F811 (the fixture, by name)
    return browser_contexts().new_page()


def open_app(page: Page, server_url: str, key: str, arguments: dict) -> FrameLocator:
    """What a host does when the model calls memory_browse: find the tool's
    app, read it, call the tool, and show both."""

    async def discover(client) -> tuple[str, str, dict]:
        tools = {tool.name: tool for tool in await client.list_tools()}
        uri = tools["memory_browse"].meta["ui"]["resourceUri"]
        listed = {str(resource.uri): resource for resource in await client.list_resources()}
        assert listed[uri].mime_type == "text/html;profile=mcp-app"
        (content,) = (await client.read_resource_mcp(uri)).contents
        assert content.mime_type == "text/html;profile=mcp-app"
        return uri, content.text, _wire(await client.call_tool_mcp("memory_browse", arguments))

    uri, html, first = _mcp(server_url, key, discover)
    assert uri == browser_app.BROWSER_URI
    guarded = html.replace("<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{DEFAULT_CSP}">', 1)

    def call_tool(name: str, args: dict) -> dict:
        return _mcp(server_url, key, lambda client: _call(client, name, args))

    page.expose_function("callTool", call_tool)
    page.set_content(HOST)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.evaluate("([html, input, result]) => startApp(html, input, result)", [guarded, arguments, first])
    app = page.frame_locator("iframe[title=MemoryGate]")
    expect(app.locator("body[data-ready=true]")).to_be_attached()
    assert not problems, problems
    return app


async def _call(client, name: str, args: dict) -> dict:
    return _wire(await client.call_tool_mcp(name, args))


def _memories(app: FrameLocator) -> list[str]:
    return app.locator("#memories .text").all_inner_texts()


def _text_of(observation_id: int) -> Observation | None:
    with session_scope() as db:
        return db.get(Observation, observation_id)


def _store(server_url: str, key: str, texts: list[tuple[str, str | None]]) -> list[dict]:
    async def store(client) -> list[dict]:
        stored = []
        for text, space in texts:
            answer = await client.call_tool(
                "memory_store", {"observation": text, **({"space": space} if space else {})}
            )
            stored.append(answer.structured_content)
        return stored

    return _mcp(server_url, key, store)


def _id(ref: str) -> int:
    return int(ref.split(":")[1])


def test_the_memory_browser_app_lists_searches_edits_archives_and_forgets(page, server):
    owner, _ = new_user("app")
    with session_scope() as db:
        spaces.create(db, user_id=owner, name="Work")
    stored = _store(
        server.url,
        new_key(owner),
        [
            ("Ann drinks green tea every afternoon", None),
            ("Ann moved to Porto in 2024", None),
            ("The Falcon launch is on 14 March", "Work"),
        ],
    )
    tea, porto, falcon = (_id(each["ref"]) for each in stored)
    # The connection's credential reaches only the default space: the app shows what it may, no more.
    key = new_key(owner, space_ids=[owner])
    app = open_app(page, server.url, key, {})
    assert sorted(_memories(app)) == ["Ann drinks green tea every afternoon", "Ann moved to Porto in 2024"]
    assert "dark" in (app.locator("html").get_attribute("class") or "")  # the host's theme
    page.screenshot(path=ARTIFACTS / "memory-app.png", full_page=True)

    # Search, by meaning and words; Enter in the box searches too.
    app.get_by_label("Search your memory").fill("green tea")
    app.get_by_role("button", name="Show").click()
    expect(app.locator("#memories .text").first).to_have_text("Ann drinks green tea every afternoon")
    app.get_by_label("Search your memory").fill("Porto")
    app.get_by_label("Search your memory").press("Enter")
    expect(app.locator("#memories .text").first).to_have_text("Ann moved to Porto in 2024")

    # Edit: a new version; the old one kept and replaced.
    app.get_by_label("Search your memory").fill("")
    app.get_by_role("button", name="Show").click()
    item = app.locator(f"#memories > li[data-ref='observation:{porto}']")
    item.get_by_role("button", name="Edit").click()
    item.get_by_label("New text").fill("Ann moved to Faro")
    item.get_by_role("button", name="Cancel").click()  # nothing saved, the memory as it was
    expect(item.locator(".text")).to_have_text("Ann moved to Porto in 2024")
    assert _text_of(porto).superseded_by_id is None
    item.get_by_role("button", name="Edit").click()
    item.get_by_label("New text").fill("Ann moved to Lisbon in 2026")
    item.get_by_role("button", name="Save as a new version").click()
    expect(app.locator("#status")).to_have_text("Saved as a new version; the old one is kept in its history.")
    assert "Ann moved to Lisbon in 2026" in _memories(app)
    old = _text_of(porto)
    assert old is not None and old.superseded_by_id is not None
    assert _text_of(old.superseded_by_id).observation == "Ann moved to Lisbon in 2026"

    # Archive, find it in the archive, bring it back.
    app.locator(f"#memories > li[data-ref='observation:{tea}']").get_by_role("button", name="Archive").click()
    expect(app.locator("#status")).to_contain_text("Archived")
    assert "Ann drinks green tea every afternoon" not in _memories(app)
    assert _text_of(tea).archived_at is not None
    app.get_by_label("Archive").select_option("only")
    app.get_by_role("button", name="Show").click()
    expect(app.locator("#memories .text")).to_have_text(["Ann drinks green tea every afternoon"])
    app.get_by_role("button", name="Bring back").click()
    expect(app.locator("#status")).to_have_text("Brought back.")
    assert _text_of(tea).archived_at is None

    # Forget asks first; "Keep it" keeps it, "Yes" deletes it.
    app.get_by_label("Archive").select_option("exclude")
    app.get_by_role("button", name="Show").click()
    item = app.locator(f"#memories > li[data-ref='observation:{tea}']")
    item.get_by_role("button", name="Forget").click()
    expect(item).to_contain_text("Forget it for good?")
    item.get_by_role("button", name="Keep it").click()
    assert _text_of(tea) is not None
    item.get_by_role("button", name="Forget").click()
    item.get_by_role("button", name="Yes, forget it").click()
    expect(app.locator("#status")).to_have_text("Forgotten.")
    assert _text_of(tea) is None and "Ann drinks green tea every afternoon" not in _memories(app)
    assert _text_of(falcon) is not None  # the other space, never reached


def test_the_app_pages_and_shows_a_read_only_credentials_refusal(page, server):
    owner, _ = new_user("appread")
    stored = _store(server.url, new_key(owner), [(f"Fact number {n:02d}", None) for n in range(30)])
    key = new_key(owner, scopes=(READ_SCOPE,))
    app = open_app(page, server.url, key, {"type": "observation"})
    assert app.get_by_label("Type").input_value() == "observation"  # the call's input, shown
    assert len(_memories(app)) == 25 and _memories(app)[0] == "Fact number 29"
    app.get_by_role("button", name="More").click()
    expect(app.locator("#memories .text")).to_have_count(30)
    expect(app.get_by_role("button", name="More")).to_be_hidden()

    app.locator("#memories > li").first.get_by_role("button", name="Archive").click()
    expect(app.locator("#problem")).to_contain_text("write")  # the tool's own one-line refusal
    assert _text_of(_id(stored[-1]["ref"])).archived_at is None


def test_memory_browse_answers_compactly_and_the_resource_is_self_contained(server):
    owner, _ = new_user("appwire")
    _store(server.url, new_key(owner), [("Prefers a window seat", None)])

    async def look(client) -> tuple[dict, str]:
        answer = await client.call_tool_mcp("memory_browse", {})
        (content,) = (await client.read_resource_mcp(browser_app.BROWSER_URI)).contents
        return _wire(answer), content.text

    answer, html = _mcp(server.url, new_key(owner), look)
    (memory,) = answer["structuredContent"]["memories"]
    assert set(memory) == {"ref", "type", "text", "at"}  # nothing empty or false is sent
    assert answer["structuredContent"]["more"] is False
    # One document: no script, style or frame is fetched from anywhere.
    assert " src=" not in html and "<link" not in html and "import " not in html.split("const McpApps=")[1]
