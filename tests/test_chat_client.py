"""``trioagent chat URL`` as a real subprocess, against a server running in the test."""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from trioagent.chat_client import websocket_url
from trioagent.config import AgentFile, parse_agent_file
from trioagent.server.app import ApiKind, serve_agents
from trioagent.server.options import ServeOptions
from trioagent.testing import FakeOpenAI, error, hang, text, tool_calls
from trioagent.testing import trioagent_command as trioagent

AGENT_YAML = """\
agents:
  root:
    model: upstream
    instruction: You are a helpful test agent.
    welcome_message: Hello from root.
    toolsets:
      - type: think
  helper:
    model: upstream
    instruction: You help.
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""

CLIENT_ENV = {k: v for k, v in os.environ.items() if k not in ("TRIOAGENT_API_KEY", "NO_COLOR")}


@pytest.fixture
def agent_file(fake: FakeOpenAI) -> AgentFile:
    """The agent file of ``start_server`` (tests/conftest.py): root has a welcome message."""
    return parse_agent_file(AGENT_YAML.format(base_url=fake.base_url), source="agent.yaml", env={})


@pytest.fixture
async def server(start_server: Any) -> AsyncIterator[Any]:
    async with start_server(api="api") as server:
        yield server


@attrs.define(eq=False)
class Output:
    """One output pipe of the client, read into `text` as it comes."""

    text: str = ""
    ended: bool = False
    _changed: trio.Event = attrs.Factory(trio.Event)

    async def pump(self, stream: trio.abc.ReceiveStream) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        async with stream:
            while chunk := await stream.receive_some():
                self._add(decoder.decode(chunk))
        self.ended = True
        self._add(decoder.decode(b"", final=True))

    async def wait_for(self, needle: str, count: int = 1) -> None:
        """Wait until ``needle`` was written ``count`` times in all."""
        while self.text.count(needle) < count:
            if self.ended:
                raise AssertionError(f"{needle!r} never came; got {self.text!r}")
            await self._changed.wait()

    def _add(self, text: str) -> None:
        self.text += text
        self._changed.set()
        self._changed = trio.Event()


@attrs.define(eq=False)
class ChatProcess:
    process: trio.Process
    stdout: Output = attrs.Factory(Output)
    stderr: Output = attrs.Factory(Output)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send_all(f"{line}\n".encode())

    async def close_stdin(self) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.aclose()

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)


@asynccontextmanager
async def open_chat(
    url: str, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[ChatProcess]:
    """Run ``trioagent chat URL ARGS`` with piped stdin, stdout and stderr."""
    process = await trio.lowlevel.open_process(
        trioagent("chat", url, *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=CLIENT_ENV if env is None else env,
    )
    chat = ChatProcess(process)
    try:
        async with trio.open_nursery() as nursery:
            assert process.stdout is not None
            assert process.stderr is not None
            nursery.start_soon(chat.stdout.pump, process.stdout)
            nursery.start_soon(chat.stderr.pump, process.stderr)
            try:
                yield chat
            finally:
                if process.returncode is None:
                    process.kill()
    finally:
        with trio.CancelScope(shield=True):
            await process.wait()
            if process.stdin is not None:
                await process.stdin.aclose()


async def test_help_describes_the_command_with_examples() -> None:
    with trio.fail_after(30):
        result = await trio.run_process(trioagent("chat", "--help"), capture_stdout=True)
    for part in (
        b"usage: trioagent chat",
        b"URL",
        b"--api-key",
        b"TRIOAGENT_API_KEY",
        b"--agent",
        b"--conversation",
        b"--verbose",
        b"/new",
        b"/agent NAME",
        b"/agents",
        b"/quit",
        b"examples:",
    ):
        assert part in result.stdout


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8083", "ws://127.0.0.1:8083/v1/ws"),
        ("http://127.0.0.1:8083/", "ws://127.0.0.1:8083/v1/ws"),
        ("http://127.0.0.1:8083/v1", "ws://127.0.0.1:8083/v1/ws"),
        ("http://127.0.0.1:8083/api/chat", "ws://127.0.0.1:8083/v1/ws"),
        ("https://agents.example.com/v1/", "wss://agents.example.com/v1/ws"),
        ("ws://localhost:9000", "ws://localhost:9000/v1/ws"),
        ("wss://h.example/v1/ws", "wss://h.example/v1/ws"),
        ("127.0.0.1:8083", "ws://127.0.0.1:8083/v1/ws"),
        ("https://h.example/proxy/v1", "wss://h.example/proxy/v1/ws"),
    ],
    ids=["http", "slash", "v1", "api-chat", "https", "ws", "ws-full", "no-scheme", "prefix"],
)
def test_websocket_url_accepts_every_url_a_server_prints(url: str, expected: str) -> None:
    assert websocket_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["ftp://h.example", "http://", "mailto:x@y", "h.example:port"],
    ids=["ftp", "no-host", "mailto", "bad-port"],
)
def test_websocket_url_refuses_what_is_not_a_server_url(url: str) -> None:
    with pytest.raises(ValueError, match="URL: expected http://HOST:PORT"):
        websocket_url(url)


@pytest.mark.parametrize(
    ("api", "path"), [("api", ""), ("chat", "/v1")], ids=["serve-api", "serve-chat"]
)
async def test_a_message_streams_its_answer_to_stdout(
    fake: FakeOpenAI, start_server: Any, api: ApiKind, path: str
) -> None:
    fake.enqueue(text("Hello there, friend.", chunks=["Hello", " there,", " friend."]))
    with trio.fail_after(30):
        async with start_server(api=api) as server, open_chat(server.url + path) as chat:
            await chat.send("hi")
            await chat.stdout.wait_for("friend.\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    assert chat.stdout.text == "Hello there, friend.\n"  # no prompt when stdin is a pipe
    assert chat.stderr.text.strip() == "Hello from root."
    assert fake.requests[0].json["messages"][-1] == {"role": "user", "content": "hi"}


async def test_two_messages_make_one_conversation(fake: FakeOpenAI, server: Any) -> None:
    fake.enqueue(text("Nice to meet you, Ann."), text("You are Ann."))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("My name is Ann.")
            await chat.stdout.wait_for("Ann.\n")
            await chat.send("Who am I?")
            await chat.stdout.wait_for("You are Ann.\n")
            await chat.send("/quit")
            assert await chat.process.wait() == 0
    messages = fake.requests[-1].json["messages"]
    assert [(m["role"], m["content"]) for m in messages if m["role"] != "system"] == [
        ("user", "My name is Ann."),
        ("assistant", "Nice to meet you, Ann."),
        ("user", "Who am I?"),
    ]


def _system(request_json: dict[str, Any]) -> str:
    return " ".join(m["content"] for m in request_json["messages"] if m["role"] == "system")


async def test_agent_command_switches_agent_and_keeps_the_conversation(
    fake: FakeOpenAI, server: Any
) -> None:
    fake.enqueue(text("root here"), text("helper here"))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("first")
            await chat.stdout.wait_for("root here\n")
            await chat.send("/agents")
            await chat.stdout.wait_for("  helper\n")
            await chat.send("/agent nobody")
            await chat.stderr.wait_for("trioagent: error: Unknown agent 'nobody'")
            await chat.send("/agent helper")
            await chat.stderr.wait_for("[talking to helper]")
            await chat.send("second")
            await chat.stdout.wait_for("helper here\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    assert "* root\n  helper\n" in chat.stdout.text
    assert "You are a helpful test agent." in _system(fake.requests[0].json)
    assert "You help." in _system(fake.requests[1].json)
    assert "You are a helpful test agent." not in _system(fake.requests[1].json)
    contents = [m["content"] for m in fake.requests[1].json["messages"]]
    assert contents[-3:] == ["first", "root here", "second"]


async def test_new_command_starts_a_fresh_conversation(fake: FakeOpenAI, server: Any) -> None:
    fake.enqueue(text("one"), text("two"))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("remember 42")
            await chat.stdout.wait_for("one\n")
            await chat.send("/bogus")
            await chat.stderr.wait_for("trioagent: error: unknown command /bogus")
            await chat.send("/new")
            await chat.stderr.wait_for("[new conversation]")
            await chat.send("what number?")
            await chat.stdout.wait_for("two\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    contents = [m["content"] for m in fake.requests[1].json["messages"] if m["role"] != "system"]
    assert contents == ["what number?"]


async def test_tool_activity_goes_to_stderr_one_line_each(fake: FakeOpenAI, server: Any) -> None:
    fake.enqueue(tool_calls([("c1", "think", '{"thought": "plan it"}')]), text("Planned."))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("plan")
            await chat.stdout.wait_for("Planned.\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    assert chat.stdout.text == "Planned.\n"
    assert '[tool think {"thought": "plan it"}]\n[tool think done]\n' in chat.stderr.text


async def test_ctrl_c_during_a_turn_cancels_it_and_the_chat_goes_on(
    fake: FakeOpenAI, server: Any
) -> None:
    fake.enqueue(hang(), text("After the cancel."))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("never answered")
            await fake.wait_requests(1)
            chat.interrupt()
            await chat.stderr.wait_for("[cancelled]")
            await chat.send("answered")
            await chat.stdout.wait_for("After the cancel.\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    await fake.wait_disconnects(1)  # the hanging upstream call was cancelled
    contents = [m["content"] for m in fake.requests[1].json["messages"] if m["role"] != "system"]
    assert contents == ["answered"]


async def test_second_ctrl_c_during_a_turn_exits_130(fake: FakeOpenAI, server: Any) -> None:
    fake.enqueue(hang())
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("never answered")
            await fake.wait_requests(1)
            chat.interrupt()
            await chat.stderr.wait_for("[cancelling")
            chat.interrupt()
            assert await chat.process.wait() == 130


async def test_ctrl_c_at_the_prompt_exits_130(fake: FakeOpenAI, server: Any) -> None:
    fake.enqueue(text("done"))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("hi")
            await chat.stdout.wait_for("done\n")
            chat.interrupt()
            assert await chat.process.wait() == 130
    assert "[cancelled]" not in chat.stderr.text


@pytest.mark.parametrize("key", ["wrong-key", None], ids=["wrong-key", "no-key"])
async def test_refused_api_key_exits_1_saying_what_to_fix(
    start_server: Any, key: str | None
) -> None:
    args = ("--api-key", key) if key else ()
    with trio.fail_after(30):
        async with (
            start_server(api="api", api_keys=("right-key",)) as server,
            open_chat(server.url, *args) as chat,
        ):
            assert await chat.process.wait() == 1
    lines = chat.stderr.text.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("trioagent: error: the server ")
    assert "--api-key" in lines[0]
    assert "TRIOAGENT_API_KEY" in lines[0]


async def test_api_key_from_the_environment(fake: FakeOpenAI, start_server: Any) -> None:
    fake.enqueue(text("let in"))
    with trio.fail_after(30):
        async with (
            start_server(api="api", api_keys=("right-key",)) as server,
            open_chat(server.url, env={**CLIENT_ENV, "TRIOAGENT_API_KEY": "right-key"}) as chat,
        ):
            await chat.send("hi")
            await chat.stdout.wait_for("let in\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0


async def test_a_failed_turn_prints_the_error_and_the_chat_goes_on(
    fake: FakeOpenAI, server: Any
) -> None:
    fake.enqueue(error(400, "the upstream did not like it"), text("Better now."))
    with trio.fail_after(30):
        async with open_chat(server.url) as chat:
            await chat.send("bad")
            await chat.stderr.wait_for("trioagent: error: ")
            await chat.send("good")
            await chat.stdout.wait_for("Better now.\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    contents = [m["content"] for m in fake.requests[-1].json["messages"] if m["role"] != "system"]
    assert contents == ["good"]


async def test_conversation_flag_resumes_and_verbose_shows_id_and_usage(
    fake: FakeOpenAI, server: Any
) -> None:
    fake.enqueue(text("first answer", usage=(7, 2)), text("second answer"))
    with trio.fail_after(30):
        async with open_chat(server.url, "-v") as chat:
            await chat.send("first")
            await chat.stderr.wait_for("[usage: 7 prompt + 2 completion = 9 tokens]")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
        line = next(ln for ln in chat.stderr.text.splitlines() if ln.startswith("[agent root"))
        conversation = line.removesuffix("]").split("conversation ")[1]
        async with open_chat(server.url, "--conversation", conversation) as chat:
            await chat.stderr.wait_for(f"[resumed conversation {conversation}: 2 messages]")
            await chat.send("second")
            await chat.stdout.wait_for("second answer\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    assert "[usage" not in chat.stderr.text  # only with --verbose
    contents = [m["content"] for m in fake.requests[1].json["messages"] if m["role"] != "system"]
    assert contents == ["first", "first answer", "second"]


async def test_client_answers_pings_at_the_prompt_and_during_a_turn(
    fake: FakeOpenAI, start_server: Any
) -> None:
    # The server closes a connection that leaves a ping unanswered for 0.25 s: a slow
    # answer and an idle prompt both outlast that several times over.
    fake.enqueue(text("slow", delay=1.0), text("still here"))
    with trio.fail_after(30):
        async with (
            start_server(api="api", ws_ping_interval=0.25) as server,
            open_chat(server.url) as chat,
        ):
            await chat.send("slow one")
            await chat.stdout.wait_for("slow\n")
            await trio.sleep(1.0)  # idle at the prompt: what is under test, not a sync
            await chat.send("again")
            await chat.stdout.wait_for("still here\n")
            await chat.close_stdin()
            assert await chat.process.wait() == 0
    assert "error" not in chat.stderr.text


async def test_server_closing_the_connection_exits_1_with_how_to_resume(
    agent_file: AgentFile, fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.enqueue(text("hi"))
    options = ServeOptions(
        host="127.0.0.1", port=0, sessions=":memory:", working_dir=tmp_path, shutdown_grace=0.2
    )
    stop = trio.Event()
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            url = await nursery.start(
                partial(
                    serve_agents, agent_file, options, "api", env={}, shutdown_trigger=stop.wait
                )
            )
            async with open_chat(url) as chat:
                await chat.send("hello")
                await chat.stdout.wait_for("hi\n")
                stop.set()
                assert await chat.process.wait() == 1
    last = chat.stderr.text.strip().splitlines()[-1]
    assert last.startswith("trioagent: error: the server closed the connection")
    assert "--conversation" in last


async def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nothing listens on this port now
    with trio.fail_after(30):
        result = await trio.run_process(
            trioagent("chat", f"http://127.0.0.1:{port}"),
            capture_stderr=True,
            check=False,
            env=CLIENT_ENV,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 1
    message = result.stderr.decode().strip()
    assert message.startswith(f"trioagent: error: cannot connect to ws://127.0.0.1:{port}/v1/ws")
    assert len(message.splitlines()) == 1
