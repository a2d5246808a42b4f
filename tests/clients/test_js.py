"""The JavaScript clients on a real server: the `openai` npm package and the Vercel AI SDK.

Each test scripts the fake upstream, then runs one scenario of a Node script in
``tests/clients/js`` (``node openai.mjs plain``) against a real trioagent server and checks
the JSON the script prints. These clients are stricter than the Python SDK about chunk
shapes, and they must pass with no warnings: the script's stderr must stay empty (the AI
SDK reports unsupported settings and shape problems as ``AI SDK Warning`` process
warnings; Node prints its deprecation warnings there too).

The packages are pinned in ``js/package-lock.json``; the ``node`` fixture runs ``npm ci``
when ``js/node_modules`` is missing or older than the lock file. Without node and npm the
tests skip, unless ``TRIOAGENT_REQUIRE_NODE=1`` (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest
import trio

from trioagent.testing import FakeOpenAI, drop, error, text, tool_calls

JS_DIR = Path(__file__).parent / "js"

MIN_NODE = 20
"""The oldest Node the tests pass on (the pinned packages ask for 22 or later)."""

PARIS = ("call_w", "get_weather", '{"city": "Paris"}')
"""The scripted upstream's call of the client tool get_weather."""

PARIS_WEATHER = "sunny, 21 C"
"""What the scripts' get_weather returns for Paris."""


def _needs_install() -> bool:
    installed = JS_DIR / "node_modules" / ".package-lock.json"  # written by npm ci
    if not installed.exists():
        return True
    newest = max((JS_DIR / name).stat().st_mtime for name in ("package.json", "package-lock.json"))
    return installed.stat().st_mtime < newest


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("TRIOAGENT_REQUIRE_NODE") == "1":
        pytest.fail(f"{reason} (TRIOAGENT_REQUIRE_NODE=1)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with ``js/node_modules`` installed from the lock file."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are needed for the JavaScript client tests")
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE:
        # Older ones lack a stable fetch (Node 18 warns that it is experimental).
        _unavailable(f"the JavaScript client tests need Node >= {MIN_NODE}, not {version}")
    if _needs_install():
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return node


def _node_env(base_url: str, api_key: str) -> dict[str, str]:
    # No NODE_OPTIONS / NODE_NO_WARNINGS from the caller: a warning must reach stderr.
    env = {name: value for name, value in os.environ.items() if not name.startswith("NODE_")}
    env.update(
        TRIOAGENT_BASE_URL=base_url,
        TRIOAGENT_API_KEY=api_key,
        NO_COLOR="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


async def run_js(
    node: str, script: str, scenario: str, server: Any, api_key: str = "unused"
) -> Any:
    """Run ``node js/<script> <scenario>`` against ``server``; its stdout, parsed.

    Fails the test when the script fails or writes anything at all to stderr.
    """
    with trio.fail_after(25):
        done = await trio.run_process(
            [node, script, scenario],
            cwd=JS_DIR,
            env=_node_env(f"{server.url}/v1", api_key),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    stderr = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"{script} {scenario} exited {done.returncode}:\n{stderr}"
    assert stderr == "", f"{script} {scenario} wrote to stderr:\n{stderr}"
    return json.loads(done.stdout)


def check_chunks(chunks: list[dict[str, Any]], *, include_usage: bool) -> list[dict[str, Any]]:
    """Check the wire contract's chunk sequence; the chunks that carry a choice."""
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == "root" for c in chunks)
    if include_usage:
        *chunks, last = chunks
        assert last["choices"] == []
        assert all(c["usage"] is None for c in chunks)
    else:
        assert all(c.get("usage") is None for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(len(c["choices"]) == 1 and c["choices"][0]["index"] == 0 for c in chunks)
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    assert reasons[:-1] == [None] * (len(chunks) - 1)
    assert chunks[-1]["choices"][0]["delta"] == {}
    return chunks


def joined_content(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def check_usage(usage: dict[str, Any], prompt: int, completion: int) -> None:
    """Check an AI SDK usage object."""
    assert (usage["inputTokens"], usage["outputTokens"], usage["totalTokens"]) == (
        prompt,
        completion,
        prompt + completion,
    )


# Both clients.


@pytest.mark.parametrize("script", ["openai.mjs", "ai-sdk.mjs"], ids=["openai", "ai-sdk"])
async def test_keep_alive_comments_are_skipped(
    node: str, start_server: Any, fake: FakeOpenAI, script: str
) -> None:
    # The upstream is slow to answer: ": keep-alive" comments go out meanwhile.
    fake.enqueue(text("Hello there", usage=(7, 3), delay=0.3))
    async with start_server(keep_alive_interval=0.05) as server:
        result = await run_js(node, script, "stream", server)
    if script == "openai.mjs":
        assert joined_content(result["chunks"]) == "Hello there"
    else:
        assert (result["text"], result["errors"]) == ("Hello there", [])
        check_usage(result["usage"], 7, 3)


# The openai npm package.


async def test_openai_plain_completion(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    completion = await run_js(node, "openai.mjs", "plain", server)
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "root"
    assert completion["id"].startswith("chatcmpl-")
    [choice] = completion["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello there"
    assert choice["message"].get("tool_calls") is None
    assert choice["finish_reason"] == "stop"
    assert completion["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


async def test_openai_stream_with_usage(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3)))
    result = await run_js(node, "openai.mjs", "stream", server)
    chunks = result["chunks"]
    with_choice = check_chunks(chunks, include_usage=True)
    assert joined_content(with_choice) == "Hello there"
    assert with_choice[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert fake.requests[0].json["stream"] is True


async def test_openai_models_list_and_retrieve(node: str, server: Any) -> None:
    result = await run_js(node, "openai.mjs", "models", server)
    for listed in (result["data"], result["iterated"]):
        assert [m["id"] for m in listed] == ["root", "helper"]
        assert all(m["object"] == "model" and m["owned_by"] == "trioagent" for m in listed)
        assert all(isinstance(m["created"], int) for m in listed)
    assert result["one"]["id"] == "helper"


async def test_openai_unknown_model_is_not_found(node: str, server: Any, fake: FakeOpenAI) -> None:
    result = await run_js(node, "openai.mjs", "not_found", server)
    for caught in (result["plain"], result["stream"]):
        assert caught["isNotFound"] is True
        assert caught["name"] == "NotFoundError"
        assert caught["status"] == 404
        assert (caught["code"], caught["param"], caught["type"]) == (
            "model_not_found",
            "model",
            "invalid_request_error",
        )
    assert fake.requests == []


async def test_openai_upstream_failure_is_502_and_not_retried(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(error(400, "bad things"))
    result = await run_js(node, "openai.mjs", "upstream_error", server)
    assert result["isAPIError"] is True
    assert result["name"] == "InternalServerError"
    assert result["status"] == 502
    assert (result["code"], result["type"]) == ("upstream_error", "server_error")
    assert result["headers"]["x-should-retry"] == "false"
    assert "bad things" not in result["message"]
    assert len(fake.requests) == 1  # the SDK's default retries were not used


async def test_openai_error_mid_stream_raises_api_error(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(drop("partial answer"))
    result = await run_js(node, "openai.mjs", "stream_error", server)
    assert result["isAPIError"] is True
    assert "model provider" in result["message"]
    assert result["chunks"], "the stream had started"
    assert all(c["choices"][0]["finish_reason"] is None for c in result["chunks"])


async def test_openai_abort_mid_stream_cancels_the_turn(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(text("one two three four", chunk_delay=0.5))
    result = await run_js(node, "openai.mjs", "abort", server)
    assert joined_content(result["chunks"]) == "one "
    with trio.fail_after(5):
        await fake.wait_disconnect()  # the server hung up on the upstream


async def test_openai_auth(node: str, start_server: Any) -> None:
    async with start_server(api_keys=("k",)) as server:
        result = await run_js(node, "openai.mjs", "auth", server)
    assert result["wrong"]["isAuthenticationError"] is True
    assert result["wrong"]["status"] == 401
    assert result["wrong"]["code"] == "invalid_api_key"
    assert result["wrong"]["headers"]["www-authenticate"].lower().startswith("bearer")
    assert result["ok"] == ["root", "helper"]


async def test_openai_client_tools_round_trip(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([PARIS], usage=(10, 5)), text("It is sunny in Paris."))
    result = await run_js(node, "openai.mjs", "tools", server)
    [choice] = result["first"]["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_w",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert result["second"]["choices"][0]["message"]["content"] == "It is sunny in Paris."
    assert result["second"]["choices"][0]["finish_reason"] == "stop"
    offered = [t["function"]["name"] for t in fake.requests[0].json["tools"]]
    assert "get_weather" in offered
    sent = fake.requests[1].json["messages"]
    assert sent[-2]["tool_calls"][0]["id"] == "call_w"
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_w", "content": PARIS_WEATHER}


async def test_openai_streamed_tool_call_deltas(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(tool_calls([PARIS, ("call_r", "get_weather", '{"city": "Rome"}')], usage=(10, 5)))
    chunks = (await run_js(node, "openai.mjs", "tools_stream", server))["chunks"]
    with_choice = check_chunks(chunks, include_usage=True)
    assert with_choice[-1]["choices"][0]["finish_reason"] == "tool_calls"
    for chunk in with_choice:  # one entry per index per chunk, as OpenAI sends them
        entries = chunk["choices"][0]["delta"].get("tool_calls", [])
        assert len({d["index"] for d in entries}) == len(entries)
    deltas = [d for c in with_choice for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert all("index" in d for d in deltas)
    calls: dict[int, dict[str, Any]] = {}
    for delta in deltas:
        if "id" in delta:  # the first delta of a call: the start of its arguments too
            assert delta["index"] not in calls
            assert delta["type"] == "function"
            calls[delta["index"]] = {
                "id": delta["id"],
                "name": delta["function"]["name"],
                "arguments": delta["function"]["arguments"],
            }
        else:
            assert set(delta) == {"index", "function"}
            assert set(delta["function"]) == {"arguments"}
            calls[delta["index"]]["arguments"] += delta["function"]["arguments"]
    assert calls == {
        0: {"id": "call_w", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "call_r", "name": "get_weather", "arguments": '{"city": "Rome"}'},
    }
    assert chunks[-1]["usage"]["total_tokens"] == 15


async def test_openai_stream_helper(node: str, server: Any, fake: FakeOpenAI) -> None:
    # Pauses between the pieces, so that each reaches the client as its own chunk.
    fake.enqueue(
        text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05)
    )
    result = await run_js(node, "openai.mjs", "stream_helper", server)
    assert result["deltas"] == ["Hel", "lo", " there"]
    assert result["content"] == "Hello there"
    final = result["final"]
    assert final["choices"][0]["message"]["content"] == "Hello there"
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["total_tokens"] == 10


async def test_openai_stream_helper_with_tool_calls(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(tool_calls([PARIS], content="Let me check."))
    result = await run_js(node, "openai.mjs", "stream_helper_tools", server)
    [choice] = result["final"]["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me check."
    [call] = choice["message"]["tool_calls"]
    assert (call["id"], call["type"]) == ("call_w", "function")
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == '{"city": "Paris"}'
    assert [(d["name"], d["index"], d["arguments"]) for d in result["done"]] == [
        ("get_weather", 0, '{"city": "Paris"}')
    ]


@pytest.mark.parametrize("scenario", ["run_tools", "run_tools_stream"], ids=["plain", "stream"])
async def test_openai_run_tools_runs_the_client_tool(
    node: str, server: Any, fake: FakeOpenAI, scenario: str
) -> None:
    fake.enqueue(tool_calls([PARIS], usage=(10, 5)), text("It is sunny in Paris.", usage=(20, 6)))
    result = await run_js(node, "openai.mjs", scenario, server)
    assert result["content"] == "It is sunny in Paris."
    roles = [m["role"] for m in result["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert result["messages"][2]["tool_call_id"] == "call_w"
    assert result["messages"][2]["content"] == PARIS_WEATHER
    if scenario == "run_tools":
        assert result["usage"]["total_tokens"] == 41
    else:
        assert "".join(result["deltas"]) == "It is sunny in Paris."
    assert len(fake.requests) == 2
    assert fake.requests[1].json["messages"][-1]["tool_call_id"] == "call_w"


# The Vercel AI SDK, with @ai-sdk/openai-compatible.


async def test_ai_sdk_generate_text(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(text("Hello there", usage=(7, 3)))
    result = await run_js(node, "ai-sdk.mjs", "generate", server)
    assert result["text"] == "Hello there"
    assert result["finishReason"] == "stop"
    assert result["warnings"] == []
    assert result["steps"] == 1
    check_usage(result["usage"], 7, 3)
    sent = fake.requests[0].json
    assert sent["messages"][1:] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert (sent["temperature"], sent["top_p"], sent["max_tokens"], sent["stop"]) == (
        0.25,
        0.5,
        77,
        ["END"],
    )
    assert (sent["seed"], sent["presence_penalty"], sent["frequency_penalty"]) == (42, 0.5, -0.5)


async def test_ai_sdk_stream_text(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(
        text("Hello there", chunks=["Hel", "lo", " there"], usage=(7, 3), chunk_delay=0.05)
    )
    result = await run_js(node, "ai-sdk.mjs", "stream", server)
    assert result["errors"] == []
    assert result["text"] == "Hello there"
    assert result["finishReason"] == "stop"
    assert result["warnings"] == []
    check_usage(result["usage"], 7, 3)
    check_usage(result["totalUsage"], 7, 3)
    types = [p["type"] for p in result["parts"]]
    assert "error" not in types
    assert types.count("text-delta") == 3
    assert types[-1] == "finish"


async def test_ai_sdk_error_mid_stream_is_an_error_part(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    fake.enqueue(drop("partial answer"))
    result = await run_js(node, "ai-sdk.mjs", "stream_error", server)
    assert result["text"] == "partial answer"
    assert result["finishReason"] == "error"
    [caught] = result["errors"]
    assert "model provider" in caught["message"]
    assert (caught["code"], caught["type"]) == ("upstream_error", "server_error")
    assert [p["type"] for p in result["parts"]].count("error") == 1
    assert len(fake.requests) == 1


async def test_ai_sdk_structured_output(node: str, server: Any, fake: FakeOpenAI) -> None:
    fake.enqueue(
        text('{"city": "Paris", "sky": "sunny"}'),
        text(
            '{"city": "Rome", "sky": "cloudy"}',
            chunks=['{"city": "Ro', 'me", "sky', '": "cloudy"}'],
        ),
    )
    result = await run_js(node, "ai-sdk.mjs", "object", server)
    assert result["generated"] == {"output": {"city": "Paris", "sky": "sunny"}, "warnings": []}
    assert result["streamed"] == {
        "output": {"city": "Rome", "sky": "cloudy"},
        "warnings": [],
        "errors": [],
    }
    for request in fake.requests:
        response_format = request.json["response_format"]
        assert response_format["type"] == "json_schema"
        assert response_format["json_schema"]["schema"]["required"] == ["city", "sky"]


@pytest.mark.parametrize("scenario", ["tools", "tools_stream"], ids=["generate", "stream"])
@pytest.mark.parametrize("before", ["", "Let me check."], ids=["tool-only", "text-and-agent-tool"])
async def test_ai_sdk_runs_a_client_tool_over_steps(
    node: str, server: Any, fake: FakeOpenAI, scenario: str, before: str
) -> None:
    # With text before it, the model also calls an agent tool (think) in the same response:
    # the agent runs it, and the client sees only its own tool's call.
    calls = [("call_t", "think", '{"thought": "weather"}'), PARIS] if before else [PARIS]
    fake.enqueue(
        tool_calls(calls, content=before, usage=(10, 5)),
        text("It is sunny in Paris.", usage=(20, 6)),
    )
    result = await run_js(node, "ai-sdk.mjs", scenario, server)
    check_tool_steps(result, scenario, before)
    assert len(fake.requests) == 2
    sent = fake.requests[1].json["messages"]
    assert sent[-2]["role"] == "assistant"
    assert [call["id"] for call in sent[-2]["tool_calls"]] == ["call_w"]
    assert sent[-1]["role"] == "tool"
    assert sent[-1]["tool_call_id"] == "call_w"
    assert PARIS_WEATHER in sent[-1]["content"]


def check_tool_steps(result: dict[str, Any], scenario: str, before: str) -> None:
    """The AI SDK's two steps of a client tool call: the call of get_weather for Paris
    (after ``before``) and its result, then the answer (either API)."""
    assert result.get("errors", []) == []
    assert result["text"] == "It is sunny in Paris."
    assert result["finishReason"] == "stop"
    first, second = result["steps"]
    assert first["text"] == before
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [
        {"toolCallId": "call_w", "toolName": "get_weather", "input": {"city": "Paris"}}
    ]
    assert first["toolResults"] == [
        {"toolCallId": "call_w", "toolName": "get_weather", "output": PARIS_WEATHER}
    ]
    assert second["finishReason"] == "stop"
    assert all(step["warnings"] == [] for step in result["steps"])
    check_usage(result["totalUsage"], 30, 11)
    if scenario == "tools_stream":
        types = [p["type"] for p in result["parts"]]
        assert "error" not in types
        assert ("tool-call" in types, "tool-result" in types) == (True, True)


async def test_ai_sdk_unknown_model_is_an_api_call_error(
    node: str, server: Any, fake: FakeOpenAI
) -> None:
    result = await run_js(node, "ai-sdk.mjs", "not_found", server)
    assert result["isAPICallError"] is True
    assert result["status"] == 404
    assert result["isRetryable"] is False
    assert fake.requests == []
