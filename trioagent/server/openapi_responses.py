"""The schemas of the Responses API part of the OpenAPI document of ``serve chat``.

`trioagent.server.openapi` adds `responses_schemas` to its document, and
`trioagent.server.openapi_responses_paths` its paths. The schemas follow
`trioagent.wire.responses` and `trioagent.wire.checks.parse_responses_request` (unknown keys
allowed, ``null`` for an unset optional field, the ranges and patterns of
`trioagent.wire.rules`), plus the checks the route makes before a turn starts
(`trioagent.server.translate_responses`): a user message or a ``function_call_output`` in
the input, client tools of type ``function`` only.
"""

from __future__ import annotations

from typing import Final

from ..wire import rules
from .openapi_parts import (
    COUNT,
    EMPTY_ARRAY,
    STRING,
    TOOL_NAME,
    Schema,
    object_of,
    opt,
    or_null,
    pattern,
    ranged,
    ref,
    tagged,
)
from .openapi_responses_events import event_schemas
from .openapi_responses_input import input_schemas
from .routes_responses import RESPONSE_ID
from .translate_responses import IGNORED_TOOL_TYPES

RESPONSE_ID_SCHEMA: Final[Schema] = {"type": "string", "pattern": pattern(RESPONSE_ID)}
"""A response id, as the server makes them."""


def _option_schemas() -> dict[str, Schema]:
    return {
        "ResponseTool": {
            "oneOf": [
                ref("ResponseFunctionTool"),
                object_of(
                    {"type": {"enum": sorted(IGNORED_TOOL_TYPES)}},
                    ("type",),
                    description="A hosted tool some clients always offer: not offered to "
                    "the model.",
                ),
            ],
            "description": "Other tool types are refused.",
        },
        "ResponseFunctionTool": object_of(
            {
                "type": {"const": "function"},
                "name": TOOL_NAME,
                "description": opt("string"),
                "parameters": opt("object", description="A JSON Schema."),
                "strict": opt("boolean"),
            },
            ("type", "name"),
        ),
        "ResponseNamedToolChoice": object_of(
            {"type": {"const": "function"}, "name": STRING}, ("type", "name")
        ),
        "ResponseTextConfig": object_of(
            {
                "format": or_null(ref("ResponseTextFormat")),
                "verbosity": opt("string", description="Ignored."),
            }
        ),
        "ResponseTextFormat": object_of(
            {
                "type": {"enum": ["text", "json_object", "json_schema"]},
                "name": opt("string"),
                "schema": opt("object"),
                "description": opt("string"),
                "strict": opt("boolean"),
            },
            ("type",),
            description="`json_object` and `json_schema` (with its `schema`) are "
            "passed to the model's provider; 400 from providers that do not take them.",
            **{
                "if": object_of({"type": {"const": "json_schema"}}, ("type",)),
                "then": object_of({"schema": {"type": "object"}}, ("schema",)),
            },
        ),
    }


def _response_schemas() -> dict[str, Schema]:
    return {
        "Response": object_of(
            {
                "id": RESPONSE_ID_SCHEMA,
                "object": {"const": "response"},
                "created_at": COUNT,
                "status": {"enum": ["in_progress", "completed", "incomplete", "failed"]},
                "error": or_null(ref("ResponseError")),
                "incomplete_details": or_null(
                    object_of({"reason": {"const": "max_output_tokens"}}, ("reason",))
                ),
                "instructions": opt("string"),
                "max_output_tokens": ranged(rules.RESPONSE_RANGES["max_output_tokens"]),
                "model": {"type": "string", "description": "The agent."},
                "output": {
                    "type": "array",
                    "items": ref("ResponseOutputItem"),
                    "description": "The turn's text as one message, then its client tool "
                    "calls; the agent's own tool calls are not shown.",
                },
                "parallel_tool_calls": {"type": "boolean"},
                "previous_response_id": or_null(RESPONSE_ID_SCHEMA),
                "reasoning": object_of(
                    {"effort": {"type": "null"}, "summary": {"type": "null"}}, ("effort", "summary")
                ),
                "store": {"type": "boolean"},
                "temperature": opt("number"),
                "text": object_of({"format": ref("ResponseTextFormat")}, ("format",)),
                "tool_choice": {
                    "oneOf": [
                        {"type": "string", "enum": ["none", "auto", "required"]},
                        ref("ResponseNamedToolChoice"),
                    ]
                },
                "tools": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "The request's `tools`, as sent.",
                },
                "top_p": opt("number"),
                "truncation": {"const": "disabled"},
                "usage": or_null(ref("ResponseUsage")),
                "user": opt("string"),
                "metadata": {"type": "object", "additionalProperties": STRING},
            },
            (
                "id",
                "object",
                "created_at",
                "status",
                "error",
                "incomplete_details",
                "instructions",
                "max_output_tokens",
                "model",
                "output",
                "parallel_tool_calls",
                "previous_response_id",
                "reasoning",
                "store",
                "temperature",
                "text",
                "tool_choice",
                "tools",
                "top_p",
                "truncation",
                "usage",
                "user",
                "metadata",
            ),
        ),
        "ResponseOutputItem": tagged(
            "type",
            {
                "message": "ResponseOutputMessage",
                "function_call": "ResponseFunctionCall",
            },
        ),
        "ResponseOutputMessage": object_of(
            {
                "type": {"const": "message"},
                "id": STRING,
                "status": {"enum": ["in_progress", "completed", "incomplete"]},
                "role": {"const": "assistant"},
                "content": {"type": "array", "items": ref("ResponseOutputText")},
            },
            ("type", "id", "status", "role", "content"),
            description="All the assistant text of the turn.",
        ),
        "ResponseOutputText": object_of(
            {
                "type": {"const": "output_text"},
                "text": STRING,
                "annotations": EMPTY_ARRAY,
                "logprobs": EMPTY_ARRAY,
            },
            ("type", "text", "annotations", "logprobs"),
        ),
        "ResponseFunctionCall": object_of(
            {
                "type": {"const": "function_call"},
                "id": STRING,
                "call_id": STRING,
                "name": STRING,
                "arguments": {"type": "string", "description": "A JSON object, as text."},
                "status": {"enum": ["in_progress", "completed"]},
            },
            ("type", "id", "call_id", "name", "arguments", "status"),
            description="A call of "
            "a client tool: run it and send a `function_call_output` with its `call_id`.",
        ),
        "ResponseUsage": object_of(
            {
                "input_tokens": COUNT,
                "input_tokens_details": object_of(
                    {"cached_tokens": COUNT, "cache_write_tokens": COUNT},
                    ("cached_tokens", "cache_write_tokens"),
                ),
                "output_tokens": COUNT,
                "output_tokens_details": object_of(
                    {"reasoning_tokens": COUNT}, ("reasoning_tokens",)
                ),
                "total_tokens": COUNT,
            },
            (
                "input_tokens",
                "input_tokens_details",
                "output_tokens",
                "output_tokens_details",
                "total_tokens",
            ),
            description="Summed over every model call of the turn, sub-agents included.",
        ),
        "ResponseError": object_of(
            {
                "code": {
                    "enum": ["server_error", "rate_limit_exceeded"],
                    "description": "OpenAI's codes are a closed set: the message says what failed.",
                },
                "message": STRING,
            },
            ("code", "message"),
        ),
        "ResponseDeleted": object_of(
            {
                "id": RESPONSE_ID_SCHEMA,
                "object": {"const": "response.deleted"},
                "deleted": {"const": True},
            },
            ("id", "object", "deleted"),
        ),
        "ResponseInputItemList": object_of(
            {
                "object": {"const": "list"},
                "data": {"type": "array", "items": ref("ResponseInputItemRecord")},
                "first_id": STRING,
                "last_id": STRING,
                "has_more": {"type": "boolean"},
            },
            ("object", "data", "has_more"),
            description="`first_id` and `last_id` are left out when `data` is empty.",
        ),
        "ResponseInputItemRecord": tagged(
            "type",
            {
                "message": "ResponseInputMessageRecord",
                "function_call": "ResponseFunctionCallRecord",
                "function_call_output": "ResponseFunctionCallOutputRecord",
            },
        ),
        "ResponseInputMessageRecord": {
            "allOf": [
                ref("ResponseInputMessage"),
                object_of(
                    {
                        "id": STRING,
                        "status": {"type": "string", "description": "As sent, else `completed`."},
                        "content": {
                            "type": "array",
                            "description": "A string input is one `input_text` "
                            "part (`output_text` for an assistant message).",
                        },
                    },
                    ("type", "id", "status"),
                ),
            ]
        },
        "ResponseFunctionCallRecord": {
            "allOf": [
                ref("ResponseFunctionCallInput"),
                object_of({"id": STRING, "status": STRING}, ("id", "status")),
            ]
        },
        "ResponseFunctionCallOutputRecord": {
            "allOf": [
                ref("ResponseFunctionCallOutputInput"),
                object_of({"id": STRING, "status": STRING}, ("id", "status")),
            ]
        },
    }


def responses_schemas() -> dict[str, Schema]:
    """The ``components.schemas`` of the Responses API (``AgentName`` and ``ErrorEnvelope``
    are the document's own)."""
    return {**input_schemas(), **_option_schemas(), **_response_schemas(), **event_schemas()}
