"""The OpenAPI 3.1 document of ``serve chat``: exactly what the server accepts and returns.

Built once at import; `openapi_document` deep-copies it and fills in the ``AgentName`` enum.
The schemas follow `trioagent.wire.openai` and the checks of `trioagent.wire.convert`:
unknown keys are allowed, an optional field may be ``null`` (unset), ranges are the contract's.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from .. import __version__

Schema = dict[str, Any]

CONVERSATION_ID_PATTERN: Final = "^[A-Za-z0-9._:-]{1,128}$"
TOOL_NAME_PATTERN: Final = "^[A-Za-z0-9_-]{1,64}$"

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

_ERRORS: Final[dict[int, tuple[str, str, tuple[str, ...]]]] = {
    400: ("BadRequest", "Invalid body or parameter; `error.param` names it.", ()),
    401: ("Unauthorized", "Missing or wrong bearer token.", ("WWW-Authenticate",)),
    404: ("NotFound", "Unknown model (`code: model_not_found`, `param: model`).", ()),
    408: ("RequestTimeout", "The request body did not arrive in time.", ()),
    409: ("Conflict", "A turn on this X-Conversation-Id is running (`conversation_busy`).",
          ("Retry-After",)),
    413: ("PayloadTooLarge", "The body is larger than `--max-request-size`.", ()),
    415: ("UnsupportedMediaType", "The body is not `application/json`.", ()),
    429: ("TooManyRequests", "Rate limited; nothing ran.", ("Retry-After",)),
    500: ("InternalError", "A bug; the message holds a request id for the server log.",
          ("x-should-retry",)),
    502: ("BadGateway", "The model provider failed (after trioagent's own retries).",
          ("x-should-retry",)),
    503: ("ServiceUnavailable", "The conversation store is unreachable or the server is "
          "shutting down; nothing ran.", ("Retry-After",)),
    504: ("GatewayTimeout", "The turn ran past `--request-timeout`; the stored conversation "
          "is unchanged.", ("x-should-retry",)),
}
"""Each error status: its component name, its description, and the headers it carries."""

STRING: Final[Schema] = {"type": "string"}
COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
CONVERSATION_ID: Final[Schema] = {"type": "string", "pattern": CONVERSATION_ID_PATTERN}


def _ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _or_null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _opt(type_: str, **keywords: Any) -> Schema:
    """A field of JSON type ``type_`` that may also be ``null`` (the server reads it as unset)."""
    return {"type": [type_, "null"], **keywords}


def _object(properties: Schema, required: tuple[str, ...] = (), **keywords: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **keywords}
    if required:
        schema["required"] = list(required)
    return schema


def _tagged(tag: str, members: dict[str, str]) -> Schema:
    """One of the schemas ``members`` (tag value -> component name), told apart by ``tag``."""
    return {
        "type": "object", "required": [tag],
        "oneOf": [_ref(name) for name in members.values()],
        "discriminator": {"propertyName": tag, "mapping": {
            value: _ref(name)["$ref"] for value, name in members.items()
        }},
    }


def _json(schema: Schema, description: str, **more: Any) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}, **more}


def _error_response(description: str, headers: tuple[str, ...] = ()) -> Schema:
    return _json(_ref("ErrorEnvelope"), description,
                 headers={name: _ref(name, "headers") for name in (*headers, "X-Request-Id")})


def _errors(*statuses: int) -> Schema:
    return {str(status): _ref(_ERRORS[status][0], "responses") for status in statuses}


def _message_schemas() -> dict[str, Schema]:
    def content(*forms: Schema) -> Schema:
        return {"oneOf": [STRING, *forms]}

    text = content({"type": "array", "items": _ref("TextPart")})

    def message(role: str, body: Schema, *required: str, **keywords: Any) -> Schema:
        return _object({"role": {"const": role}, **body}, ("role", *required), **keywords)

    return {
        "ChatMessage": _tagged("role", {
            "system": "SystemMessage", "developer": "DeveloperMessage", "user": "UserMessage",
            "assistant": "AssistantMessage", "tool": "ToolMessage",
        }),
        "SystemMessage": message("system", {"content": text, "name": _opt("string")}, "content",
                                 description="Kept after the agent's own instruction."),
        "DeveloperMessage": message("developer", {"content": text, "name": _opt("string")},
                                    "content", description="Treated as a system message."),
        "UserMessage": message("user", {
            "content": content({"type": "array", "items": _ref("UserContentPart")}),
            "name": _opt("string"),
        }, "content"),
        "AssistantMessage": message("assistant", {
            "content": content({"type": "array", "items": _ref("TextPart")}, {"type": "null"}),
            "tool_calls": _opt("array", items=_ref("ToolCall")),
            "name": _opt("string"),
        }),
        "ToolMessage": message("tool", {"content": text, "tool_call_id": STRING},
                               "content", "tool_call_id",
                               description="The result of one client tool call."),
        "UserContentPart": _tagged("type", {"text": "TextPart", "image_url": "ImagePart"}),
        "TextPart": _object({"type": {"const": "text"}, "text": STRING}, ("text",)),
        "ImagePart": _object({
            "type": {"const": "image_url"},
            "image_url": _object({
                "url": {"type": "string", "description": "An `https:` or `data:` URL."},
                "detail": {"enum": ["auto", "low", "high", None]},
            }, ("url",)),
        }, ("image_url",), description="Refused (400) by providers that take no images."),
    }


def _request_schemas() -> dict[str, Schema]:
    penalty = _opt("number", minimum=-2, maximum=2)
    max_tokens = _opt("integer", minimum=1)
    stop_word = {"type": "string", "minLength": 1}
    return {
        "AgentName": {"type": "string", "enum": [], "description": "An exposed agent."},
        "ChatCompletionRequest": _object({
            "model": _ref("AgentName"),
            "messages": {
                "type": "array", "minItems": 1, "items": _ref("ChatMessage"),
                "contains": _object({"role": {"const": "user"}}, ("role",)),
                "description": "At least one `user` message; the agent's instruction comes "
                "first, client system messages after it.",
            },
            "stream": _opt("boolean"), "stream_options": _or_null(_ref("StreamOptions")),
            "temperature": _opt("number", minimum=0, maximum=2),
            "top_p": _opt("number", exclusiveMinimum=0, maximum=1),
            "max_tokens": max_tokens, "max_completion_tokens": max_tokens,
            "stop": {"oneOf": [
                stop_word, {"type": "array", "maxItems": 4, "items": stop_word}, {"type": "null"},
            ]},
            "seed": _opt("integer"), "presence_penalty": penalty, "frequency_penalty": penalty,
            "parallel_tool_calls": _opt("boolean"),
            "n": _opt("integer", minimum=1, maximum=1, description="Only 1."),
            "logprobs": {"enum": [False, None], "description": "Not supported."},
            "top_logprobs": {"enum": [0, None], "description": "Not supported."},
            "response_format": _opt("object", description="`json_object` or `json_schema`; "
                                    "400 with providers that do not support it."),
            "tools": _opt("array", items=_ref("Tool"), description="Tools the client runs; "
                          "unique names, none the name of one of the agent's own tools."),
            "tool_choice": {"oneOf": [
                {"type": "string", "enum": ["none", "auto", "required"]},
                _ref("NamedToolChoice"), {"type": "null"},
            ]},
            # Accepted and ignored, or forwarded where the provider has them.
            "user": _opt("string"), "metadata": _opt("object"), "store": _opt("boolean"),
            "service_tier": _opt("string"), "reasoning_effort": _opt("string"),
        }, ("model", "messages"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset. "
            "`stream_options` needs `stream: true`.",
            **{"if": _object({"stream_options": {"type": "object"}}, ("stream_options",)),
               "then": _object({"stream": {"const": True}}, ("stream",))},
        ),
        "StreamOptions": _object({"include_usage": _opt("boolean")}),
        "Tool": _object({"type": {"const": "function"}, "function": _object({
            "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
            "description": _opt("string"),
            "parameters": _opt("object", description="A JSON Schema."),
            "strict": _opt("boolean"),
        }, ("name",))}, ("function",)),
        "NamedToolChoice": _object({
            "type": {"const": "function"}, "function": _object({"name": STRING}, ("name",)),
        }, ("function",)),
    }


def _response_schemas() -> dict[str, Schema]:
    def one_choice(properties: Schema, **keywords: Any) -> Schema:
        choice = _object({"index": {"const": 0}, **properties}, ("index", *properties))
        return {"type": "array", "maxItems": 1, "items": choice, **keywords}

    return {
        "ChatCompletion": _object({
            "id": STRING, "object": {"const": "chat.completion"}, "created": COUNT,
            "model": _ref("AgentName"),
            "choices": one_choice({"message": _ref("ChatCompletionMessage"),
                                   "finish_reason": _ref("FinishReason")}, minItems=1),
            "usage": _ref("CompletionUsage"),
        }, ("id", "object", "created", "model", "choices", "usage")),
        "ChatCompletionMessage": _object({
            "role": {"const": "assistant"},
            "content": _opt("string", description="All the assistant text of the turn."),
            "tool_calls": {"type": "array", "items": _ref("ToolCall"),
                           "description": "Client tool calls; the agent's own are not shown."},
        }, ("role", "content")),
        "ToolCall": _object({"id": STRING, "type": {"const": "function"}, "function": _object({
            "name": STRING,
            "arguments": {"type": "string", "description": "A JSON object, as text."},
        }, ("name", "arguments"))}, ("id", "function")),
        "FinishReason": {"type": "string", "enum": ["stop", "length", "tool_calls"]},
        "CompletionUsage": _object(
            {"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT},
            ("prompt_tokens", "completion_tokens", "total_tokens"),
            description="Summed over every model call of the turn, sub-agents included.",
        ),
        "ChatCompletionChunk": _object({
            "id": STRING, "object": {"const": "chat.completion.chunk"}, "created": COUNT,
            "model": _ref("AgentName"),
            "choices": one_choice({
                "delta": _object({
                    "role": {"const": "assistant"}, "content": STRING,
                    "tool_calls": {"type": "array", "items": _object({
                        "index": COUNT, "id": STRING, "type": {"const": "function"},
                        "function": _object({"name": STRING, "arguments": STRING}),
                    }, ("index",))},
                }),
                "finish_reason": _or_null(_ref("FinishReason")),
            }),
            "usage": _or_null(_ref("CompletionUsage")),
        }, ("id", "object", "created", "model", "choices")),
        "Model": _object({
            "id": _ref("AgentName"), "object": {"const": "model"}, "created": COUNT,
            "owned_by": {"const": "trioagent"},
        }, ("id", "object", "created", "owned_by")),
        "ModelList": _object({"object": {"const": "list"}, "data": {
            "type": "array", "items": _ref("Model")}}, ("object", "data")),
        "ErrorEnvelope": _object({"error": _object({
            "message": STRING, "type": STRING, "param": _opt("string"), "code": _opt("string"),
        }, ("message", "type", "param", "code"))}, ("error",)),
        "Health": _object({"status": {"const": "ok"}}, ("status",)),
    }


def _headers() -> dict[str, Schema]:
    return {name: {"description": description, "schema": schema} for name, description, schema in (
        ("X-Conversation-Id", "The request's X-Conversation-Id, echoed.", CONVERSATION_ID),
        ("X-Request-Id", "The request's X-Request-Id, or a new id.", STRING),
        ("Retry-After", "Seconds to wait before retrying.", {"type": "integer"}),
        ("x-should-retry", "The turn may have had side effects: no resend.", {"const": "false"}),
        ("WWW-Authenticate", "The scheme to authenticate with.", {"const": "Bearer"}),
    )}


def _paths() -> Schema:
    bearer: list[Schema] = [{"bearerAuth": []}]
    conversation_id = {
        "name": "X-Conversation-Id", "in": "header", "required": False,
        "description": "Continue a conversation kept by the server (with `--conversations-max` "
        "above 0; otherwise ignored). Ids are scoped to the API key.",
        "schema": CONVERSATION_ID,
    }
    chat_answer = {
        "description": "One `chat.completion`, or an SSE stream when `stream` is true.",
        "headers": {name: _ref(name, "headers") for name in ("X-Conversation-Id", "X-Request-Id")},
        "content": {
            "application/json": {"schema": _ref("ChatCompletion")},
            "text/event-stream": {"schema": {"type": "string", "description": SSE_DESCRIPTION}},
        },
    }
    return {
        "/v1/models": {"get": {
            "operationId": "listModels", "summary": "The exposed agents, in file order.",
            "security": bearer,
            "responses": {"200": _json(_ref("ModelList"), "The agents."), **_errors(401, 500)},
        }},
        "/v1/models/{model}": {"get": {
            "operationId": "retrieveModel", "summary": "One exposed agent.", "security": bearer,
            "parameters": [
                {"name": "model", "in": "path", "required": True, "schema": _ref("AgentName")},
            ],
            "responses": {"200": _json(_ref("Model"), "The agent."), **_errors(401, 404, 500)},
        }},
        "/v1/chat/completions": {"post": {
            "operationId": "createChatCompletion", "summary": "Run one turn of an agent.",
            "security": bearer, "parameters": [conversation_id],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("ChatCompletionRequest")},
            }},
            "responses": {"200": chat_answer, **_errors(*_ERRORS)},
        }},
        "/healthz": {"get": {
            "operationId": "health", "summary": "Liveness, without auth.", "security": [],
            "responses": {"200": _json(_ref("Health"), "The server is up.")},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document, without auth.", "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
        }},
    }


def _static_document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": "trioagent serve chat", "version": __version__,
                 "description": "YAML agents as the models of an OpenAI Chat Completions API."},
        "paths": _paths(),
        "components": {
            "schemas": {**_message_schemas(), **_request_schemas(), **_response_schemas()},
            "responses": {name: _error_response(description, headers)
                          for name, description, headers in _ERRORS.values()},
            "headers": _headers(),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description":
                "The key of `--api-key` or `--api-key-env`, when the server has one."}},
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
    document = copy.deepcopy(_STATIC)
    document["components"]["schemas"]["AgentName"]["enum"] = list(agents)
    return document
