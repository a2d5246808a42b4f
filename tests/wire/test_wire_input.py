"""Reading request bodies: strict JSON, strict types, one clear error naming the param."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trioagent import wire
from trioagent.errors import RequestError

USER = {"role": "user", "content": "Hi"}


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "root", "messages": [USER], **fields}).encode()


def nested(depth: int) -> bytes:
    return b'{"model":"root","messages":[],"x":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


# (body, param, code, words the message must contain)
INVALID = [
    pytest.param(b'{"model": "root",', None, "invalid_json", "not valid JSON", id="bad-json"),
    pytest.param(b"", None, "invalid_json", "empty", id="empty-body"),
    pytest.param(b" \r\n", None, "invalid_json", "empty", id="blank-body"),
    pytest.param(b"[]", None, "invalid_json", "must be a JSON object", id="array-top-level"),
    pytest.param(b'"hi"', None, "invalid_json", "must be a JSON object", id="string-top-level"),
    pytest.param(body()[:-1] + b',"temperature":NaN}', None, "invalid_json", "NaN", id="nan"),
    pytest.param(
        body()[:-1] + b',"temperature":-Infinity}',
        None,
        "invalid_json",
        "-Infinity",
        id="infinity",
    ),
    pytest.param(body(x=0)[:-2] + b"1e999}", None, "invalid_json", "too large", id="huge-float"),
    pytest.param(nested(65), None, "invalid_json", "deeper than 64", id="65-deep"),
    pytest.param(
        b"[" * 100_000 + b"]" * 100_000, None, "invalid_json", "deeper than 64", id="100k-deep"
    ),
    pytest.param(
        b'{"model":"r\xff","messages":[]}', None, "invalid_json", "UTF-8", id="invalid-utf8"
    ),
    pytest.param(
        json.dumps({"messages": [USER]}).encode(),
        "model",
        "missing_field",
        "Missing required parameter: 'model'",
        id="missing-model",
    ),
    pytest.param(
        body(model=7),
        "model",
        "invalid_type",
        "expected a string, but got an integer",
        id="model-not-string",
    ),
    pytest.param(
        json.dumps({"model": "root"}).encode(),
        "messages",
        "missing_field",
        "'messages'",
        id="missing-messages",
    ),
    pytest.param(body(messages=[]), "messages", "invalid_value", "non-empty", id="empty-messages"),
    pytest.param(
        body(messages="Hi"), "messages", "invalid_type", "expected an array", id="messages-string"
    ),
    pytest.param(
        body(messages=[USER, "Hi"]),
        "messages[1]",
        "invalid_type",
        "expected an object",
        id="message-not-object",
    ),
    pytest.param(
        body(messages=[USER, {"role": "robot", "content": "x"}]),
        "messages[1].role",
        "invalid_value",
        '"robot"',
        id="unknown-role",
    ),
    pytest.param(
        body(messages=[{"content": "x"}]),
        "messages[0].role",
        "missing_field",
        "'messages[0].role'",
        id="missing-role",
    ),
    pytest.param(
        body(messages=[USER, {"role": "tool", "content": "sunny"}]),
        "messages[1].tool_call_id",
        "missing_field",
        "'messages[1].tool_call_id'",
        id="tool-message-without-tool-call-id",
    ),
    pytest.param(
        body(messages=[{"role": "user", "content": 42}]),
        "messages[0].content",
        "invalid_type",
        "expected a string or an array",
        id="content-wrong-type",
    ),
    pytest.param(
        body(messages=[{"role": "user", "content": None}]),
        "messages[0].content",
        "invalid_type",
        "but got null",
        id="user-content-null",
    ),
    pytest.param(
        body(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
        "messages[0].content[0].type",
        "invalid_value",
        '"input_audio"',
        id="unknown-part-type",
    ),
    pytest.param(
        body(messages=[USER, {"role": "system", "content": [{"type": "image_url"}]}]),
        "messages[1].content[0].type",
        "invalid_value",
        'expected "text"',
        id="image-in-system-message",
    ),
    pytest.param(
        body(messages=[{"role": "user", "content": [{"type": "text", "text": 1}]}]),
        "messages[0].content[0].text",
        "invalid_type",
        "expected a string",
        id="part-text-number",
    ),
    pytest.param(
        body(temperature=3),
        "temperature",
        "invalid_value",
        "from 0 to 2, but got 3",
        id="temperature-3",
    ),
    pytest.param(
        body(temperature="0.5"),
        "temperature",
        "invalid_type",
        "expected a number",
        id="temperature-string",
    ),
    pytest.param(body(top_p=0), "top_p", "invalid_value", "above 0", id="top-p-0"),
    pytest.param(body(max_tokens=0), "max_tokens", "invalid_value", "above 0", id="max-tokens-0"),
    pytest.param(
        body(max_tokens="10"),
        "max_tokens",
        "invalid_type",
        "but got a string",
        id="max-tokens-string",
    ),
    pytest.param(
        body(max_tokens=True),
        "max_tokens",
        "invalid_type",
        "but got a boolean",
        id="max-tokens-bool",
    ),
    pytest.param(
        body(max_tokens=10.5),
        "max_tokens",
        "invalid_type",
        "expected an integer",
        id="max-tokens-float",
    ),
    pytest.param(
        body(max_completion_tokens=-1),
        "max_completion_tokens",
        "invalid_value",
        "above 0",
        id="max-completion-tokens-negative",
    ),
    pytest.param(
        body(presence_penalty=2.5),
        "presence_penalty",
        "invalid_value",
        "-2 to 2",
        id="presence-penalty-2.5",
    ),
    pytest.param(body(seed=1.5), "seed", "invalid_type", "expected an integer", id="seed-float"),
    pytest.param(
        body(stream="yes"), "stream", "invalid_type", "expected a boolean", id="stream-string"
    ),
    pytest.param(
        body(parallel_tool_calls=1),
        "parallel_tool_calls",
        "invalid_type",
        "expected a boolean",
        id="parallel-tool-calls-int",
    ),
    pytest.param(
        body(stop=["a", "b", "c", "d", "e"]),
        "stop",
        "invalid_value",
        "at most 4",
        id="stop-5-entries",
    ),
    pytest.param(body(stop=["a", ""]), "stop[1]", "invalid_value", "non-empty", id="stop-empty"),
    pytest.param(
        body(stop=7), "stop", "invalid_type", "a string, an array or null", id="stop-number"
    ),
    pytest.param(body(n=2), "n", "invalid_value", "only 1", id="n-2"),
    pytest.param(body(logprobs=True), "logprobs", "invalid_value", "not supported", id="logprobs"),
    pytest.param(
        body(top_logprobs=3), "top_logprobs", "invalid_value", "not supported", id="top-logprobs"
    ),
    pytest.param(
        body(stream_options={"include_usage": True}),
        "stream_options",
        "invalid_value",
        "'stream' is true",
        id="stream-options-without-stream",
    ),
    pytest.param(
        body(stream=False, stream_options={"include_usage": True}),
        "stream_options",
        "invalid_value",
        "'stream' is true",
        id="stream-options-with-stream-false",
    ),
    pytest.param(
        body(messages=[{"role": "system", "content": "Be brief."}]),
        "messages",
        "invalid_value",
        "role 'user'",
        id="no-user-message",
    ),
    pytest.param(
        body(tools=[{"type": "function", "function": {"name": "get weather"}}]),
        "tools[0].function.name",
        "invalid_value",
        '"get weather"',
        id="bad-tool-name",
    ),
    pytest.param(
        body(tools=[{"type": "function", "function": {"name": "x" * 65}}]),
        "tools[0].function.name",
        "invalid_value",
        "1 to 64",
        id="tool-name-too-long",
    ),
    pytest.param(
        body(tools=[{"type": "web_search"}]),
        "tools[0].type",
        "invalid_value",
        '"web_search"',
        id="non-function-tool",
    ),
    pytest.param(
        body(tools=[{"type": "function", "function": {"name": "f"}}] * 2),
        "tools",
        "invalid_value",
        'two tools are named "f"',
        id="duplicate-tool-names",
    ),
    pytest.param(
        body(tool_choice="any"),
        "tool_choice",
        "invalid_value",
        '"none", "auto", "required"',
        id="bad-tool-choice",
    ),
    pytest.param(
        body(tool_choice={"type": "function", "function": {}}),
        "tool_choice.function.name",
        "missing_field",
        "'tool_choice.function.name'",
        id="tool-choice-without-name",
    ),
    pytest.param(
        body(response_format="json"),
        "response_format",
        "invalid_type",
        "expected an object",
        id="response-format-string",
    ),
]


@pytest.mark.parametrize(("data", "param", "code", "words"), INVALID)
def test_invalid_request_names_the_param(
    data: bytes, param: str | None, code: str, words: str
) -> None:
    with pytest.raises(RequestError) as info:
        wire.parse_chat_request(data)
    error = info.value
    assert (error.param, error.code) == (param, code)
    assert words in error.message
    assert error.message.endswith(".")
    if param is not None:
        assert f"'{param}'" in error.message


def test_64_levels_of_nesting_are_fine() -> None:
    assert wire.loads(nested(64))["model"] == "root"


def test_error_message_reads_like_openai() -> None:
    with pytest.raises(RequestError) as info:
        wire.parse_chat_request(body(max_tokens="10"))
    assert info.value.message == (
        "Invalid type for 'max_tokens': expected an integer or null, but got a string."
    )


OPEN_WEBUI = {
    "stream": True,
    "model": "root",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            ],
        },
    ],
    "stream_options": {"include_usage": True},
    "temperature": 1,
    "max_tokens": None,
    "seed": None,
    "stop": None,
    "metadata": {"chat_id": "c-1", "message_id": "m-1", "session_id": "s-1"},
    "params": {},
    "tool_ids": None,
    "features": {"image_generation": False, "web_search": False},
    "variables": {"{{USER_NAME}}": "ada"},
    "background_tasks": {"title_generation": True},
    "chat_id": "c-1",
    "id": "m-1",
    "session_id": "s-1",
}


def test_open_webui_request_parses_and_ignores_unknown_fields() -> None:
    request = wire.parse_chat_request(json.dumps(OPEN_WEBUI).encode())
    assert request.model == "root"
    assert request.stream is True
    assert request.stream_options == wire.StreamOptions(include_usage=True)
    assert request.temperature == 1.0
    assert isinstance(request.temperature, float)
    assert (request.max_tokens, request.seed, request.stop) == (None, None, None)
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    last = request.messages[-1]
    assert isinstance(last, wire.UserMessage)
    assert last.content == (
        wire.TextPart(text="What is in this picture?"),
        wire.ImagePart(image_url=wire.ImageURL(url="data:image/jpeg;base64,/9j/4AAQ")),
    )


def test_stop_may_be_a_string_and_tool_choice_a_mode() -> None:
    request = wire.parse_chat_request(body(stop="END", tool_choice="none"))
    assert (request.stop, request.tool_choice) == ("END", "none")


API_INVALID = [
    pytest.param(b"{}", "message", "missing_field", id="missing-message"),
    pytest.param(b'{"message": ""}', "message", "invalid_value", id="empty-message"),
    pytest.param(b'{"message": 5}', "message", "invalid_type", id="message-number"),
    pytest.param(
        b'{"message": "hi", "session_id": "a b"}',
        "session_id",
        "invalid_value",
        id="session-id-space",
    ),
    pytest.param(
        b'{"message": "hi", "session_id": "' + b"a" * 129 + b'"}',
        "session_id",
        "invalid_value",
        id="session-id-too-long",
    ),
    pytest.param(b'{"message": "hi", "stream": null}', "stream", "invalid_type", id="stream-null"),
    pytest.param(b"[1]", None, "invalid_json", id="array-top-level"),
]


@pytest.mark.parametrize(("data", "param", "code"), API_INVALID)
def test_invalid_api_chat_request_names_the_param(
    data: bytes, param: str | None, code: str
) -> None:
    with pytest.raises(RequestError) as info:
        wire.parse_api_chat_request(data)
    assert (info.value.param, info.value.code) == (param, code)


def test_api_chat_request_parses() -> None:
    data = b'{"message": "hi", "session_id": "user-1:chat.2_x", "stream": true, "extra": 1}'
    assert wire.parse_api_chat_request(data) == wire.ChatRequest(
        message="hi", session_id="user-1:chat.2_x", stream=True
    )


def test_upstream_openai_chunks_and_completions_structure() -> None:
    """What api.openai.com sends parses too, so ``models.openai_compat`` can reuse the types."""
    chunk = {
        "id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1763900000,
        "model": "gpt-4o-2024-08-06", "service_tier": "default", "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0, "logprobs": None, "finish_reason": None,
                "delta": {"role": "assistant", "content": None, "refusal": None,
                          "tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                          "function": {"name": "f", "arguments": ""}}]},
            }
        ],
        "usage": None, "obfuscation": "x",
    }  # fmt: skip
    parsed = wire.structure(chunk, wire.ChatCompletionChunk)
    assert parsed.usage is None
    assert parsed.choices[0].delta == wire.Delta(
        role="assistant",
        tool_calls=(
            wire.DeltaToolCall(
                index=0, id="call_1", type="function",
                function=wire.DeltaFunction(name="f", arguments=""),
            ),
        ),
    )  # fmt: skip
    del chunk["usage"]
    assert wire.structure(chunk, wire.ChatCompletionChunk).usage is wire.OMIT
    completion = {
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1763900000, "model": "gpt-4o",
        "choices": [
            {
                "index": 0, "logprobs": None, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "Hi", "refusal": None,
                            "annotations": []},
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    }  # fmt: skip
    parsed_completion = wire.structure(completion, wire.ChatCompletion)
    assert parsed_completion.choices[0].message == wire.AssistantMessage(content="Hi")
    assert parsed_completion.usage == wire.CompletionUsage.of(9, 1)


def response_body(**fields: Any) -> bytes:
    return json.dumps({"model": "root", "input": "Hi", **fields}).encode()


FILE_OUTPUT = {
    "type": "function_call_output",
    "call_id": "c1",
    "output": [{"type": "input_file", "file_id": "file_1"}],
}

RESPONSES_INVALID = [
    pytest.param(
        response_body(metadata={"topic": 1}),
        "metadata.topic",
        "invalid_type",
        id="metadata-value-not-a-string",
    ),
    pytest.param(
        response_body(input=[FILE_OUTPUT]),
        "input[0].output[0]",
        "invalid_value",
        id="input_file-in-a-function_call_output",
    ),
    pytest.param(
        response_body(tools=[{"name": "f"}]),
        "tools[0].type",
        "missing_field",
        id="tool-without-type",
    ),
    pytest.param(
        response_body(tools=[{"type": {}}]),
        "tools[0].type",
        "invalid_type",
        id="tool-type-an-object",
    ),
    pytest.param(
        response_body(tools=[{"type": "function", "name": "a b"}]),
        "tools[0].name",
        "invalid_value",
        id="tool-name-with-a-space",
    ),
    pytest.param(
        response_body(tools=[{"type": "function"}]),
        "tools[0].name",
        "invalid_value",
        id="tool-without-name",
    ),
    pytest.param(
        response_body(tools=[{"type": "function", "name": "f", "description": 5}]),
        "tools[0].description",
        "invalid_type",
        id="tool-description-a-number",
    ),
    pytest.param(
        response_body(tools=[{"type": "function", "name": "f", "parameters": []}]),
        "tools[0].parameters",
        "invalid_type",
        id="tool-parameters-an-array",
    ),
    pytest.param(
        response_body(tools=[{"type": "function", "name": "f"}] * 2),
        "tools",
        "invalid_value",
        id="duplicate-tool-names",
    ),
]


@pytest.mark.parametrize(("data", "param", "code"), RESPONSES_INVALID)
def test_invalid_responses_request_names_the_param(
    data: bytes, param: str | None, code: str
) -> None:
    with pytest.raises(RequestError) as info:
        wire.parse_responses_request(data)
    assert (info.value.param, info.value.code) == (param, code)
    assert f"'{param}'" in info.value.message


def test_responses_request_reads_metadata_and_tools_of_other_types() -> None:
    request = wire.parse_responses_request(
        response_body(
            metadata={"topic": "weather"},
            tools=[{"type": "web_search"}, {"type": "function", "name": "f", "parameters": None}],
        )
    )
    assert request.metadata == {"topic": "weather"}
    assert [tool["type"] for tool in request.tools or ()] == ["web_search", "function"]
