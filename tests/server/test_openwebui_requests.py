"""The request bodies Open WebUI sends, replayed against a real server.

``openwebui_requests.json`` holds bodies that Open WebUI 0.12.4 sent to trioagent, recorded
by ``scripts/e2e-openwebui.sh`` (which drives the real Open WebUI in a browser): a chat
message with Open WebUI's 36 built-in tools, the background tasks (title, tags, follow-up
suggestions), a continued chat, and a client tool round trip. They go out here as
recorded, agent name included (``researcher``, as in the end-to-end test), with its memory
toolset, whose tool names Open WebUI's built-in tools share. The last tests send variants
of them that Open WebUI's source builds (usage, no streaming, an attached image).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from trioagent.config import parse_agent_file
from trioagent.testing import FakeOpenAI, text, tool_calls

RECORDED = json.loads((Path(__file__).parent / "openwebui_requests.json").read_text())

AGENT_YAML = """\
agents:
  root:
    model: upstream
    instruction: You are a helpful assistant.
    toolsets:
      - type: think
  researcher:
    model: upstream
    instruction: You research things carefully.
    toolsets:
      - type: memory
models:
  upstream:
    provider: openai
    model: gpt-test
    base_url: {base_url}
"""
AGENT_MEMORY_TOOLS = {
    "add_memory",
    "get_memories",
    "delete_memory",
    "search_memories",
    "update_memory",
}


def recorded(name: str) -> dict[str, Any]:
    """A recorded body, with Open WebUI's tool list put back in."""
    body = dict(RECORDED["requests"][name])
    if body.get("tools") == "$tools":
        body["tools"] = RECORDED["tools"]
    return body


def data_events(body: str) -> list[Any]:
    """The JSON of each ``data:`` event of an SSE body, ``[DONE]`` as a string."""
    events = []
    for block in body.split("\n\n"):
        if block.startswith("data: "):
            payload = block[len("data: ") :]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


@pytest.fixture
async def server(start_server, fake: FakeOpenAI, tmp_path: Path):
    agents = parse_agent_file(
        AGENT_YAML.format(base_url=fake.base_url), source="agent.yaml", env={}
    )
    async with start_server(agents, working_dir=tmp_path) as server:
        yield server


async def post(server, body: dict[str, Any]):
    async with server.http() as http:
        # Open WebUI posts its JSON with aiohttp, as application/json.
        return await http.post(
            "/v1/chat/completions",
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )


@pytest.mark.parametrize(
    ("task", "answer"),
    [
        ("title", '{"title": "Trioagent Smoke Test"}'),
        ("tags", '{"tags": ["Technology", "Software Testing"]}'),
        ("follow_ups", '{"follow_ups": ["What else can you do?"]}'),
    ],
)
async def test_background_task_is_answered_with_the_models_json(
    server, fake: FakeOpenAI, task: str, answer: str
) -> None:
    fake.enqueue(text(answer))
    with trio.fail_after(10):
        response = await post(server, recorded(task))
    assert response.status_code == 200, response.text
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == answer
    assert completion["choices"][0]["finish_reason"] == "stop"
    sent = fake.requests[0].json
    assert sent["messages"][-1]["content"].startswith("### Task:")
    if task == "title":
        assert sent["max_tokens"] == 1000


async def test_chat_message_with_open_webui_tools_streams(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello from the agent"))
    with trio.fail_after(10):
        response = await post(server, recorded("chat"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    events = data_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        == "Hello from the agent"
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    open_webui_tools = [t["function"]["name"] for t in RECORDED["tools"]]
    assert len(offered) == len(set(offered))  # no name twice
    assert set(open_webui_tools) - AGENT_MEMORY_TOOLS <= set(offered)
    assert AGENT_MEMORY_TOOLS <= set(offered)


async def test_agent_memory_tools_shadow_open_webui_ones(
    server, fake: FakeOpenAI, tmp_path: Path
) -> None:
    """Open WebUI offers add_memory, search_memories, update_memory and delete_memory on
    every message; an agent with a memory toolset has tools of those names. That was a
    400 ("rename it") for every message; now the agent's tools win."""
    fake.enqueue(
        tool_calls([("c1", "add_memory", '{"memory": "likes trio"}')]),
        text("Noted."),
    )
    with trio.fail_after(10):
        response = await post(server, recorded("chat"))
    assert response.status_code == 200, response.text
    chunks = data_events(response.text)[:-1]
    assert not any(c["choices"][0]["delta"].get("tool_calls") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # The agent ran its own add_memory, and the model saw the agent's spec of it.
    assert "likes trio" in (tmp_path / "memories.json").read_text()
    tools = {t["function"]["name"]: t["function"] for t in fake.requests[0].json["tools"]}
    assert tools["add_memory"]["description"] == "Add a new memory to the database"
    assert "list_memories" in tools  # Open WebUI's tools without a twin stay offered
    assert fake.requests[1].json["messages"][-1]["role"] == "tool"


async def test_continued_chat_carries_the_history(server, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Answer 2"))
    body = recorded("continued")
    with trio.fail_after(10):
        response = await post(server, body)
    assert response.status_code == 200, response.text
    sent = fake.requests[0].json["messages"]
    assert sent[0] == {"role": "system", "content": "You research things carefully."}
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        (m["role"], m["content"]) for m in body["messages"]
    ]


async def test_open_webui_tool_round_trip(server, fake: FakeOpenAI) -> None:
    """The model calls Open WebUI's get_current_timestamp: the turn ends with tool_calls;
    Open WebUI runs the tool and sends the result; the turn goes on."""
    fake.enqueue(tool_calls([("call_time_1", "get_current_timestamp", "{}")]))
    with trio.fail_after(10):
        first = await post(server, recorded("tool_call"))
    assert first.status_code == 200, first.text
    chunks = data_events(first.text)[:-1]
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "call_time_1",
        "type": "function",
        "function": {"name": "get_current_timestamp", "arguments": "{}"},
    }
    assert "".join(c["function"].get("arguments", "") for c in calls) == "{}"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"

    fake.enqueue(text("It is noon."))
    body = recorded("tool_result")
    with trio.fail_after(10):
        second = await post(server, body)
    assert second.status_code == 200, second.text
    chunks = data_events(second.text)[:-1]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "It is noon."
    sent = fake.requests[1].json["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["name"] == "get_current_timestamp"
    assert sent[-1] == {
        "role": "tool",
        "tool_call_id": "call_time_1",
        "content": body["messages"][-1]["content"],
    }


# Variants of the recorded chat body, as Open WebUI 0.12.4's source builds them.


async def test_usage_capability_asks_for_the_turns_usage(server, fake: FakeOpenAI) -> None:
    """With the model capability "Usage" on, Open WebUI adds ``stream_options``."""
    fake.enqueue(text("counted", usage=(12, 3)))
    body = {**recorded("chat"), "stream_options": {"include_usage": True}}
    with trio.fail_after(10):
        response = await post(server, body)
    assert response.status_code == 200, response.text
    chunks = data_events(response.text)[:-1]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_stream_chat_response_off_answers_one_json(server, fake: FakeOpenAI) -> None:
    """ "Stream Chat Response" off: the same body with ``"stream": false``."""
    fake.enqueue(tool_calls([("call_time_1", "get_current_timestamp", "{}")]))
    with trio.fail_after(10):
        response = await post(server, {**recorded("tool_call"), "stream": False})
    assert response.status_code == 200, response.text
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_time_1",
            "type": "function",
            "function": {"name": "get_current_timestamp", "arguments": "{}"},
        }
    ]


async def test_attached_image_reaches_the_model(server, fake: FakeOpenAI) -> None:
    """An image attached in the chat: Open WebUI turns the message into text and image
    parts, the image as a data URL (and keeps its own keys, such as ``files``)."""
    fake.enqueue(text("A tiny picture."))
    image = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
        "nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    )
    body = recorded("chat")
    body["messages"] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
            "files": [{"type": "image", "url": image}],
        }
    ]
    with trio.fail_after(10):
        response = await post(server, body)
    assert response.status_code == 200, response.text
    sent = fake.requests[0].json["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": image}} in sent
