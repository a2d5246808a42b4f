"""--safety end to end: a model's shell and file-writing calls under each policy."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openai
import pytest
import trio

from trioagent.server.options import ServeOptions
from trioagent.testing import FakeOpenAI, open_fake_openai, text, tool_calls
from trioagent.testing.process import open_server_process

StartServer = Any
AGENT_YAML = """\
agents:
  root:
    model: upstream
    toolsets: [{{type: shell}}]
models:
  upstream: {{provider: openai, model: gpt-test, base_url: "{base_url}"}}
"""
USER = [{"role": "user", "content": "do it"}]


@pytest.mark.parametrize(
    ("host", "safety", "expected"),
    [
        ("127.0.0.1", None, "standard"),
        ("::1", None, "standard"),
        ("localhost", None, "standard"),
        ("0.0.0.0", None, "restricted"),
        ("::", None, "restricted"),
        ("10.1.2.3", None, "restricted"),
        ("0.0.0.0", "off", "off"),
        ("127.0.0.1", "restricted", "restricted"),
    ],
)
def test_default_policy_depends_on_the_listen_address(
    host: str, safety: str | None, expected: str
) -> None:
    options = ServeOptions(host=host, safety=safety, api_keys=("k",))  # type: ignore[arg-type]
    assert options.tool_safety == expected


def tool_message(fake: FakeOpenAI) -> dict[str, str]:
    """The tool result the model saw in its second call."""
    message: dict[str, str] = fake.requests[1].json["messages"][-1]
    assert message["role"] == "tool"
    return message


async def test_restricted_refuses_a_model_shell_call(
    start_server: StartServer,
    fake: FakeOpenAI,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.enqueue(tool_calls([("c1", "shell", '{"cmd": "touch ran"}')]), text("Sorry."))
    with caplog.at_level(logging.WARNING, logger="trioagent.tools.policy"), trio.fail_after(10):
        async with start_server(safety="restricted") as server, server.openai() as client:
            reply = await client.chat.completions.create(model="root", messages=USER)
    assert reply.choices[0].message.content == "Sorry."
    assert "disabled by this server's safety policy" in tool_message(fake)["content"]
    assert not (tmp_path / "ran").exists()
    assert any("refused a call of shell" in r.getMessage() for r in caplog.records)
    # The model was told up front too.
    offered = {
        t["function"]["name"]: t["function"]["description"] for t in fake.requests[0].json["tools"]
    }
    assert "Disabled on this server" in offered["shell"]
    assert "Disabled on this server" not in offered["read_file"]


async def test_standard_runs_the_same_call(
    start_server: StartServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    fake.enqueue(tool_calls([("c1", "shell", '{"cmd": "touch ran"}')]), text("Done."))
    with trio.fail_after(10):
        async with start_server(safety="standard") as server, server.openai() as client:
            await client.chat.completions.create(model="root", messages=USER)
    assert (tmp_path / "ran").exists()
    assert "[exit code: 0]" in tool_message(fake)["content"]


async def test_restricted_refuses_file_writes_but_reads(
    start_server: StartServer, fake: FakeOpenAI, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("kept")
    fake.enqueue(
        tool_calls(
            [
                ("c1", "write_file", '{"path": "notes.txt", "content": "gone"}'),
                ("c2", "read_file", '{"path": "notes.txt"}'),
            ]
        ),
        text("ok"),
    )
    with trio.fail_after(10):
        async with start_server(safety="restricted") as server, server.openai() as client:
            await client.chat.completions.create(model="root", messages=USER)
    write, read = fake.requests[1].json["messages"][-2:]
    assert "disabled by this server's safety policy" in write["content"]
    assert read["content"] == "kept"
    assert (tmp_path / "notes.txt").read_text() == "kept"


async def test_serving_beyond_loopback_defaults_to_restricted(tmp_path: Path) -> None:
    async with open_fake_openai() as fake:
        agent = tmp_path / "agent.yaml"
        agent.write_text(AGENT_YAML.format(base_url=fake.base_url))
        work = tmp_path / "work"
        work.mkdir()
        fake.enqueue(tool_calls([("c1", "shell", '{"cmd": "touch ran"}')]), text("No."))
        with trio.fail_after(30):
            async with open_server_process(
                "chat",
                str(agent),
                "--api-key",
                "k",
                "--working-dir",
                str(work),
                listen="0.0.0.0:0",
            ) as server:
                assert "tool safety: restricted" in server.startup_line
                port = server.url.rsplit(":", 1)[1].split("/")[0]
                async with openai.AsyncOpenAI(
                    base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0
                ) as client:
                    await client.chat.completions.create(model="root", messages=USER)
        assert "disabled by this server's safety policy" in tool_message(fake)["content"]
        assert not (work / "ran").exists()
