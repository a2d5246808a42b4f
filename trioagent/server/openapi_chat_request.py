"""The request side of ``POST /v1/chat/completions`` in the OpenAPI document of ``serve chat``:
the request, its messages and options, as `trioagent.wire.openai` and
`trioagent.wire.checks` read them."""

from __future__ import annotations

from typing import Any

from ..wire import rules
from .openapi_parts import (
    STRING,
    TOOL_NAME,
    Schema,
    object_of,
    opt,
    or_null,
    ranged,
    ref,
    tagged,
)


def message_schemas() -> dict[str, Schema]:
    """The messages of a request, by role, and their content parts."""

    def content(*forms: Schema) -> Schema:
        return {"oneOf": [STRING, *forms]}

    text = content({"type": "array", "items": ref("TextPart")})

    def message(role: str, body: Schema, *required: str, **keywords: Any) -> Schema:
        return object_of({"role": {"const": role}, **body}, ("role", *required), **keywords)

    return {
        "ChatMessage": tagged(
            "role",
            {
                "system": "SystemMessage",
                "developer": "DeveloperMessage",
                "user": "UserMessage",
                "assistant": "AssistantMessage",
                "tool": "ToolMessage",
            },
        ),
        "SystemMessage": message(
            "system",
            {"content": text, "name": opt("string")},
            "content",
            description="Kept after the agent's own instruction.",
        ),
        "DeveloperMessage": message(
            "developer",
            {"content": text, "name": opt("string")},
            "content",
            description="Treated as a system message.",
        ),
        "UserMessage": message(
            "user",
            {
                "content": content({"type": "array", "items": ref("UserContentPart")}),
                "name": opt("string"),
            },
            "content",
        ),
        "AssistantMessage": message(
            "assistant",
            {
                "content": content({"type": "array", "items": ref("TextPart")}, {"type": "null"}),
                "tool_calls": opt("array", items=ref("ToolCall")),
                "name": opt("string"),
            },
        ),
        "ToolMessage": message(
            "tool",
            {"content": text, "tool_call_id": STRING},
            "content",
            "tool_call_id",
            description="The result of one client tool call.",
        ),
        "UserContentPart": tagged("type", {"text": "TextPart", "image_url": "ImagePart"}),
        "TextPart": object_of({"type": {"const": "text"}, "text": STRING}, ("text",)),
        "ImagePart": object_of(
            {
                "type": {"const": "image_url"},
                "image_url": object_of(
                    {
                        "url": {"type": "string", "description": "An `https:` or `data:` URL."},
                        "detail": {"enum": ["auto", "low", "high", None]},
                    },
                    ("url",),
                ),
            },
            ("image_url",),
            description="Refused (400) by providers that take no images.",
        ),
    }


def request_schemas() -> dict[str, Schema]:
    """``CreateChatCompletionRequest`` and its options (tools, tool_choice, formats)."""
    stop_word = {"type": "string", "minLength": 1}
    return {
        "AgentName": {"type": "string", "enum": [], "description": "An exposed agent."},
        "ChatCompletionRequest": object_of(
            {
                "model": ref("AgentName"),
                "messages": {
                    "type": "array",
                    "minItems": 1,
                    "items": ref("ChatMessage"),
                    "contains": object_of({"role": {"const": "user"}}, ("role",)),
                    "description": "At least one `user` message; the agent's instruction comes "
                    "first, client system messages after it.",
                },
                "stream": opt("boolean"),
                "stream_options": or_null(ref("StreamOptions")),
                **{name: ranged(allowed) for name, allowed in rules.CHAT_RANGES.items()},
                "stop": {
                    "oneOf": [
                        stop_word,
                        {"type": "array", "maxItems": rules.STOP_MAX, "items": stop_word},
                        {"type": "null"},
                    ]
                },
                "seed": opt("integer"),
                "parallel_tool_calls": opt("boolean"),
                "n": opt("integer", minimum=1, maximum=1, description="Only 1."),
                "logprobs": {"enum": [False, None], "description": "Not supported."},
                "top_logprobs": {"enum": [0, None], "description": "Not supported."},
                "response_format": opt(
                    "object",
                    description="`json_object` or `json_schema`; "
                    "400 with providers that do not support it.",
                ),
                "tools": opt(
                    "array",
                    items=ref("Tool"),
                    description="Tools the client runs; "
                    "unique names. One named like an agent tool is not offered: "
                    "the agent's own tool shadows it.",
                ),
                "tool_choice": {
                    "oneOf": [
                        {"type": "string", "enum": ["none", "auto", "required"]},
                        ref("NamedToolChoice"),
                        {"type": "null"},
                    ]
                },
                # Accepted and ignored, or forwarded where the provider has them.
                "user": opt("string"),
                "metadata": opt("object"),
                "store": opt("boolean"),
                "service_tier": opt("string"),
                "reasoning_effort": opt("string"),
            },
            ("model", "messages"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset. "
            "`stream_options` needs `stream: true`.",
            **{
                "if": object_of({"stream_options": {"type": "object"}}, ("stream_options",)),
                "then": object_of({"stream": {"const": True}}, ("stream",)),
            },
        ),
        "StreamOptions": object_of({"include_usage": opt("boolean")}),
        "Tool": object_of(
            {
                "type": {"const": "function"},
                "function": object_of(
                    {
                        "name": TOOL_NAME,
                        "description": opt("string"),
                        "parameters": opt("object", description="A JSON Schema."),
                        "strict": opt("boolean"),
                    },
                    ("name",),
                ),
            },
            ("function",),
        ),
        "NamedToolChoice": object_of(
            {
                "type": {"const": "function"},
                "function": object_of({"name": STRING}, ("name",)),
            },
            ("function",),
        ),
    }
