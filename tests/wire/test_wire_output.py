"""Golden tests: the exact bytes we write, pinned against OpenAI's reference shapes."""

from __future__ import annotations

import json
from typing import Any, Literal

import openai.types
import openai.types.chat
import pytest

from trioagent import wire
from trioagent.wire import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    DeltaFunction,
    DeltaToolCall,
    ErrorBody,
    ErrorEnvelope,
    FunctionCall,
    Model,
    ModelList,
    ResponseToolCall,
)

HEAD = '"id":"chatcmpl-1","object":"chat.completion.chunk","created":1763900000,"model":"root"'


def chunk(
    *choices: ChunkChoice, usage: CompletionUsage | Literal[wire.Omit.OMIT] | None = wire.OMIT
) -> ChatCompletionChunk:
    return ChatCompletionChunk(
        id="chatcmpl-1",
        created=1763900000,
        model="root",
        choices=choices,
        usage=usage,
    )


TOOL_CALL = ResponseToolCall(
    id="call_1", function=FunctionCall(name="get_weather", arguments='{"city":"Paris"}')
)
USAGE = CompletionUsage.of(12, 5)

GOLDEN_CHUNKS = [
    pytest.param(
        chunk(ChunkChoice(delta=Delta(role="assistant", content=""))),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        '"finish_reason":null}]}',
        id="role-chunk",
    ),
    pytest.param(
        chunk(ChunkChoice(delta=Delta(content="Hel"))),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}',
        id="content-chunk",
    ),
    pytest.param(
        chunk(ChunkChoice(delta=Delta(), finish_reason="stop")),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        id="final-chunk",
    ),
    pytest.param(
        chunk(ChunkChoice(delta=Delta(content="Hel")), usage=None),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],'
        '"usage":null}',
        id="content-chunk-include-usage",
    ),
    pytest.param(
        chunk(ChunkChoice(delta=Delta(), finish_reason="stop"), usage=None),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
        id="final-chunk-include-usage",
    ),
    pytest.param(
        chunk(usage=USAGE),
        "{" + HEAD + ',"choices":[],'
        '"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}',
        id="usage-chunk",
    ),
    pytest.param(
        chunk(
            ChunkChoice(
                delta=Delta(
                    tool_calls=(
                        DeltaToolCall(
                            index=0,
                            id="call_1",
                            type="function",
                            function=DeltaFunction(name="get_weather", arguments=""),
                        ),
                    )
                )
            )
        ),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1",'
        '"type":"function","function":{"name":"get_weather","arguments":""}}]},'
        '"finish_reason":null}]}',
        id="tool-call-start",
    ),
    pytest.param(
        chunk(
            ChunkChoice(
                delta=Delta(
                    tool_calls=(DeltaToolCall(index=1, function=DeltaFunction(arguments='{"ci')),)
                )
            )
        ),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,'
        '"function":{"arguments":"{\\"ci"}}]},"finish_reason":null}]}',
        id="tool-call-arguments",
    ),
    pytest.param(
        chunk(ChunkChoice(delta=Delta(), finish_reason="tool_calls")),
        "{" + HEAD + ',"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
        id="final-chunk-tool-calls",
    ),
]


@pytest.mark.parametrize(("value", "expected"), GOLDEN_CHUNKS)
def test_chunk_bytes_match_openai(value: ChatCompletionChunk, expected: str) -> None:
    assert wire.dumps(value) == expected.encode()


@pytest.mark.parametrize(("value", "expected"), GOLDEN_CHUNKS)
def test_openai_sdk_accepts_chunk(value: ChatCompletionChunk, expected: str) -> None:
    parsed = openai.types.chat.ChatCompletionChunk.model_validate(json.loads(wire.dumps(value)))
    assert parsed.model_dump(exclude_unset=True) == json.loads(expected)


TEXT_COMPLETION = ChatCompletion(
    id="chatcmpl-1",
    created=1763900000,
    model="root",
    choices=(Choice(message=wire.AssistantMessage(content="Hello!"), finish_reason="stop"),),
    usage=USAGE,
)
TOOL_COMPLETION = ChatCompletion(
    id="chatcmpl-2",
    created=1763900000,
    model="root",
    choices=(
        Choice(message=wire.AssistantMessage(tool_calls=(TOOL_CALL,)), finish_reason="tool_calls"),
    ),
    usage=USAGE,
)
GOLDEN_COMPLETIONS = [
    pytest.param(
        TEXT_COMPLETION,
        '{"id":"chatcmpl-1","object":"chat.completion","created":1763900000,"model":"root",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello!"},'
        '"finish_reason":"stop"}],'
        '"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}',
        id="text",
    ),
    pytest.param(
        TOOL_COMPLETION,
        '{"id":"chatcmpl-2","object":"chat.completion","created":1763900000,"model":"root",'
        '"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":'
        '[{"id":"call_1","type":"function","function":{"name":"get_weather",'
        '"arguments":"{\\"city\\":\\"Paris\\"}"}}]},"finish_reason":"tool_calls"}],'
        '"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}',
        id="tool-calls-content-null",
    ),
]


@pytest.mark.parametrize(("value", "expected"), GOLDEN_COMPLETIONS)
def test_completion_bytes_match_openai(value: ChatCompletion, expected: str) -> None:
    assert wire.dumps(value) == expected.encode()


@pytest.mark.parametrize(("value", "expected"), GOLDEN_COMPLETIONS)
def test_openai_sdk_accepts_completion(value: ChatCompletion, expected: str) -> None:
    parsed = openai.types.chat.ChatCompletion.model_validate(json.loads(wire.dumps(value)))
    assert parsed.model_dump(exclude_unset=True) == json.loads(expected)


def test_model_list_bytes_match_openai() -> None:
    models = ModelList(
        data=(Model(id="root", created=1763900000), Model(id="coder", created=1763900000))
    )
    data = wire.dumps(models)
    assert data == (
        b'{"object":"list","data":['
        b'{"id":"root","object":"model","created":1763900000,"owned_by":"trioagent"},'
        b'{"id":"coder","object":"model","created":1763900000,"owned_by":"trioagent"}]}'
    )
    for entry in json.loads(data)["data"]:
        openai.types.Model.model_validate(entry)


def test_error_envelope_writes_null_param_and_code() -> None:
    envelope = ErrorEnvelope(error=ErrorBody(message="Boom.", type="server_error"))
    assert wire.dumps(envelope) == (
        b'{"error":{"message":"Boom.","type":"server_error","param":null,"code":null}}'
    )
    bad = ErrorEnvelope(
        error=ErrorBody(
            message="Invalid value.",
            type="invalid_request_error",
            param="temperature",
            code="invalid_value",
        )
    )
    assert json.loads(wire.dumps(bad)) == {
        "error": {
            "message": "Invalid value.",
            "type": "invalid_request_error",
            "param": "temperature",
            "code": "invalid_value",
        }
    }


def test_sse_events_are_single_data_lines() -> None:
    value = chunk(ChunkChoice(delta=Delta(content="line one\nline two")))
    event = wire.encode_event(value)
    assert event == b"data: " + wire.dumps(value) + b"\n\n"
    assert event.count(b"\n") == 2
    assert wire.DONE == b"data: [DONE]\n\n"
    assert wire.KEEP_ALIVE == b": keep-alive\n\n"
    error = ErrorEnvelope(error=ErrorBody(message="Upstream failed.", type="server_error"))
    assert wire.encode_error(error) == b"data: " + wire.dumps(error) + b"\n\n"


def test_simple_api_reply_and_error() -> None:
    reply = wire.ChatReply(message="Hi!", session_id=None, usage=USAGE)
    assert wire.dumps(reply) == (
        b'{"message":"Hi!","session_id":null,'
        b'"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}'
    )
    assert wire.dumps(wire.ApiError(error="Unknown agent.", code=404)) == (
        b'{"error":"Unknown agent.","code":404}'
    )


def test_text_is_utf8_and_lone_surrogates_are_escaped() -> None:
    assert wire.dumps(Delta(content="héllo 世界")) == '{"content":"héllo 世界"}'.encode()
    assert wire.dumps(Delta(content="a\ud800b")) == b'{"content":"a\\ud800b"}'


def test_upstream_request_leaves_unset_fields_out() -> None:
    request = wire.ChatCompletionRequest(
        model="gpt-4o",
        messages=(
            wire.SystemMessage(content="Be brief."),
            wire.UserMessage(content="Weather?"),
            wire.AssistantMessage(tool_calls=(TOOL_CALL,)),
            wire.ToolMessage(content="sunny", tool_call_id="call_1"),
        ),
        stream=True,
        stream_options=wire.StreamOptions(include_usage=True),
        temperature=0.5,
    )
    assert json.loads(wire.dumps(request)) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
    }


def _text_chunk(text: str) -> wire.ChatCompletionChunk:
    return wire.ChatCompletionChunk(
        id="chatcmpl-1",
        created=1,
        model="root",
        choices=(wire.ChunkChoice(delta=wire.Delta(content=text)),),
        usage=None,
    )


@pytest.mark.parametrize(
    "text", ["", "plain", 'quotes " and \\ slashes', "line\nbreaks\r\t", "héllo 😀", "\x00\x1f"]
)
def test_text_events_write_the_bytes_encode_event_writes(text: str) -> None:
    assert wire.text_events(_text_chunk)(text) == wire.encode_event(_text_chunk(text))


def test_text_events_escape_a_lone_surrogate_and_keep_the_json() -> None:
    event = wire.text_events(_text_chunk)("half \ud800 of a pair")
    assert b"\\ud800" in event
    document = json.loads(event.removeprefix(b"data: "))
    assert document == json.loads(wire.encode_event(_text_chunk("half \ud800 of a pair"))[6:])


@pytest.mark.parametrize("make", [lambda _: _text_chunk("fixed"), lambda t: _text_chunk(t + t)])
def test_text_events_need_the_text_in_exactly_one_place(make: Any) -> None:
    with pytest.raises(ValueError, match="exactly one place"):
        wire.text_events(make)
