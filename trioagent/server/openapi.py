"""The OpenAPI 3.1 document of ``serve chat``: exactly what the server accepts and returns.

The document is static but for the names of the exposed agents: it is built once, at
import, and `openapi_document` deep-copies it and fills in the ``AgentName`` enum, which
both the request's ``model`` and the ``/v1/models/{model}`` path parameter refer to.
The schemas follow `trioagent.wire.openai` and the checks of `trioagent.wire.convert`:
unknown keys are allowed, optional fields may be ``null``, ranges are the contract's.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from .. import __version__

Schema = dict[str, Any]

CONVERSATION_ID_PATTERN: Final = "^[A-Za-z0-9._:-]{1,128}$"
TOOL_NAME_PATTERN: Final = "^[A-Za-z0-9_-]{1,64}$"

SSE_DESCRIPTION: Final = """\
Server-sent events, each `data: <JSON>` followed by a blank line; never an `event:` line.
Every JSON event is a `#/components/schemas/ChatCompletionChunk`, and all share one `id`,
`created` and `model`:
1. a first chunk with `delta: {"role": "assistant", "content": ""}`;
2. content chunks with `delta: {"content": "..."}`;
3. for client tool calls, `delta.tool_calls` pieces, each with its `index`: first `id`, `type`
   and `function.name`, then `function.arguments` text;
4. one final choice chunk with `delta: {}` and a non-null `finish_reason`;
5. with `stream_options.include_usage: true`, every chunk above has `"usage": null` and one more
   chunk has `"choices": []` and the usage summed over the turn;
6. `data: [DONE]`.
While the agent is busy, a `: keep-alive` comment line comes at least every 15 s (the
`--keep-alive` flag). An error after the stream started is sent in-band as
`data: {"error": {...}}` (a `#/components/schemas/ErrorEnvelope`), then `data: [DONE]`."""

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

_MESSAGE_ROLES: Final = ("system", "developer", "user", "assistant", "tool")


def _ref(name: str, kind: str = "schemas") -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _opt(type_: str, **keywords: Any) -> Schema:
    """A field of JSON type ``type_`` that may also be ``null`` (the server reads it as unset)."""
    return {"type": [type_, "null"], **keywords}


def _or_null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: Schema, required: tuple[str, ...] = (), **keywords: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, **keywords}
    if required:
        schema["required"] = list(required)
    return schema


def _json(schema: Schema, description: str, **extra: Any) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}},
            **extra}


def _error_response(description: str, headers: tuple[str, ...] = ()) -> Schema:
    return _json(_ref("ErrorEnvelope"), description,
                 headers={name: _ref(name, "headers") for name in (*headers, "X-Request-Id")})


def _errors(*statuses: int) -> Schema:
    return {str(status): _ref(_ERRORS[status][0], "responses") for status in statuses}


def _message_schemas() -> dict[str, Schema]:
    text_content = {"oneOf": [{"type": "string"}, {"type": "array", "items": _ref("TextPart")}]}
    name = _opt("string")

    def role(value: str) -> Schema:
        return {"type": "string", "const": value}

    return {
        "ChatMessage": {
            "oneOf": [_ref(f"{r.capitalize()}Message") for r in _MESSAGE_ROLES],
            "discriminator": {"propertyName": "role", "mapping": {
                r: f"#/components/schemas/{r.capitalize()}Message" for r in _MESSAGE_ROLES
            }},
        },
        "SystemMessage": _object(
            {"role": role("system"), "content": text_content, "name": name},
            ("role", "content"), description="Kept after the agent's own instruction.",
        ),
        "DeveloperMessage": _object(
            {"role": role("developer"), "content": text_content, "name": name},
            ("role", "content"), description="Treated as a system message.",
        ),
        "UserMessage": _object({
            "role": role("user"),
            "content": {"oneOf": [
                {"type": "string"}, {"type": "array", "items": _ref("UserContentPart")},
            ]},
            "name": name,
        }, ("role", "content")),
        "AssistantMessage": _object({
            "role": role("assistant"),
            "content": {"oneOf": [
                {"type": "string"}, {"type": "array", "items": _ref("TextPart")},
                {"type": "null"},
            ]},
            "tool_calls": _opt("array", items=_ref("ToolCall")),
            "name": name,
        }, ("role",)),
        "ToolMessage": _object(
            {"role": role("tool"), "content": text_content, "tool_call_id": {"type": "string"}},
            ("role", "content", "tool_call_id"), description="The result of a client tool call.",
        ),
        "TextPart": _object(
            {"type": {"type": "string", "const": "text"}, "text": {"type": "string"}}, ("text",)
        ),
        "ImagePart": _object({
            "type": {"type": "string", "const": "image_url"},
            "image_url": _object({
                "url": {"type": "string", "description": "An `https:` or `data:` URL."},
                "detail": {"enum": ["auto", "low", "high", None]},
            }, ("url",)),
        }, ("image_url",), description="Refused with 400 by providers that take no images."),
        "UserContentPart": {
            "oneOf": [_ref("TextPart"), _ref("ImagePart")], "required": ["type"],
            "discriminator": {"propertyName": "type", "mapping": {
                "text": "#/components/schemas/TextPart",
                "image_url": "#/components/schemas/ImagePart",
            }},
        },
    }


def _request_schemas() -> dict[str, Schema]:
    penalty = _opt("number", minimum=-2, maximum=2)
    max_tokens = _opt("integer", minimum=1)
    non_empty = {"type": "string", "minLength": 1}
    return {
        "AgentName": {"type": "string", "enum": [], "description": "An exposed agent."},
        "ChatCompletionRequest": _object({
            "model": _ref("AgentName"),
            "messages": {
                "type": "array", "minItems": 1, "items": _ref("ChatMessage"),
                "contains": _object({"role": {"const": "user"}}, ("role",)),
                "description": "At least one `user` message. The agent's YAML instruction "
                "always comes first.",
            },
            "stream": _opt("boolean"),
            "stream_options": _or_null(_ref("StreamOptions")),
            "temperature": _opt("number", minimum=0, maximum=2),
            "top_p": _opt("number", exclusiveMinimum=0, maximum=1),
            "max_tokens": max_tokens,
            "max_completion_tokens": max_tokens,
            "stop": {"oneOf": [
                non_empty, {"type": "array", "maxItems": 4, "items": non_empty}, {"type": "null"},
            ]},
            "seed": _opt("integer"),
            "presence_penalty": penalty,
            "frequency_penalty": penalty,
            "parallel_tool_calls": _opt("boolean"),
            "n": _opt("integer", minimum=1, maximum=1, description="Only 1."),
            "logprobs": {"enum": [False, None], "description": "Not supported."},
            "top_logprobs": {"enum": [0, None], "description": "Not supported."},
            "response_format": _opt("object", description="`json_object` or `json_schema`; "
                                    "400 for providers that do not support it."),
            "tools": _opt("array", items=_ref("Tool"), description="Tools the client runs; "
                          "names must be unique and differ from the agent's own tools."),
            "tool_choice": {"oneOf": [
                {"type": "string", "enum": ["none", "auto", "required"]},
                _ref("NamedToolChoice"), {"type": "null"},
            ]},
            "user": _opt("string"),
            "metadata": _opt("object"),
            "store": _opt("boolean"),
            "service_tier": _opt("string"),
            "reasoning_effort": _opt("string"),
        }, ("model", "messages"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset.",
            # stream_options only with stream: true
            **{"if": _object({"stream_options": {"type": "object"}}, ("stream_options",)),
               "then": _object({"stream": {"const": True}}, ("stream",))},
        ),
        "StreamOptions": _object({"include_usage": _opt("boolean")}),
        "Tool": _object({
            "type": {"type": "string", "const": "function"},
            "function": _object({
                "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
                "description": _opt("string"),
                "parameters": _opt("object", description="A JSON Schema."),
                "strict": _opt("boolean"),
            }, ("name",)),
        }, ("function",)),
        "NamedToolChoice": _object({
            "type": {"type": "string", "const": "function"},
            "function": _object({"name": {"type": "string"}}, ("name",)),
        }, ("function",)),
    }


def _response_schemas() -> dict[str, Schema]:
    integer = {"type": "integer", "minimum": 0}
    string = {"type": "string"}
    function_call = _object({
        "name": string,
        "arguments": {"type": "string", "description": "A JSON object as text."},
    }, ("name", "arguments"))
    return {
        "ChatCompletion": _object({
            "id": string, "object": {"const": "chat.completion"}, "created": integer,
            "model": _ref("AgentName"),
            "choices": {"type": "array", "minItems": 1, "maxItems": 1, "items": _object({
                "index": {"const": 0}, "message": _ref("ChatCompletionMessage"),
                "finish_reason": _ref("FinishReason"),
            }, ("index", "message", "finish_reason"))},
            "usage": _ref("CompletionUsage"),
        }, ("id", "object", "created", "model", "choices", "usage")),
        "ChatCompletionMessage": _object({
            "role": {"const": "assistant"},
            "content": _opt("string", description="All the assistant text of the turn."),
            "tool_calls": {"type": "array", "items": _ref("ToolCall"),
                           "description": "Client tool calls only; the agent's own are not "
                           "reported."},
        }, ("role", "content")),
        "ToolCall": _object({
            "id": string, "type": {"type": "string", "const": "function"},
            "function": function_call,
        }, ("id", "function")),
        "FinishReason": {"type": "string", "enum": ["stop", "length", "tool_calls"]},
        "CompletionUsage": _object({
            "prompt_tokens": integer, "completion_tokens": integer, "total_tokens": integer,
        }, ("prompt_tokens", "completion_tokens", "total_tokens"),
            description="Summed over every model call of the turn, sub-agents included."),
        "ChatCompletionChunk": _object({
            "id": string, "object": {"const": "chat.completion.chunk"}, "created": integer,
            "model": _ref("AgentName"),
            "choices": {"type": "array", "maxItems": 1, "items": _object({
                "index": {"const": 0},
                "delta": _object({
                    "role": {"const": "assistant"}, "content": string,
                    "tool_calls": {"type": "array", "items": _object({
                        "index": integer, "id": string,
                        "type": {"const": "function"},
                        "function": _object({"name": string, "arguments": string}),
                    }, ("index",))},
                }),
                "finish_reason": _or_null(_ref("FinishReason")),
            }, ("index", "delta", "finish_reason"))},
            "usage": _or_null(_ref("CompletionUsage")),
        }, ("id", "object", "created", "model", "choices")),
        "Model": _object({
            "id": _ref("AgentName"), "object": {"const": "model"}, "created": integer,
            "owned_by": {"const": "trioagent"},
        }, ("id", "object", "created", "owned_by")),
        "ModelList": _object({
            "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")},
        }, ("object", "data")),
        "ErrorEnvelope": _object({"error": _object({
            "message": string, "type": string, "param": _opt("string"), "code": _opt("string"),
        }, ("message", "type", "param", "code"))}, ("error",)),
        "Health": _object({"status": {"const": "ok"}}, ("status",)),
    }


def _headers() -> dict[str, Schema]:
    def header(description: str, schema: Schema) -> Schema:
        return {"description": description, "schema": schema}

    return {
        "X-Conversation-Id": header(
            "Echo of the request's X-Conversation-Id (when conversations are on).",
            {"type": "string", "pattern": CONVERSATION_ID_PATTERN},
        ),
        "X-Request-Id": header("The request's X-Request-Id, or a new id.", {"type": "string"}),
        "Retry-After": header("Seconds to wait before retrying.", {"type": "integer"}),
        "x-should-retry": header("The turn may have had side effects: SDKs must not resend.",
                                 {"const": "false"}),
        "WWW-Authenticate": header("The scheme to authenticate with.", {"const": "Bearer"}),
    }


def _paths() -> Schema:
    bearer: list[Schema] = [{"bearerAuth": []}]
    chat_ok = {
        "description": "The agent's answer: one `chat.completion`, or an SSE stream when "
        "`stream` is true.",
        "headers": {name: _ref(name, "headers") for name in ("X-Conversation-Id", "X-Request-Id")},
        "content": {
            "application/json": {"schema": _ref("ChatCompletion")},
            "text/event-stream": {"schema": {"type": "string", "description": SSE_DESCRIPTION}},
        },
    }
    return {
        "/v1/models": {"get": {
            "operationId": "listModels", "summary": "List the exposed agents, in file order.",
            "security": bearer,
            "responses": {"200": _json(_ref("ModelList"), "The agents."), **_errors(401, 500)},
        }},
        "/v1/models/{model}": {"get": {
            "operationId": "retrieveModel", "summary": "One exposed agent.",
            "security": bearer,
            "parameters": [{"name": "model", "in": "path", "required": True,
                            "schema": _ref("AgentName")}],
            "responses": {"200": _json(_ref("Model"), "The agent."), **_errors(401, 404, 500)},
        }},
        "/v1/chat/completions": {"post": {
            "operationId": "createChatCompletion", "summary": "Run one turn of an agent.",
            "security": bearer,
            "parameters": [{
                "name": "X-Conversation-Id", "in": "header", "required": False,
                "description": "Continue a conversation kept by the server (only with "
                "`--conversations-max` > 0; otherwise ignored). Scoped to the API key.",
                "schema": {"type": "string", "pattern": CONVERSATION_ID_PATTERN},
            }],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("ChatCompletionRequest")},
            }},
            "responses": {"200": chat_ok, **_errors(*_ERRORS)},
        }},
        "/healthz": {"get": {
            "operationId": "health", "summary": "Liveness; never authenticated.",
            "security": [], "responses": {"200": _json(_ref("Health"), "The server is up.")},
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document; never authenticated.",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")},
        }},
    }


def _static_document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "trioagent serve chat", "version": __version__,
            "description": "Agents defined in YAML, served as the models of an "
            "OpenAI-compatible Chat Completions API.",
        },
        "paths": _paths(),
        "components": {
            "schemas": {**_message_schemas(), **_request_schemas(), **_response_schemas()},
            "responses": {
                name: _error_response(description, headers)
                for name, description, headers in _ERRORS.values()
            },
            "headers": _headers(),
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "The key given with `--api-key` or `--api-key-env`; "
                "needed on /v1/* only when the server has one.",
            }},
        },
    }


_STATIC: Final = _static_document()


def openapi_document(agents: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a ``serve chat`` server exposing ``agents``.

    Args:
        agents: the exposed agents' names, in file order.

    Returns:
        A new document; the caller may change it.
    """
    document = copy.deepcopy(_STATIC)
    document["components"]["schemas"]["AgentName"]["enum"] = list(agents)
    return document
