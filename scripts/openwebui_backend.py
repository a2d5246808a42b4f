"""The back end of ``scripts/e2e-openwebui.sh``: a scripted model, trioagent, and a tap.

    TRIOAGENT_API_KEY=KEY python scripts/openwebui_backend.py RECORDS_DIR

Starts, all on 127.0.0.1:

1. a fake OpenAI upstream (`trioagent.testing.FakeOpenAI`) that answers by what it is
   asked rather than from a queue: Open WebUI's background tasks (title, tags, follow-up
   suggestions, search queries) get the JSON their prompts ask for, a chat message gets a
   slowly streamed answer that quotes it, a question about the time calls Open WebUI's
   ``get_current_timestamp`` tool when it is offered, a tool result is summed up, a
   history that ends with an assistant message is continued, a message asking for an
   answer "slowly" waits 3 s first, and one with "fail" gets an upstream error;
2. ``trioagent serve chat`` as a subprocess, with two agents on that upstream (``root``;
   ``researcher``, whose memory tools have the names of Open WebUI's own) and
   ``--api-key-env TRIOAGENT_API_KEY --keep-alive 500ms``;
3. a tap: an HTTP proxy in front of trioagent that passes every request and response
   through unchanged (streams are relayed chunk by chunk) and records both.

When everything listens it prints ``TRIOAGENT_URL=http://127.0.0.1:PORT/v1`` (the tap)
on stdout, then serves until SIGINT or SIGTERM, and stops trioagent on the way out.

Records, one JSON object a line, flushed as they happen:

- ``RECORDS_DIR/upstream.jsonl``: each chat request trioagent sent to the model
  (``{"body": ..., "reply": "text"|"tool_calls"|"error"}``);
- ``RECORDS_DIR/trioagent.jsonl``: each request Open WebUI sent to trioagent, and the
  answer (``{"method", "path", "body", "status", "content_type", "response"}``);
- ``RECORDS_DIR/trioagent.log``: trioagent's log.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import httpx
import trio

from trioagent.testing import (
    FakeOpenAI,
    TextReply,
    ToolCallsReply,
    error,
    open_server_process,
    text,
    tool_calls,
)
from trioagent.testing._http import open_http_server

if TYPE_CHECKING:
    from trioagent.testing import HTTPRequest, Reply
    from trioagent.testing._http import HTTPResponder

AGENT_YAML = """\
agents:
  root:
    model: upstream
    description: trioagent's main agent (a scripted model, for the Open WebUI test)
    instruction: You are a helpful assistant served by trioagent.
    toolsets:
      - type: think
  researcher:
    model: upstream
    description: A second agent, with its own memory tools
    instruction: You research things carefully.
    toolsets:
      # Open WebUI offers tools of the same names (add_memory, search_memories, ...).
      - type: memory
models:
  upstream:
    provider: openai
    model: gpt-scripted
    base_url: {base_url}
"""

TITLE = "Trioagent Smoke Test"
TAGS = ["Technology", "Software Testing"]
FOLLOW_UPS = [
    "What else can the trioagent agent do?",
    "Show me a short example.",
    "How do I add trioagent to Open WebUI?",
]
TIME_TOOL = "get_current_timestamp"
SLOW = "slowly"
"""A message with this word is answered after `SLOW_DELAY` seconds (keep-alive comments)."""
SLOW_DELAY = 3.0
KEEP_ALIVE = "500ms"
"""trioagent's ``--keep-alive``: short, so that a slow answer has several."""
CONTINUED = " And here is the rest, continued by trioagent."
"""The answer to a history that ends with an assistant message (Open WebUI's Continue)."""
FAIL = "fail"
"""A message with this word gets an upstream error (an in-band error event)."""
CHUNK_DELAY = 0.04
"""Seconds between two streamed words of a chat answer, so streaming can be seen."""
RESPONSE_CAP = 256 * 1024
"""Bytes of each trioagent answer kept in the records."""

# Hop-by-hop and framing headers the tap does not copy (it frames the body itself).
_SKIP_REQUEST = {
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "accept-encoding",
    "te",
    "upgrade",
    "proxy-connection",
}
_SKIP_RESPONSE = {
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
}


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def reply_for(body: dict[str, Any]) -> Reply:
    """What the scripted model answers to the chat request ``body``."""
    messages = [m for m in body.get("messages", []) if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant":  # "Continue Response": go on from the partial answer
        return text(CONTINUED, chunk_delay=CHUNK_DELAY)
    if last.get("role") == "tool":
        return text(
            f"The {TIME_TOOL} tool answered: {message_text(last)}. "
            "That is the time on Open WebUI's server.",
            chunk_delay=CHUNK_DELAY,
        )
    users = [message_text(m) for m in messages if m.get("role") == "user"]
    asked = users[-1] if users else ""
    if "### Task:" in asked:
        return text(task_answer(asked))
    tools = {t.get("function", {}).get("name") for t in body.get("tools") or []}
    if "time" in asked.lower() and TIME_TOOL in tools:
        return tool_calls([("call_time_1", TIME_TOOL, "{}")])
    if SLOW in asked:
        return text(
            f"Answer after {SLOW_DELAY:g} s of thinking, kept alive by trioagent.", delay=SLOW_DELAY
        )
    if FAIL in asked:
        return error(400, "the scripted model refuses this request")
    turn = len(users)
    answer = (
        f"Answer {turn} from trioagent: you said \u201c{asked}\u201d. "
        "This reply is **streamed** word by word through `trioagent serve chat`."
    )
    if turn > 1:
        answer += f" Earlier you said \u201c{users[-2]}\u201d."
    return text(answer, chunk_delay=CHUNK_DELAY)


def task_answer(prompt: str) -> str:
    """The JSON an Open WebUI background task prompt asks for."""
    if '"title"' in prompt:
        return json.dumps({"title": TITLE})
    if '"tags"' in prompt:
        return json.dumps({"tags": TAGS})
    if '"follow_ups"' in prompt:
        return json.dumps({"follow_ups": FOLLOW_UPS})
    if '"queries"' in prompt:
        return json.dumps({"queries": []})
    return "{}"


@attrs.define(eq=False, kw_only=True)
class ScenarioUpstream(FakeOpenAI):
    """A fake upstream that answers each chat request by its content (`reply_for`)."""

    log: Any = None
    """A text file: each chat request is written to it as a JSON line."""

    async def answer(self, reply: Reply, body: dict[str, Any], responder: HTTPResponder) -> None:
        del reply  # the queue is not used
        chosen = reply_for(body)
        if self.log is not None:
            kind = (
                "text"
                if isinstance(chosen, TextReply)
                else "tool_calls"
                if isinstance(chosen, ToolCallsReply)
                else "error"
            )
            self.log.write(json.dumps({"body": body, "reply": kind}) + "\n")
            self.log.flush()
        await super().answer(chosen, body, responder)


@attrs.define(eq=False)
class Tap:
    """Relays requests to trioagent unchanged and records each exchange."""

    target: str
    """trioagent's base URL, e.g. ``http://127.0.0.1:PORT``."""
    log: Any
    client: httpx.AsyncClient

    async def handle(self, request: HTTPRequest, responder: HTTPResponder) -> None:
        headers = [(k, v) for k, v in request.headers.items() if k not in _SKIP_REQUEST]
        record: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "body": request.json
            if request.json is not None
            else (request.body.decode(errors="replace") or None),
        }
        received = bytearray()
        try:
            upstream = self.client.build_request(
                request.method,
                self.target + request.path,
                headers=headers,
                content=request.body or None,
            )
            response = await self.client.send(upstream, stream=True)
            try:
                record["status"] = response.status_code
                record["content_type"] = response.headers.get("content-type")
                responder.start(
                    response.status_code,
                    [
                        (k, v)
                        for k, v in response.headers.multi_items()
                        if k.lower() not in _SKIP_RESPONSE
                    ],
                )
                async for chunk in response.aiter_raw():
                    if len(received) < RESPONSE_CAP:
                        received += chunk
                    responder.write(chunk)
                    await responder.flush()
                await responder.end()
            finally:
                await response.aclose()
        except httpx.HTTPError as exc:
            record["status"] = 502
            record["tap_error"] = repr(exc)
            if not responder.started:
                await responder.respond_json(
                    502,
                    {
                        "error": {
                            "message": f"tap: {exc!r}",
                            "type": "server_error",
                            "param": None,
                            "code": "tap_error",
                        }
                    },
                )
        finally:
            record["response"] = received.decode(errors="replace")
            self.log.write(json.dumps(record) + "\n")
            self.log.flush()


async def main(records: Path) -> None:
    key = os.environ.get("TRIOAGENT_API_KEY")
    if not key:
        sys.exit("openwebui_backend: set TRIOAGENT_API_KEY")
    with (
        trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals,
        (records / "upstream.jsonl").open("w") as upstream_log,
        (records / "trioagent.jsonl").open("w") as tap_log,
    ):
        upstream = ScenarioUpstream(log=upstream_log)
        async with upstream.running():
            agent_file = records / "agent.yaml"
            agent_file.write_text(AGENT_YAML.format(base_url=upstream.base_url))
            env = {**os.environ, "OPENAI_API_KEY": "sk-scripted"}
            async with open_server_process(
                "chat",
                str(agent_file),
                "--api-key-env",
                "TRIOAGENT_API_KEY",
                "--working-dir",
                str(records),
                "--keep-alive",
                KEEP_ALIVE,
                env=env,
            ) as server:
                (records / "trioagent.log").write_text(server.startup_log)
                async with trio.open_nursery() as logs:
                    logs.start_soon(copy_log, server.process, records / "trioagent.log")
                    async with (
                        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
                        open_http_server(Tap(server.base_url, tap_log, client).handle) as tap,
                    ):
                        print(f"TRIOAGENT_URL=http://127.0.0.1:{tap.port}/v1", flush=True)
                        say(
                            f"upstream {upstream.base_url}, trioagent {server.url}, "
                            f"tap http://127.0.0.1:{tap.port}/v1"
                        )
                        async for _ in signals:
                            break
                    # The tap and its connections are closed: nothing holds trioagent up.
                    stopping = trio.current_time()
                    server.process.terminate()
                    with trio.move_on_after(10):
                        await server.process.wait()
                    say(
                        f"trioagent stopped {trio.current_time() - stopping:.1f} s after "
                        f"SIGTERM (exit status {server.process.returncode})"
                    )
                    logs.cancel_scope.deadline = trio.current_time() + 1


def say(message: str) -> None:
    print(f"openwebui_backend: {message}", file=sys.stderr, flush=True)


async def copy_log(process: trio.Process, path: Path) -> None:
    """Append the server's stderr to ``path`` as it comes."""
    assert process.stderr is not None
    with path.open("ab") as log:
        async for data in process.stderr:
            log.write(data)
            log.flush()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
    trio.run(main, Path(sys.argv[1]))
