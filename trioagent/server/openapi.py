"""The OpenAPI 3.1 document of ``serve chat``: exactly what the server accepts and returns.

The Responses API part (``/v1/responses``) comes from `trioagent.server.openapi_responses`.
Built once at import; `openapi_document` deep-copies it and fills in the ``AgentName`` enum.
The schemas follow `trioagent.wire.openai` and the checks of `trioagent.wire.checks`:
unknown keys are allowed, an optional field may be ``null`` (unset), ranges and patterns are
those of `trioagent.wire.rules`. The builders and shared components are
`trioagent.server.openapi_parts`.
"""

from __future__ import annotations

from typing import Any, Final

from .. import __version__
from .openapi_chat_request import message_schemas, request_schemas
from .openapi_parts import (
    BEARER,
    CONVERSATION_ID,
    COUNT,
    HEADERS,
    HEALTH,
    READY,
    SECURITY_SCHEMES,
    STRING,
    USAGE,
    ErrorTable,
    Schema,
    document_for,
    error_refs,
    error_responses,
    error_table,
    json_answer,
    metrics_path,
    object_of,
    opt,
    or_null,
    public_paths,
    ref,
    sse_event,
)
from .openapi_responses import responses_schemas
from .openapi_responses_paths import responses_errors, responses_paths

SSE_DESCRIPTION: Final = """\
Server-sent events, each `data: <JSON>` and a blank line, never an `event:` line. Each JSON
is a `#/components/schemas/ChatCompletionChunk`; all share one `id`, `created` and `model`:
a first chunk with `delta: {"role": "assistant", "content": ""}`; content chunks with
`delta: {"content": "..."}`; for client tool calls, `delta.tool_calls` pieces with their
`index` (first `id`, `type`, `function.name`, then `function.arguments` text); one final
chunk with `delta: {}` and a `finish_reason`; with `stream_options.include_usage`, every chunk
has `"usage": null` and one more chunk has `"choices": []` and the usage; then `data: [DONE]`.
`: keep-alive` comment lines come while the agent is busy (`--keep-alive`). An error after
the stream started is sent as `data: {"error": {...}}` (an `ErrorEnvelope`), then
`data: [DONE]`."""


ERRORS: Final[ErrorTable] = error_table(
    {
        400: ("BadRequest", "Invalid body or parameter; `error.param` names it."),
        404: ("NotFound", "Unknown model (`code: model_not_found`, `param: model`)."),
        409: ("Conflict", "A turn on this X-Conversation-Id is running (`conversation_busy`)."),
        429: ("TooManyRequests", "Rate limited; nothing ran."),
        500: ("InternalError", "A bug; the message holds a request id for the server log."),
        502: ("BadGateway", "The model provider failed (after trioagent's own retries)."),
        503: (
            "ServiceUnavailable",
            "The conversation store is unreachable or the server is shutting down; nothing ran.",
        ),
        504: (
            "GatewayTimeout",
            "The turn ran past `--request-timeout`; the stored conversation is unchanged.",
        ),
    }
)
"""Each error status of ``serve chat``: its component name and its description
(`trioagent.server.openapi_responses_paths` has its own 404 and 409)."""


def _response_schemas() -> dict[str, Schema]:
    def one_choice(properties: Schema, **keywords: Any) -> Schema:
        choice = object_of({"index": {"const": 0}, **properties}, ("index", *properties))
        return {"type": "array", "maxItems": 1, "items": choice, **keywords}

    return {
        "ChatCompletion": object_of(
            {
                "id": STRING,
                "object": {"const": "chat.completion"},
                "created": COUNT,
                "model": ref("AgentName"),
                "choices": one_choice(
                    {"message": ref("ChatCompletionMessage"), "finish_reason": ref("FinishReason")},
                    minItems=1,
                ),
                "usage": ref("CompletionUsage"),
            },
            ("id", "object", "created", "model", "choices", "usage"),
        ),
        "ChatCompletionMessage": object_of(
            {
                "role": {"const": "assistant"},
                "content": opt("string", description="All the assistant text of the turn."),
                "tool_calls": {
                    "type": "array",
                    "items": ref("ToolCall"),
                    "description": "Client tool calls; the agent's own are not shown.",
                },
            },
            ("role", "content"),
        ),
        "ToolCall": object_of(
            {
                "id": STRING,
                "type": {"const": "function"},
                "function": object_of(
                    {
                        "name": STRING,
                        "arguments": {"type": "string", "description": "A JSON object, as text."},
                    },
                    ("name", "arguments"),
                ),
            },
            ("id", "function"),
        ),
        "FinishReason": {"type": "string", "enum": ["stop", "length", "tool_calls"]},
        "CompletionUsage": USAGE,
        "ChatCompletionChunk": object_of(
            {
                "id": STRING,
                "object": {"const": "chat.completion.chunk"},
                "created": COUNT,
                "model": ref("AgentName"),
                "choices": one_choice(
                    {
                        "delta": object_of(
                            {
                                "role": {"const": "assistant"},
                                "content": STRING,
                                "tool_calls": {
                                    "type": "array",
                                    "items": object_of(
                                        {
                                            "index": COUNT,
                                            "id": STRING,
                                            "type": {"const": "function"},
                                            "function": object_of(
                                                {"name": STRING, "arguments": STRING}
                                            ),
                                        },
                                        ("index",),
                                    ),
                                },
                            }
                        ),
                        "finish_reason": or_null(ref("FinishReason")),
                    }
                ),
                "usage": or_null(ref("CompletionUsage")),
            },
            ("id", "object", "created", "model", "choices"),
        ),
        "Model": object_of(
            {
                "id": ref("AgentName"),
                "object": {"const": "model"},
                "created": COUNT,
                "owned_by": {"const": "trioagent"},
            },
            ("id", "object", "created", "owned_by"),
        ),
        "ModelList": object_of(
            {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}},
            ("object", "data"),
        ),
        "ErrorEnvelope": object_of(
            {
                "error": object_of(
                    {
                        "message": STRING,
                        "type": STRING,
                        "param": opt("string"),
                        "code": opt("string"),
                    },
                    ("message", "type", "param", "code"),
                )
            },
            ("error",),
        ),
        "Health": HEALTH,
        "Ready": READY,
    }


def _paths() -> Schema:
    conversation_id = {
        "name": "X-Conversation-Id",
        "in": "header",
        "required": False,
        "description": "Continue a conversation kept by the server (with `--conversations-max` "
        "above 0; otherwise ignored). Ids are scoped to the API key.",
        "schema": CONVERSATION_ID,
    }
    chat_answer = {
        "description": "One `chat.completion`, or an SSE stream when `stream` is true.",
        "headers": {name: ref(name, "headers") for name in ("X-Conversation-Id", "X-Request-Id")},
        "content": {
            "application/json": {"schema": ref("ChatCompletion")},
            "text/event-stream": {
                "schema": sse_event(
                    SSE_DESCRIPTION,
                    {
                        "anyOf": [
                            ref("ChatCompletionChunk"),
                            ref("ErrorEnvelope"),
                        ]
                    },
                    last="[DONE]",
                )
            },
        },
    }
    return {
        "/v1/models": {
            "get": {
                "operationId": "listModels",
                "summary": "The exposed agents, in file order.",
                "security": BEARER,
                "responses": {
                    "200": json_answer(ref("ModelList"), "The agents."),
                    **error_refs(ERRORS, 401, 500),
                },
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "retrieveModel",
                "summary": "One exposed agent.",
                "security": BEARER,
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": ref("AgentName")},
                ],
                "responses": {
                    "200": json_answer(ref("Model"), "The agent."),
                    **error_refs(ERRORS, 401, 404, 500),
                },
            }
        },
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "summary": "Run one turn of an agent.",
                "security": BEARER,
                "parameters": [conversation_id],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": ref("ChatCompletionRequest")},
                    },
                },
                "responses": {"200": chat_answer, **error_refs(ERRORS, *ERRORS)},
            }
        },
        **metrics_path(),
        **public_paths(),
    }


def _static_document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trioagent serve chat",
            "version": __version__,
            "description": "YAML agents as the models of an OpenAI Chat Completions "
            "API and of its Responses API.",
        },
        "paths": {**_paths(), **responses_paths(ERRORS)},
        "components": {
            "schemas": {
                **message_schemas(),
                **request_schemas(),
                **_response_schemas(),
                **responses_schemas(),
            },
            "responses": {**error_responses(ERRORS, "ErrorEnvelope"), **responses_errors()},
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


_STATIC: Final = _static_document()


def openapi_document(agents: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a ``serve chat`` server exposing ``agents``.

    Args:
        agents: the exposed agents' names, in file order.

    Returns:
        A new document, which the caller may change.
    """
    return document_for(_STATIC, agents)
