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
from .routes_responses import RESPONSE_ID
from .translate_responses import IGNORED_TOOL_TYPES

STREAM_EVENTS: Final = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
}
"""Each stream event's name (its ``type``) and its component, in the order they come."""

_EMPTY: Final[Schema] = {"type": "array", "maxItems": 0}
RESPONSE_ID_SCHEMA: Final[Schema] = {"type": "string", "pattern": pattern(RESPONSE_ID)}
"""A response id, as the server makes them."""


def _input_schemas() -> dict[str, Schema]:
    content = {"oneOf": [STRING, {"type": "array", "items": ref("ResponseInputContent")}]}
    user_turn = {
        "anyOf": [
            object_of({"type": {"const": "message"}, "role": {"const": "user"}}, ("role",)),
            object_of({"type": {"const": "function_call_output"}}, ("type",)),
        ]
    }
    return {
        "ResponseCreateRequest": object_of(
            {
                "model": ref("AgentName"),
                "input": {
                    "oneOf": [
                        {"type": "string", "minLength": 1, "description": "One user message."},
                        {
                            "type": "array",
                            "minItems": 1,
                            "items": ref("ResponseInputItem"),
                            "contains": user_turn,
                            "description": "At least one user message or `function_call_output`.",
                        },
                    ]
                },
                "instructions": opt(
                    "string",
                    description="A system message before the input, "
                    "after the agent's own instruction. Kept in the stored "
                    "conversation; the same text sent again is not repeated.",
                ),
                "previous_response_id": opt(
                    "string",
                    description="Continue this stored response's conversation (for this API key).",
                ),
                "store": opt(
                    "boolean",
                    description="Keep this response for `GET` and "
                    "`previous_response_id` (the default; with `--responses-max 0`, "
                    "nothing is kept).",
                ),
                "stream": opt("boolean"),
                "stream_options": opt("object", description="Only with `stream: true`; ignored."),
                "tools": opt(
                    "array",
                    items=ref("ResponseTool"),
                    description="Tools the client "
                    "runs; unique names. One named like an agent tool is not offered: "
                    "the agent's own tool shadows it.",
                ),
                "tool_choice": {
                    "oneOf": [
                        {"type": "string", "enum": ["none", "auto", "required"]},
                        ref("ResponseNamedToolChoice"),
                        {"type": "null"},
                    ],
                    "description": "A named function must be one of the tools offered (the "
                    "request's and the agent's own).",
                },
                "parallel_tool_calls": opt("boolean"),
                **{name: ranged(allowed) for name, allowed in rules.RESPONSE_RANGES.items()},
                "text": or_null(ref("ResponseTextConfig")),
                "metadata": opt(
                    "object", additionalProperties=STRING, description="Echoed in the response."
                ),
                # Refused unless unset.
                "background": {"enum": [False, None], "description": "Not supported."},
                "conversation": {
                    "type": "null",
                    "description": "Not supported: use `previous_response_id`.",
                },
                "prompt": {"type": "null", "description": "Not supported."},
                "top_logprobs": {"enum": [0, None], "description": "Not supported."},
                # Accepted and ignored.
                "include": opt("array", items=STRING),
                "reasoning": opt("object"),
                "truncation": opt("string"),
                "user": opt("string"),
                "service_tier": opt("string"),
                "prompt_cache_key": opt("string"),
                "safety_identifier": opt("string"),
                "max_tool_calls": opt("integer"),
            },
            ("model", "input"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset. "
            "`stream_options` needs `stream: true`.",
            **{
                "if": object_of({"stream_options": {"type": "object"}}, ("stream_options",)),
                "then": object_of({"stream": {"const": True}}, ("stream",)),
            },
        ),
        "ResponseInputItem": {
            "oneOf": [
                ref(name)
                for name in (
                    "ResponseInputMessage",
                    "ResponseFunctionCallInput",
                    "ResponseFunctionCallOutputInput",
                    "ResponseReasoningInput",
                    "ResponseItemReferenceInput",
                )
            ],
            "description": "Told apart by `type`; a message may leave it out. Other item "
            "types are refused.",
        },
        "ResponseInputMessage": object_of(
            {
                "type": {"const": "message"},
                "role": {"enum": ["user", "assistant", "system", "developer"]},
                "content": content,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("role", "content"),
            description="`system` and `developer` messages are system "
            "messages, after the agent's own instruction. Images reach the model from `user` "
            "messages only.",
        ),
        "ResponseFunctionCallInput": object_of(
            {
                "type": {"const": "function_call"},
                "call_id": STRING,
                "name": STRING,
                "arguments": STRING,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("type", "call_id", "name", "arguments"),
            description="A client tool call of an earlier response, sent back.",
        ),
        "ResponseFunctionCallOutputInput": object_of(
            {
                "type": {"const": "function_call_output"},
                "call_id": STRING,
                "output": content,
                "id": opt("string"),
                "status": opt("string"),
            },
            ("type", "call_id", "output"),
            description="The result of a client tool call; only its text reaches the model.",
        ),
        "ResponseReasoningInput": object_of(
            {"type": {"const": "reasoning"}}, ("type",), description="Accepted and skipped."
        ),
        "ResponseItemReferenceInput": object_of(
            {"type": {"const": "item_reference"}, "id": STRING},
            ("type", "id"),
            description="An output item (`msg_…`, `fc_…`) of a stored response of the same "
            "API key, standing for that item; an id that names no stored item is 400.",
        ),
        "ResponseInputContent": {
            **tagged(
                "type",
                {
                    "input_text": "ResponseInputText",
                    "output_text": "ResponseOutputTextInput",
                    "refusal": "ResponseRefusalInput",
                    "input_image": "ResponseInputImage",
                },
            ),
            "description": "`input_file` parts are refused: the agent reads files with its tools.",
        },
        "ResponseInputText": object_of(
            {"type": {"const": "input_text"}, "text": STRING}, ("type", "text")
        ),
        "ResponseOutputTextInput": object_of(
            {
                "type": {"const": "output_text"},
                "text": STRING,
                "annotations": {"type": "array"},
            },
            ("type", "text"),
        ),
        "ResponseRefusalInput": object_of(
            {"type": {"const": "refusal"}, "refusal": STRING}, ("type", "refusal")
        ),
        "ResponseInputImage": object_of(
            {
                "type": {"const": "input_image"},
                "image_url": {
                    "type": "string",
                    "minLength": 1,
                    "description": "An `https:` or `data:` URL.",
                },
                "file_id": opt("string", description="Not supported: send `image_url`."),
                "detail": opt("string"),
            },
            ("type", "image_url"),
            description="Refused (400) by providers that take no images.",
        ),
    }


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
                "annotations": _EMPTY,
                "logprobs": _EMPTY,
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


def _event(kind: str, description: str, **properties: Schema) -> Schema:
    return object_of(
        {"type": {"const": kind}, "sequence_number": COUNT, **properties},
        ("type", "sequence_number", *properties),
        description=description,
    )


def _with_status(status: str, **more: Schema) -> Schema:
    """The ``Response`` schema for a response in ``status``."""
    return {"allOf": [ref("Response"), object_of({"status": {"const": status}, **more})]}


def _event_schemas() -> dict[str, Schema]:
    text_part = {"item_id": STRING, "output_index": COUNT, "content_index": {"const": 0}}
    arguments = {"item_id": STRING, "output_index": COUNT}
    item_events = {
        f"response.output_item.{when}": _event(
            f"response.output_item.{when}",
            description,
            output_index=COUNT,
            item=ref("ResponseOutputItem"),
        )
        for when, description in (
            ("added", "An output item begins (`status: in_progress`)."),
            ("done", "An output item is whole."),
        )
    }
    part_events = {
        f"response.content_part.{when}": _event(
            f"response.content_part.{when}",
            description,
            **text_part,
            part=ref("ResponseOutputText"),
        )
        for when, description in (
            ("added", "The text part begins (empty)."),
            ("done", "The text part is whole."),
        )
    }
    events: dict[str, Schema] = {
        "response.created": _event(
            "response.created", "The first event.", response=_with_status("in_progress")
        ),
        "response.in_progress": _event(
            "response.in_progress", "The second event.", response=_with_status("in_progress")
        ),
        **item_events,
        **part_events,
        "response.output_text.delta": _event(
            "response.output_text.delta",
            "A piece of the text, as it comes.",
            **text_part,
            delta=STRING,
            logprobs=_EMPTY,
        ),
        "response.output_text.done": _event(
            "response.output_text.done",
            "The whole text: the deltas joined.",
            **text_part,
            text=STRING,
            logprobs=_EMPTY,
        ),
        "response.function_call_arguments.delta": _event(
            "response.function_call_arguments.delta",
            "A client tool call's arguments (all of them, in one piece).",
            **arguments,
            delta=STRING,
        ),
        "response.function_call_arguments.done": _event(
            "response.function_call_arguments.done",
            "A client tool call is whole.",
            **arguments,
            name=STRING,
            arguments=STRING,
        ),
        "response.completed": _event(
            "response.completed",
            "The last event of a finished turn.",
            response=_with_status("completed"),
        ),
        "response.incomplete": _event(
            "response.incomplete",
            "The last event of a turn cut short.",
            response=_with_status("incomplete"),
        ),
        "response.failed": _event(
            "response.failed",
            "The last event of a turn that failed after the stream began; nothing was stored.",
            response=_with_status("failed", error=ref("ResponseError")),
        ),
    }
    return {
        "ResponseStreamEvent": tagged("type", STREAM_EVENTS),
        **{STREAM_EVENTS[kind]: schema for kind, schema in events.items()},
    }


def responses_schemas() -> dict[str, Schema]:
    """The ``components.schemas`` of the Responses API (``AgentName`` and ``ErrorEnvelope``
    are the document's own)."""
    return {**_input_schemas(), **_option_schemas(), **_response_schemas(), **_event_schemas()}
