"""The web chat page (``GET /``) in a real headless Chromium, against a real server.

The server and the fake upstream run in trio, in the test; the browser is driven with
Playwright's sync API in a worker thread (its async API would need asyncio). Every scripted
reply is queued before the browser starts, so the thread never touches trio objects.

Without ``/usr/bin/chromium`` or the ``playwright`` package the browser tests are skipped,
unless ``TRIOAGENT_REQUIRE_BROWSER=1`` (CI) makes that a failure. ``TRIOAGENT_SCREENSHOT=1``
writes ``docs/web-chat.png``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import trio

from trioagent.testing import FakeOpenAI, hang, text, tool_calls

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "web-chat.png"
TIMEOUT_MS = 10_000

ANSWER = """\
Here is **bold** and `code`, as asked.

- streamed *word by word*
- rendered as [Markdown](https://commonmark.org)

```python
print("hello from trioagent")
```"""

Scenario = Callable[["Page"], None]


@pytest.fixture
def browser() -> Callable[[str, Scenario], Any]:
    """``await browser(url, scenario)`` runs ``scenario(page)`` on a fresh page at ``url``."""
    required = os.environ.get("TRIOAGENT_REQUIRE_BROWSER") == "1"
    missing = [
        what
        for what, present in [
            ("the playwright package", importlib.util.find_spec("playwright") is not None),
            (str(CHROMIUM), CHROMIUM.exists()),
        ]
        if not present
    ]
    if missing:
        message = f"browser test needs {' and '.join(missing)}"
        if required:
            pytest.fail(f"{message} (TRIOAGENT_REQUIRE_BROWSER=1)")
        pytest.skip(message)

    def drive(url: str, scenario: Scenario) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
            )
            try:
                page = chromium.new_page(viewport={"width": 1000, "height": 760})
                page.set_default_timeout(TIMEOUT_MS)
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(url)
                scenario(page)
                assert not errors, f"the page's script failed: {errors}"
            finally:
                chromium.close()

    async def run(url: str, scenario: Scenario) -> None:
        with trio.fail_after(90):
            await trio.to_thread.run_sync(drive, url, scenario)

    return run


def expect_connected(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_have_text("Connected")


def send(page: Page, message: str) -> None:
    page.locator("#input").fill(message)
    page.get_by_role("button", name="Send").click()


async def test_answer_streams_as_markdown_with_tools_and_survives_a_reload(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(
        tool_calls([("t1", "think", '{"thought": "x"}')]),
        text(ANSWER, chunk_delay=0.05),
    )

    def scenario(page: Page) -> None:
        from playwright.sync_api import expect

        deltas: list[str] = []
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda frame: deltas.append(frame) if '"type":"delta"' in frame else None,
            ),
        )
        expect_connected(page)
        expect(page.get_by_role("heading", name="Chat with root")).to_be_visible()
        send(page, "Show me some Markdown")

        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".note.meta")).to_have_text(re.compile(r"\d+ tokens"))
        assert len(deltas) > 5, "the answer arrives in many delta frames"
        expect(answer.locator(".markdown strong")).to_have_text("bold")
        expect(answer.locator(".markdown code").first).to_have_text("code")
        expect(answer.locator(".markdown li em")).to_have_text("word by word")
        expect(answer.locator(".markdown a")).to_have_attribute("href", "https://commonmark.org")
        expect(answer.locator("pre code")).to_have_text('print("hello from trioagent")')
        tool = answer.locator("details.tool")
        expect(tool).to_have_count(1)
        expect(tool).not_to_have_attribute("open", "")
        expect(tool.locator("summary")).to_contain_text("think")
        expect(tool.locator(".tool-result")).not_to_be_visible()
        tool.locator("summary").click()
        expect(tool.locator("pre").first).to_contain_text('"thought": "x"')
        expect(tool.locator(".tool-result")).to_be_visible()
        expect(page.get_by_role("button", name="Send")).to_be_visible()

        stored = json.loads(page.evaluate("localStorage.getItem('trioagent.chat')"))
        conversation = stored["conversations"]["root"]
        page.reload()
        expect_connected(page)
        expect(page.locator(".msg.user")).to_have_text("Show me some Markdown")
        answer = page.locator(".msg.assistant").last
        expect(answer.locator(".markdown strong")).to_have_text("bold")
        expect(answer.locator("details.tool summary")).to_contain_text("think")
        stored = json.loads(page.evaluate("localStorage.getItem('trioagent.chat')"))
        assert stored["conversations"]["root"] == conversation

        if os.environ.get("TRIOAGENT_SCREENSHOT") == "1":
            answer.locator("details.tool summary").click()
            page.locator("#input").fill("Thanks! Now")
            page.screenshot(path=str(SCREENSHOT), animations="disabled")

    async with start_server(api="api") as server:
        await browser(server.url + "/", scenario)
    assert len(fake.requests) == 2


async def test_stop_button_cancels_the_running_turn(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(hang(), text("Still here."))

    def scenario(page: Page) -> None:
        from playwright.sync_api import expect

        expect_connected(page)
        send(page, "Take your time")
        stop = page.get_by_role("button", name="Stop")
        expect(stop).to_be_visible()
        expect(page.locator(".typing")).to_be_visible()
        # Stop only once the model call is out: a stop that beats it would leave the
        # hanging reply queued for the next message.
        for _ in range(400):
            if fake.requests:
                break
            page.wait_for_timeout(25)
        assert fake.requests, "the model call never reached the upstream"
        stop.click()
        expect(page.locator(".note.stopped")).to_contain_text("Stopped")
        expect(stop).to_be_hidden()
        expect(page.locator(".msg.assistant [aria-busy]")).to_have_count(0)

        send(page, "Are you there?")  # the connection lives on
        expect(page.locator(".msg.assistant .markdown").last).to_have_text("Still here.")

    async with start_server(api="api") as server:
        await browser(server.url + "/", scenario)


async def test_page_reconnects_after_the_socket_drops(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(text("Saved answer."), hang())

    def scenario(page: Page) -> None:
        from playwright.sync_api import WebSocketRoute, expect

        sockets: list[WebSocketRoute] = []

        def through_proxy(route: WebSocketRoute) -> None:
            route.connect_to_server()
            sockets.append(route)

        page.route_web_socket(re.compile(r"/v1/ws$"), through_proxy)
        page.reload()
        expect_connected(page)
        send(page, "Before the drop")
        expect(page.locator(".msg.assistant .markdown")).to_have_text("Saved answer.")
        send(page, "Hang on")
        expect(page.get_by_role("button", name="Stop")).to_be_visible()

        sockets[-1].close(code=4000, reason="network gone")
        expect(page.locator("#status")).to_contain_text("retrying")
        expect_connected(page)
        assert len(sockets) == 2
        expect(page.locator(".msg.user")).to_have_text(["Before the drop"])
        expect(page.locator("#input")).to_have_value("Hang on")  # given back, to send again

    async with start_server(api="api") as server:
        await browser(server.url + "/", scenario)


async def test_agent_picker_switches_agents_each_with_its_conversation(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(text("Root here."), text("Helper here."))

    def scenario(page: Page) -> None:
        from playwright.sync_api import expect

        expect_connected(page)
        send(page, "Hi root")
        expect(page.locator(".msg.assistant .markdown")).to_have_text("Root here.")
        page.get_by_label("Agent").select_option("helper")
        expect(page.get_by_role("heading", name="Chat with helper")).to_be_visible()
        send(page, "Hi helper")
        expect(page.locator(".msg.assistant .markdown")).to_have_text("Helper here.")
        page.get_by_label("Agent").select_option("root")
        expect(page.locator(".msg.user")).to_have_text("Hi root")
        page.get_by_role("button", name="New chat").click()
        expect(page.get_by_role("heading", name="Chat with root")).to_be_visible()
        expect(page.locator(".msg")).to_have_count(0)

    async with start_server(api="api") as server:
        await browser(server.url + "/", scenario)
    assert fake.requests[1].json["messages"][-1]["content"] == "Hi helper"


async def test_model_html_is_shown_as_text_never_as_markup(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(
        text(
            '<img src=x onerror="window.pwned=1"> [click](javascript:window.pwned=1) '
            '**<b>x</b>** `<i>y</i>` [ok](https://example.com/?a=1&b="2")'
        )
    )

    def scenario(page: Page) -> None:
        from playwright.sync_api import expect

        expect_connected(page)
        send(page, "Try <script>window.pwned=1</script>")
        answer = page.locator(".msg.assistant .markdown")
        expect(answer).to_contain_text('<img src=x onerror="window.pwned=1">')
        expect(answer).to_contain_text("[click](javascript:window.pwned=1)")
        expect(page.locator(".msg.user")).to_have_text("Try <script>window.pwned=1</script>")
        assert answer.locator("img, b, i, script").count() == 0
        expect(answer.locator("strong")).to_have_text("<b>x</b>")
        expect(answer.locator("code")).to_have_text("<i>y</i>")
        expect(answer.locator("a")).to_have_count(1)
        expect(answer.locator("a")).to_have_attribute("href", 'https://example.com/?a=1&b="2"')
        assert page.evaluate("window.pwned") is None

    async with start_server(api="api") as server:
        await browser(server.url + "/", scenario)


async def test_api_key_server_asks_for_the_key_and_keeps_it(
    start_server: Any, fake: FakeOpenAI, browser: Any
) -> None:
    fake.enqueue(text("You are in."))

    def scenario(page: Page) -> None:
        from playwright.sync_api import expect

        key = page.get_by_label("API key")
        expect(key).to_be_visible()
        expect(page.locator("#status")).to_have_text("API key needed")
        key.fill("wrong")
        page.get_by_role("button", name="Connect").click()
        expect(page.locator("#key-message")).to_contain_text("not accepted")
        key.fill("sekrit")
        page.get_by_role("button", name="Connect").click()
        expect_connected(page)
        expect(key).to_be_hidden()
        send(page, "Let me in")
        expect(page.locator(".msg.assistant .markdown")).to_have_text("You are in.")

        page.reload()  # the key and the conversation are kept
        expect_connected(page)
        expect(key).to_be_hidden()
        expect(page.locator(".msg.assistant .markdown")).to_have_text("You are in.")

    async with start_server(api="api", api_keys=("sekrit",)) as server:
        await browser(server.url + "/", scenario)


# The routes, over plain HTTP (no browser needed).


@pytest.mark.parametrize("api", ["chat", "api"], ids=["serve-chat", "serve-api"])
async def test_page_and_files_are_public_and_revalidated(start_server: Any, api: str) -> None:
    async with start_server(api=api, api_keys=("sekrit",)) as server, server.http() as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.headers["Cache-Control"] == "no-cache"
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
        assert 'src="static/app.js"' in page.text
        for name, content_type in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("style.css", "text/css; charset=utf-8"),
        ]:
            asset = await http.get(f"/static/{name}")
            assert asset.status_code == 200
            assert asset.headers["Content-Type"] == content_type
            assert asset.headers["Cache-Control"] == "no-cache"
            again = await http.get(
                f"/static/{name}", headers={"If-None-Match": asset.headers["ETag"]}
            )
            assert again.status_code == 304
            assert again.content == b""
        assert (
            await http.get("/v1/models" if api == "chat" else "/api/sessions/x")
        ).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/../app.py",
        "/static/..%2Fapp.py",
        "/static/%2e%2e/guards.py",
        "/static/index.html",
        "/static/",
        "/static/sub/app.js",
    ],
    ids=["unknown", "dotdot", "encoded-slash", "encoded-dots", "index", "empty", "subdir"],
)
async def test_static_route_serves_only_its_own_files(start_server: Any, path: str) -> None:
    async with start_server() as server, server.http() as http:
        response = await http.get(path)
    assert response.status_code in (401, 404)
    assert b"import" not in response.content
