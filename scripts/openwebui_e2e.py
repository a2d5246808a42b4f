"""The browser half of ``scripts/e2e-openwebui.sh``: Open WebUI against trioagent.

    python scripts/openwebui_e2e.py --webui URL --records DIR [--chromium PATH]
        [--screenshot PNG] [--failure-screenshot PNG]

Drives a running Open WebUI (whose only OpenAI connection is trioagent, through the tap of
``scripts/openwebui_backend.py``) in headless Chromium, like a person would:

1. saves sampling settings as Settings > Advanced Parameters would (Open WebUI then sends
   them, Ollama's included, with every message);
2. picks agent ``researcher`` in the model picker (``root`` is preselected), so the answers
   prove which trioagent agent ran; its memory tools share names with Open WebUI's own;
3. sends a message and watches the answer stream in, piece by piece;
4. waits for the chat title (in the sidebar), the tags and the follow-up suggestions that
   Open WebUI asks the model for in the background;
5. clicks a follow-up suggestion (the second message, continuing the chat), then asks the
   time: the model calls Open WebUI's own ``get_current_timestamp`` tool (a client tool:
   trioagent ends its turn with ``tool_calls``, Open WebUI runs the tool and sends the
   result back), and the answer uses the result;
6. saves the screenshot, then opens a new chat with agent ``root``: a slow answer (sent
   after keep-alive comments), "Continue Response" on it, then an upstream failure (an
   in-band error event), which Open WebUI shows;
7. checks the records: every request Open WebUI sent got a 2xx, the background tasks were
   answered with their JSON, the second model call carried the first exchange, the
   sampling settings reached the model, no tool was offered twice, and the tool round trip,
   the keep-alives and the in-band error followed the wire contract.

Exits 1 with a message naming the failed check.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from playwright.sync_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openwebui_backend import CONTINUED, FAIL, FOLLOW_UPS, SLOW, TAGS, TIME_TOOL, TITLE

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
AGENT = "researcher"
AGENT_INSTRUCTION = "You research things carefully."
SHADOWED = {"add_memory", "delete_memory", "search_memories", "update_memory"}
"""Tools of the agent's memory toolset that Open WebUI offers too, under the same names."""
FIRST = "Hello trioagent, who are you?"
SECOND = FOLLOW_UPS[0]
THIRD = "What time is it?"
SLOW_MESSAGE = f"Please answer {SLOW}."
FAIL_MESSAGE = f"Now {FAIL}, please."
TIMEOUT_MS = 30_000
ADVANCED_PARAMS = {
    "temperature": 0.4,
    "top_p": 0.9,
    "max_tokens": 800,
    "seed": 7,
    "stop": "<|end|>, ###",
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
    "reasoning_effort": "low",
    # Ollama's, forwarded to an OpenAI connection all the same:
    "top_k": 40,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
    "num_ctx": 4096,
}
FORWARDED = {
    "temperature": 0.4,
    "top_p": 0.9,
    "max_tokens": 800,
    "seed": 7,
    "stop": ["<|end|>", "###"],
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
}
"""What the model should get of `ADVANCED_PARAMS`. trioagent ignores the fields it does not
know, and accepts ``reasoning_effort`` but does not pass it on (yet)."""


T = TypeVar("T")


class Failure(Exception):
    """A check failed; the message says which and what was seen."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failure(message)


def found(value: T | None, message: str) -> T:
    """``value``, unless it is None: then the check named by ``message`` failed."""
    if value is None:
        raise Failure(message)
    return value


def ok(message: str) -> None:
    print(f"  ok: {message}", flush=True)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def task_kind(body: Any) -> str | None:
    """``title``, ``tags``, ``follow_ups``, ``queries`` for an Open WebUI task request."""
    if not isinstance(body, dict):
        return None
    users = [text_of(m) for m in body.get("messages", []) if m.get("role") == "user"]
    if not users or "### Task:" not in users[-1]:
        return None
    for kind in ("title", "tags", "follow_ups", "queries"):
        if f'"{kind}"' in users[-1]:
            return kind
    return "other"


# The browser.


def wait_until(condition: Any, what: str, timeout: float = TIMEOUT_MS / 1000) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def open_chat(page: Page, url: str) -> None:
    page.goto(url)
    page.locator("#chat-input").wait_for()
    # A new user first sees "What's New"; later visits do not.
    page.wait_for_timeout(1000)
    go = page.get_by_text("Okay, Let's Go!")
    if go.is_visible():
        go.click()
    ok("Open WebUI loaded (no login: WEBUI_AUTH=False)")


def set_advanced_params(page: Page) -> None:
    """Save sampling settings as Settings > General > Advanced Parameters does, and reload:
    Open WebUI sends them with every chat message, the Ollama-only ones included."""
    saved = page.evaluate(
        """async params => {
            const auth = {Authorization: `Bearer ${localStorage.token}`,
                          'Content-Type': 'application/json'};
            const current = await (await fetch('/api/v1/users/user/settings',
                {headers: auth})).json();
            const ui = {...(current?.ui ?? {}), params};
            const r = await fetch('/api/v1/users/user/settings/update',
                {method: 'POST', headers: auth, body: JSON.stringify({ui})});
            return r.status;
        }""",
        ADVANCED_PARAMS,
    )
    check(saved == 200, f"saving the advanced parameters failed: HTTP {saved}")
    page.reload()
    page.locator("#chat-input").wait_for()
    ok(f"saved advanced parameters {sorted(ADVANCED_PARAMS)}")


def pick_agent(page: Page, agent: str = AGENT) -> None:
    page.locator("#model-selector-model-button").first.click()
    options = page.locator("button[role=option][data-value]")
    options.first.wait_for()
    listed = options.evaluate_all("els => els.map(e => e.dataset.value)")
    check(
        listed == ["root", "researcher"],
        f"the model picker should list trioagent's agents root and researcher, got {listed}",
    )
    page.locator(f'button[role=option][data-value="{agent}"]').click()
    check(
        agent in page.locator("#model-selector-model-button").first.inner_text(),
        f"agent {agent} was not selected",
    )
    ok(f"model picker lists {listed}; picked {agent}")


def send(page: Page, message: str) -> None:
    box = page.locator("#chat-input")
    box.click()
    page.keyboard.type(message)
    page.keyboard.press("Enter")


def watch_stream(page: Page, marker: str, end: str) -> list[int]:
    """Wait for the assistant message containing ``marker`` to end with ``end``; return
    the lengths it was seen with on the way (more than one: it streamed)."""
    seen: list[int] = []
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        content = page.evaluate(
            """marker => {
                const all = [...document.querySelectorAll('.chat-assistant')];
                const hit = all.reverse().find(e => e.innerText.includes(marker));
                return hit ? hit.innerText : null;
            }""",
            marker,
        )
        if content is not None:
            if not seen or seen[-1] != len(content):
                seen.append(len(content))
            if end in content:
                return seen
        time.sleep(0.03)
    last = page.evaluate("""() => {
        const all = document.querySelectorAll('[id^=message-]');
        return all.length ? all[all.length - 1].innerText : null;
    }""")
    raise Failure(
        f"the answer containing {marker!r} did not reach {end!r} "
        f"(lengths seen: {seen}); the last message reads: {last!r}"
    )


def scenario(page: Page, url: str, records: Path) -> None:
    upstream = records / "upstream.jsonl"
    open_chat(page, url)
    set_advanced_params(page)
    pick_agent(page)

    send(page, FIRST)
    lengths = watch_stream(page, "Answer 1 from trioagent", "serve chat.")
    check(len(lengths) >= 3, f"the first answer did not stream: lengths seen {lengths}")
    ok(f"first answer streamed in ({len(lengths)} renders, lengths {lengths[:3]}..{lengths[-1]})")

    open_sidebar(page)
    page.locator("#sidebar").get_by_text(TITLE).first.wait_for()
    wait_until(lambda: page.title().startswith(TITLE), "the page title")
    ok(f"the generated title {TITLE!r} shows in the sidebar and the page title")
    for suggestion in FOLLOW_UPS:
        page.get_by_text(suggestion).first.wait_for(timeout=TIMEOUT_MS)
    ok(f"{len(FOLLOW_UPS)} follow-up suggestions show under the answer")
    wait_until(
        lambda: any(task_kind(r["body"]) == "tags" for r in read_jsonl(upstream)),
        "the tags request",
    )
    chat_id = wait_until(lambda: re.search(r"/c/([\w-]+)", page.url), "the chat URL").group(1)
    tags = wait_until(
        lambda: page.evaluate(
            """async id => {
            const r = await fetch(`/api/v1/chats/${id}/tags`,
                {headers: {Authorization: `Bearer ${localStorage.token}`}});
            const tags = await r.json();
            return tags.length ? tags.map(t => t.name) : null;
        }""",
            chat_id,
        ),
        "the chat's tags",
    )
    check(
        {t.lower() for t in TAGS} <= {t.lower() for t in tags},
        f"the chat's tags should be {TAGS}, got {tags}",
    )
    ok(f"the chat got tags {tags}")

    # The second message is the first follow-up suggestion, clicked.
    page.get_by_text(SECOND).first.click()
    page.wait_for_timeout(500)
    if SECOND in page.locator("#chat-input").inner_text():
        page.locator("#chat-input").click()
        page.keyboard.press("Enter")
    watch_stream(page, "Answer 2 from trioagent", f"Earlier you said \u201c{FIRST}\u201d.")
    ok("clicked a follow-up suggestion: the second answer streamed in, quoting the first message")

    send(page, THIRD)
    page.get_by_text(f"The {TIME_TOOL} tool answered:").first.wait_for(timeout=TIMEOUT_MS)
    ok(f"third message: the model called Open WebUI's {TIME_TOOL} tool and used its result")
    # Let the last background tasks (follow-ups) finish before the picture.
    for suggestion in FOLLOW_UPS:
        page.get_by_text(suggestion).first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(500)


def second_chat(page: Page) -> None:
    """A new chat with agent root: a slow answer, kept alive, then an upstream error."""
    page.locator('[aria-label="New Chat"]:visible').first.click()
    wait_until(lambda: page.locator(".chat-assistant").count() == 0, "an empty new chat")
    page.locator("#chat-input").wait_for()
    pick_agent(page, "root")
    send(page, SLOW_MESSAGE)
    page.get_by_text("kept alive by trioagent").first.wait_for(timeout=TIMEOUT_MS)
    ok("new chat with agent root: a slow answer arrived after keep-alive comments")
    page.locator('[aria-label="Continue Response"]:visible').last.click()
    page.get_by_text(CONTINUED.strip()).first.wait_for(timeout=TIMEOUT_MS)
    ok("Continue Response: the agent went on from its partial answer")
    send(page, FAIL_MESSAGE)
    # trioagent words the error itself: it never passes on an upstream's own text.
    shown = page.get_by_text("The model provider failed").first
    shown.wait_for(timeout=TIMEOUT_MS)
    ok(f"an upstream error mid-stream shows in the chat: {shown.inner_text()!r}")


def open_sidebar(page: Page) -> None:
    button = page.locator('[aria-label="Open Sidebar"]')
    if button.count() and button.first.is_visible():
        button.first.click()
        page.wait_for_timeout(500)


# The records.


def streamed_text(response: str) -> str:
    """The text of a recorded SSE answer: its ``delta.content`` pieces, joined."""
    pieces = []
    for block in response.split("\n\n"):
        if block.startswith("data: {"):
            for choice in json.loads(block[len("data: ") :]).get("choices", []):
                pieces.append(choice["delta"].get("content") or "")
    return "".join(pieces)


def last_user(body: dict[str, Any]) -> str:
    users = [text_of(m) for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def check_records(records: Path) -> None:
    exchanges = read_jsonl(records / "trioagent.jsonl")
    upstream = read_jsonl(records / "upstream.jsonl")
    check(exchanges, "the tap recorded no request from Open WebUI")
    bad = [
        (e["method"], e["path"], e["status"], e["response"][:300])
        for e in exchanges
        if not 200 <= e["status"] < 300
    ]
    check(not bad, f"trioagent answered Open WebUI with errors: {bad}")
    chats = [e for e in exchanges if e["path"] == "/v1/chat/completions"]
    ok(
        f"all {len(exchanges)} requests Open WebUI sent to trioagent got 2xx "
        f"({len(chats)} chat completions)"
    )
    messages = [e for e in chats if task_kind(e["body"]) is None]
    agents = {last_user(e["body"]): e["body"].get("model") for e in messages}
    expected_agents = {
        FIRST: AGENT,
        SECOND: AGENT,
        THIRD: AGENT,
        SLOW_MESSAGE: "root",
        FAIL_MESSAGE: "root",
    }
    check(agents == expected_agents, f"each message should go to the agent picked for it: {agents}")
    ok(f"each message went to the agent picked for its chat: {sorted(set(agents.values()))}")

    for kind, expected in (
        ("title", {"title": TITLE}),
        ("tags", {"tags": TAGS}),
        ("follow_ups", {"follow_ups": FOLLOW_UPS}),
    ):
        tasks = [e for e in chats if task_kind(e["body"]) == kind]
        check(tasks, f"Open WebUI sent no {kind} request")
        for task in tasks:
            check(not task["body"].get("stream"), f"the {kind} request was streamed")
            answer = json.loads(task["response"])["choices"][0]["message"]["content"]
            check(json.loads(answer) == expected, f"the {kind} answer was {answer!r}")
        ok(f"{kind}: {len(tasks)} request(s), each answered 200 with {json.dumps(expected)[:60]}")

    for exchange in messages:
        sent = {k: exchange["body"].get(k) for k in ADVANCED_PARAMS}
        check(
            sent == {**ADVANCED_PARAMS, "stop": FORWARDED["stop"]},
            f"Open WebUI should send the advanced parameters with each message: {sent}",
        )
    ok(f"Open WebUI sent the advanced parameters with all {len(messages)} chat messages")

    talks = [r["body"] for r in upstream if task_kind(r["body"]) is None]
    for body in talks:
        got = {k: body.get(k) for k in FORWARDED}
        check(got == FORWARDED, f"the model should get {FORWARDED}, got {got}")
    ok(f"trioagent passed {sorted(FORWARDED)} on to the model in all {len(talks)} calls")
    research = [b for b in talks if text_of(b["messages"][0]) == AGENT_INSTRUCTION]
    check(research, f"no model call had the instruction of agent {AGENT} first")
    for body in talks:
        offered = [t["function"]["name"] for t in body.get("tools") or []]
        twice = sorted({n for n in offered if offered.count(n) > 1})
        check(not twice, f"the model was offered tools twice: {twice}")
        if body in research:
            check(SHADOWED <= set(offered), f"the agent's memory tools are missing: {offered}")
    ok(
        f"agent {AGENT}'s own {sorted(SHADOWED)} shadow Open WebUI's tools of those names; "
        "no tool offered twice"
    )

    second = found(
        next((b for b in research if text_of(b["messages"][-1]) == SECOND), None),
        "the model never saw the second message",
    )
    roles = [(m["role"], text_of(m)[:40]) for m in second["messages"]]
    users = [text_of(m) for m in second["messages"] if m["role"] == "user"]
    assistants = [text_of(m) for m in second["messages"] if m["role"] == "assistant"]
    check(
        users[-2:] == [FIRST, SECOND]
        and any(a.startswith("Answer 1 from trioagent") for a in assistants),
        f"the second model call should carry the first exchange, got {roles}",
    )
    ok("the second model call carried the first exchange (user, assistant, user)")

    offering = [e for e in chats if e["body"].get("tools")]
    names = sorted({t["function"]["name"] for e in offering for t in e["body"]["tools"]})
    check(offering, "Open WebUI offered no tools (native function calling)")
    ok(
        f"Open WebUI offered its {len(names)} built-in tools ({', '.join(names[:4])}, ...) "
        f"with {len(offering)} requests, all accepted"
    )
    call = found(
        next((e for e in chats if '"finish_reason":"tool_calls"' in e["response"]), None),
        f"trioagent never answered with tool_calls for {TIME_TOOL}",
    )
    check(TIME_TOOL in call["response"], "the tool_calls answer names the wrong tool")
    back = found(
        next(
            (e for e in chats if any(m.get("role") == "tool" for m in e["body"]["messages"])), None
        ),
        "Open WebUI never sent the tool result back",
    )
    tail = [m["role"] for m in back["body"]["messages"]][-3:]
    check(
        tail[-2:] == ["assistant", "tool"],
        f"the tool result request should end with assistant + tool messages: {tail}",
    )
    ok(
        f"client tool round trip: finish_reason tool_calls, then Open WebUI sent "
        f"{tail} and trioagent finished the turn"
    )

    slow = next(e for e in messages if last_user(e["body"]) == SLOW_MESSAGE)
    beats = slow["response"].count(": keep-alive")
    check(beats >= 2, f"the slow answer should come after keep-alive comments: {beats}")
    ok(f"the slow answer came after {beats} ': keep-alive' comments, which Open WebUI skipped")
    continued = [e for e in messages if e["body"]["messages"][-1]["role"] == "assistant"]
    check(continued, "Open WebUI sent no request for Continue Response")
    check(
        streamed_text(continued[0]["response"]) == CONTINUED,
        f"the continued answer should be {CONTINUED!r}: {continued[0]['response'][:300]}",
    )
    resumed = [r["body"] for r in upstream if r["body"]["messages"][-1]["role"] == "assistant"]
    check(
        resumed and text_of(resumed[0]["messages"][-1]).startswith("Answer after"),
        "the model should get the partial answer as the last message",
    )
    ok("Continue Response: the history ended with the partial answer, which reached the model")
    failed = next(e for e in messages if last_user(e["body"]) == FAIL_MESSAGE)
    events = [
        block[len("data: ") :]
        for block in failed["response"].split("\n\n")
        if block.startswith("data: ")
    ]
    check(events[-1] == "[DONE]", f"the failed stream should end with [DONE]: {events[-2:]}")
    error = json.loads(events[-2]).get("error") or {}
    check(
        error.get("code") == "upstream_error",
        f"the failed stream should end with an in-band upstream_error: {events[-2]}",
    )
    ok(f"the upstream failure came in-band ({error['code']}: {error['message'][:50]}...)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webui", required=True, help="Open WebUI's URL")
    parser.add_argument("--records", required=True, type=Path, help="the back end's records")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshot", type=Path, help="the picture of the first chat")
    parser.add_argument(
        "--failure-screenshot", type=Path, help="where to save the page when a step fails"
    )
    args = parser.parse_args()

    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                scenario(page, args.webui, args.records)
                if args.screenshot:
                    open_sidebar(page)
                    args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(args.screenshot))
                    ok(f"screenshot of the chat: {args.screenshot}")
                second_chat(page)
            except BaseException:
                if args.failure_screenshot:
                    page.screenshot(path=str(args.failure_screenshot))
                    print(f"  the page at the failure: {args.failure_screenshot}", flush=True)
                raise
            finally:
                browser.close()
        check_records(args.records)
    except (Failure, PlaywrightError) as exc:
        print(f"openwebui_e2e: FAILED: {exc}", file=sys.stderr)
        if errors:
            print(f"openwebui_e2e: page errors: {errors}", file=sys.stderr)
        return 1
    if errors:
        print(f"  note: page errors (not failures): {errors}", flush=True)
    print("openwebui_e2e: all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
