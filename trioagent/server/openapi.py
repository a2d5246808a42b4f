"""The OpenAPI 3.1 document of ``serve chat``: exactly what the server accepts and returns.

The Responses API part (``/v1/responses``) comes from `trioagent.server.openapi_responses`.
Built once at import; `openapi_document` deep-copies it and fills in the ``AgentName`` enum.
The schemas follow `trioagent.wire.openai` and the checks of `trioagent.wire.convert`:
unknown keys are allowed, an optional field may be ``null`` (unset), ranges are the contract's.

The public helpers and constants (schema builders, error tables, headers, bearer auth, the
public paths) are shared with `trioagent.server.openapi_api`, the document of ``serve api``.
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

ErrorTable = dict[int, tuple[str, str, tuple[str, ...]]]
"""Each error status of an API: its component name, its description, the headers it carries."""

ERRORS: Final[ErrorTable] = {
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
"""Each error status of ``serve chat``: its component name, its description, and the headers
it carries (`trioagent.server.openapi_responses` has its own 404 and 409)."""

STRING: Final[Schema] = {"type": "string"}
COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
CONVERSATION_ID: Final[Schema] = {"type": "string", "pattern": CONVERSATION_ID_PATTERN}
USAGE: Final[Schema] = {
    "type": "object",
    "properties": {"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT},
    "description": "Summed over every model call of the turn, sub-agents included.",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
}
"""The ``CompletionUsage`` schema (`trioagent.wire.openai.CompletionUsage`)."""
HEALTH: Final[Schema] = {
    "type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"],
}
"""The ``Health`` schema: the answer of ``GET /healthz``."""
READY: Final[Schema] = {
    "type": "object", "properties": {"status": {"const": "ready"}}, "required": ["status"],
}
"""The ``Ready`` schema: the answer of ``GET /readyz`` when the server takes requests."""
METRICS_DESCRIPTION: Final = """\
Prometheus metrics of this process, in the text exposition format (with `--workers N`, of
the worker that answered): `trioagent_requests_total{route,method,status}`,
`trioagent_turn_duration_seconds{agent,outcome}`, `trioagent_time_to_first_token_seconds{agent}`,
`trioagent_upstream_errors_total{agent,kind}`, `trioagent_active_turns`,
`trioagent_active_streams` and, with a store, `trioagent_cached_conversations`. Not rate
limited."""

HEADERS: Final[dict[str, Schema]] = {
    name: {"description": description, "schema": schema} for name, description, schema in (
        ("X-Conversation-Id", "The request's X-Conversation-Id, echoed.", CONVERSATION_ID),
        ("X-Request-Id", "The request's X-Request-Id, or a new id.", STRING),
        ("Retry-After", "Seconds to wait before retrying.", {"type": "integer"}),
        ("x-should-retry", "The turn may have had side effects: no resend.", {"const": "false"}),
        ("WWW-Authenticate", "The scheme to authenticate with.", {"const": "Bearer"}),
    )
}
"""Header components, by name; each document lists those it uses."""

BEARER: Final[list[Schema]] = [{"bearerAuth": []}]
"""The security requirement of every API operation; the `public_paths` have none."""
SECURITY_SCHEMES: Final[Schema] = {"bearerAuth": {
    "type": "http", "scheme": "bearer",
    "description": "The key of `--api-key` or `--api-key-env`, when the server has one.",
}}


def ref(name: str, kind: str = "schemas") -> Schema:
    """A ``$ref`` to the component ``name`` of ``components/<kind>``."""
    return {"$ref": f"#/components/{kind}/{name}"}


def or_null(schema: Schema) -> Schema:
    """``schema``, or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def opt(type_: str, **keywords: Any) -> Schema:
    """A field of JSON type ``type_`` that may also be ``null`` (the server reads it as unset)."""
    return {"type": [type_, "null"], **keywords}


def object_of(properties: Schema, required: tuple[str, ...] = (), **keywords: Any) -> Schema:
    """An object with these properties; other keys are allowed unless ``keywords`` say not."""
    schema: Schema = {"type": "object", "properties": properties, **keywords}
    if required:
        schema["required"] = list(required)
    return schema


def tagged(tag: str, members: dict[str, str]) -> Schema:
    """One of the schemas ``members`` (tag value -> component name), told apart by ``tag``."""
    return {
        "type": "object", "required": [tag],
        "oneOf": [ref(name) for name in members.values()],
        "discriminator": {"propertyName": tag, "mapping": {
            value: ref(name)["$ref"] for value, name in members.items()
        }},
    }


def sse_event(
    description: str, payload: Schema, *, last: str | None = None, name: str | None = None
) -> Schema:
    """The ``schema`` of a ``text/event-stream`` answer: what each of its events is.

    OpenAPI 3.1 has no ``itemSchema``, so tools (schemathesis among them) read the schema
    of an event stream as each event's, parsed as ``{"event", "data", "id", "retry"}``.
    Every event here is a default ``message`` event (no ``event:`` line) whose ``data`` is
    JSON matching ``payload``, or the text ``last`` (a sentinel that ends the stream); with
    ``name``, an event of that name (its ``event:`` line) instead.
    """
    data: Schema = {"type": "string", "contentMediaType": "application/json",
                    "contentSchema": payload}
    if last is not None:
        data = {"anyOf": [{"const": last, "description": "The last event."}, data]}
    if name is not None:
        return object_of({"event": {"const": name}, "data": data}, ("event", "data"),
                         description=description)
    return object_of({
        "event": {"const": "message", "description": "No event names: never an `event:` line."},
        "data": data,
    }, ("data",), description=description)


def json_answer(schema: Schema, description: str, **more: Any) -> Schema:
    """A response object whose body is JSON matching ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}, **more}


def error_responses(table: ErrorTable, body: str) -> dict[str, Schema]:
    """The ``components.responses`` of ``table``'s errors, each a ``body`` schema in JSON."""
    return {
        name: json_answer(ref(body), description, headers={
            header: ref(header, "headers") for header in (*headers, "X-Request-Id")
        })
        for name, description, headers in table.values()
    }


def error_refs(table: ErrorTable, *statuses: int) -> Schema:
    """An operation's ``responses`` entries for these error statuses of ``table``."""
    return {str(status): ref(table[status][0], "responses") for status in statuses}


def _message_schemas() -> dict[str, Schema]:
    def content(*forms: Schema) -> Schema:
        return {"oneOf": [STRING, *forms]}

    text = content({"type": "array", "items": ref("TextPart")})

    def message(role: str, body: Schema, *required: str, **keywords: Any) -> Schema:
        return object_of({"role": {"const": role}, **body}, ("role", *required), **keywords)

    return {
        "ChatMessage": tagged("role", {
            "system": "SystemMessage", "developer": "DeveloperMessage", "user": "UserMessage",
            "assistant": "AssistantMessage", "tool": "ToolMessage",
        }),
        "SystemMessage": message("system", {"content": text, "name": opt("string")}, "content",
                                 description="Kept after the agent's own instruction."),
        "DeveloperMessage": message("developer", {"content": text, "name": opt("string")},
                                    "content", description="Treated as a system message."),
        "UserMessage": message("user", {
            "content": content({"type": "array", "items": ref("UserContentPart")}),
            "name": opt("string"),
        }, "content"),
        "AssistantMessage": message("assistant", {
            "content": content({"type": "array", "items": ref("TextPart")}, {"type": "null"}),
            "tool_calls": opt("array", items=ref("ToolCall")),
            "name": opt("string"),
        }),
        "ToolMessage": message("tool", {"content": text, "tool_call_id": STRING},
                               "content", "tool_call_id",
                               description="The result of one client tool call."),
        "UserContentPart": tagged("type", {"text": "TextPart", "image_url": "ImagePart"}),
        "TextPart": object_of({"type": {"const": "text"}, "text": STRING}, ("text",)),
        "ImagePart": object_of({
            "type": {"const": "image_url"},
            "image_url": object_of({
                "url": {"type": "string", "description": "An `https:` or `data:` URL."},
                "detail": {"enum": ["auto", "low", "high", None]},
            }, ("url",)),
        }, ("image_url",), description="Refused (400) by providers that take no images."),
    }


def _request_schemas() -> dict[str, Schema]:
    penalty = opt("number", minimum=-2, maximum=2)
    max_tokens = opt("integer", minimum=1)
    stop_word = {"type": "string", "minLength": 1}
    return {
        "AgentName": {"type": "string", "enum": [], "description": "An exposed agent."},
        "ChatCompletionRequest": object_of({
            "model": ref("AgentName"),
            "messages": {
                "type": "array", "minItems": 1, "items": ref("ChatMessage"),
                "contains": object_of({"role": {"const": "user"}}, ("role",)),
                "description": "At least one `user` message; the agent's instruction comes "
                "first, client system messages after it.",
            },
            "stream": opt("boolean"), "stream_options": or_null(ref("StreamOptions")),
            "temperature": opt("number", minimum=0, maximum=2),
            "top_p": opt("number", exclusiveMinimum=0, maximum=1),
            "max_tokens": max_tokens, "max_completion_tokens": max_tokens,
            "stop": {"oneOf": [
                stop_word, {"type": "array", "maxItems": 4, "items": stop_word}, {"type": "null"},
            ]},
            "seed": opt("integer"), "presence_penalty": penalty, "frequency_penalty": penalty,
            "parallel_tool_calls": opt("boolean"),
            "n": opt("integer", minimum=1, maximum=1, description="Only 1."),
            "logprobs": {"enum": [False, None], "description": "Not supported."},
            "top_logprobs": {"enum": [0, None], "description": "Not supported."},
            "response_format": opt("object", description="`json_object` or `json_schema`; "
                                   "400 with providers that do not support it."),
            "tools": opt("array", items=ref("Tool"), description="Tools the client runs; "
                         "unique names. One named like an agent tool is not offered: "
                         "the agent's own tool shadows it."),
            "tool_choice": {"oneOf": [
                {"type": "string", "enum": ["none", "auto", "required"]},
                ref("NamedToolChoice"), {"type": "null"},
            ]},
            # Accepted and ignored, or forwarded where the provider has them.
            "user": opt("string"), "metadata": opt("object"), "store": opt("boolean"),
            "service_tier": opt("string"), "reasoning_effort": opt("string"),
        }, ("model", "messages"),
            description="Sampling fields override the agent's model settings for every model "
            "call of the turn. Unknown fields are ignored; `null` means unset. "
            "`stream_options` needs `stream: true`.",
            **{"if": object_of({"stream_options": {"type": "object"}}, ("stream_options",)),
               "then": object_of({"stream": {"const": True}}, ("stream",))},
        ),
        "StreamOptions": object_of({"include_usage": opt("boolean")}),
        "Tool": object_of({"type": {"const": "function"}, "function": object_of({
            "name": {"type": "string", "pattern": TOOL_NAME_PATTERN},
            "description": opt("string"),
            "parameters": opt("object", description="A JSON Schema."),
            "strict": opt("boolean"),
        }, ("name",))}, ("function",)),
        "NamedToolChoice": object_of({
            "type": {"const": "function"}, "function": object_of({"name": STRING}, ("name",)),
        }, ("function",)),
    }


def _response_schemas() -> dict[str, Schema]:
    def one_choice(properties: Schema, **keywords: Any) -> Schema:
        choice = object_of({"index": {"const": 0}, **properties}, ("index", *properties))
        return {"type": "array", "maxItems": 1, "items": choice, **keywords}

    return {
        "ChatCompletion": object_of({
            "id": STRING, "object": {"const": "chat.completion"}, "created": COUNT,
            "model": ref("AgentName"),
            "choices": one_choice({"message": ref("ChatCompletionMessage"),
                                   "finish_reason": ref("FinishReason")}, minItems=1),
            "usage": ref("CompletionUsage"),
        }, ("id", "object", "created", "model", "choices", "usage")),
        "ChatCompletionMessage": object_of({
            "role": {"const": "assistant"},
            "content": opt("string", description="All the assistant text of the turn."),
            "tool_calls": {"type": "array", "items": ref("ToolCall"),
                           "description": "Client tool calls; the agent's own are not shown."},
        }, ("role", "content")),
        "ToolCall": object_of({"id": STRING, "type": {"const": "function"}, "function": object_of({
            "name": STRING,
            "arguments": {"type": "string", "description": "A JSON object, as text."},
        }, ("name", "arguments"))}, ("id", "function")),
        "FinishReason": {"type": "string", "enum": ["stop", "length", "tool_calls"]},
        "CompletionUsage": USAGE,
        "ChatCompletionChunk": object_of({
            "id": STRING, "object": {"const": "chat.completion.chunk"}, "created": COUNT,
            "model": ref("AgentName"),
            "choices": one_choice({
                "delta": object_of({
                    "role": {"const": "assistant"}, "content": STRING,
                    "tool_calls": {"type": "array", "items": object_of({
                        "index": COUNT, "id": STRING, "type": {"const": "function"},
                        "function": object_of({"name": STRING, "arguments": STRING}),
                    }, ("index",))},
                }),
                "finish_reason": or_null(ref("FinishReason")),
            }),
            "usage": or_null(ref("CompletionUsage")),
        }, ("id", "object", "created", "model", "choices")),
        "Model": object_of({
            "id": ref("AgentName"), "object": {"const": "model"}, "created": COUNT,
            "owned_by": {"const": "trioagent"},
        }, ("id", "object", "created", "owned_by")),
        "ModelList": object_of({"object": {"const": "list"}, "data": {
            "type": "array", "items": ref("Model")}}, ("object", "data")),
        "ErrorEnvelope": object_of({"error": object_of({
            "message": STRING, "type": STRING, "param": opt("string"), "code": opt("string"),
        }, ("message", "type", "param", "code"))}, ("error",)),
        "Health": HEALTH,
        "Ready": READY,
    }


def public_paths() -> Schema:
    """The paths without auth that both servers have: ``/healthz`` and ``/openapi.json``.

    Their document needs ``HEALTH`` as ``components.schemas.Health``, ``READY`` as
    ``components.schemas.Ready`` and a ``ServiceUnavailable`` response.
    """
    return {
        "/healthz": {"get": {
            "operationId": "health", "summary": "Liveness, without auth.", "security": [],
            "responses": {"200": json_answer(ref("Health"), "The server is up.")},
        }},
        "/readyz": {"get": {
            "operationId": "ready", "summary": "Readiness, without auth: whether the store "
            "answers and the server is not shutting down.", "security": [],
            "responses": {
                "200": json_answer(ref("Ready"), "The server takes requests.",
                                   headers={"X-Request-Id": ref("X-Request-Id", "headers")}),
                "503": ref("ServiceUnavailable", "responses"),
            },
        }},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document, without auth.", "security": [],
            "responses": {"200": json_answer({"type": "object"}, "The OpenAPI 3.1 document.")},
        }},
    }


def metrics_path() -> Schema:
    """``/metrics``, which both servers have, behind the API key.

    Its document needs an ``Unauthorized`` response.
    """
    return {"/metrics": {"get": {
        "operationId": "metrics", "summary": "Prometheus metrics.", "security": BEARER,
        "responses": {
            "200": {"description": METRICS_DESCRIPTION,
                    "headers": {"X-Request-Id": ref("X-Request-Id", "headers")},
                    "content": {"text/plain": {"schema": STRING}}},
            "401": ref("Unauthorized", "responses"),
        },
    }}}


def _paths() -> Schema:
    conversation_id = {
        "name": "X-Conversation-Id", "in": "header", "required": False,
        "description": "Continue a conversation kept by the server (with `--conversations-max` "
        "above 0; otherwise ignored). Ids are scoped to the API key.",
        "schema": CONVERSATION_ID,
    }
    chat_answer = {
        "description": "One `chat.completion`, or an SSE stream when `stream` is true.",
        "headers": {name: ref(name, "headers") for name in ("X-Conversation-Id", "X-Request-Id")},
        "content": {
            "application/json": {"schema": ref("ChatCompletion")},
            "text/event-stream": {"schema": sse_event(SSE_DESCRIPTION, {"anyOf": [
                ref("ChatCompletionChunk"), ref("ErrorEnvelope"),
            ]}, last="[DONE]")},
        },
    }
    return {
        "/v1/models": {"get": {
            "operationId": "listModels", "summary": "The exposed agents, in file order.",
            "security": BEARER,
            "responses": {"200": json_answer(ref("ModelList"), "The agents."),
                          **error_refs(ERRORS, 401, 500)},
        }},
        "/v1/models/{model}": {"get": {
            "operationId": "retrieveModel", "summary": "One exposed agent.", "security": BEARER,
            "parameters": [
                {"name": "model", "in": "path", "required": True, "schema": ref("AgentName")},
            ],
            "responses": {"200": json_answer(ref("Model"), "The agent."),
                          **error_refs(ERRORS, 401, 404, 500)},
        }},
        "/v1/chat/completions": {"post": {
            "operationId": "createChatCompletion", "summary": "Run one turn of an agent.",
            "security": BEARER, "parameters": [conversation_id],
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": ref("ChatCompletionRequest")},
            }},
            "responses": {"200": chat_answer, **error_refs(ERRORS, *ERRORS)},
        }},
        **metrics_path(),
        **public_paths(),
    }


def _static_document() -> Schema:
    # Imported here: the Responses API part is built from this module's helpers.
    from .openapi_responses import responses_errors, responses_paths, responses_schemas

    return {
        "openapi": "3.1.0",
        "info": {"title": "trioagent serve chat", "version": __version__,
                 "description": "YAML agents as the models of an OpenAI Chat Completions "
                 "API and of its Responses API."},
        "paths": {**_paths(), **responses_paths()},
        "components": {
            "schemas": {**_message_schemas(), **_request_schemas(), **_response_schemas(),
                        **responses_schemas()},
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
    document = copy.deepcopy(_STATIC)
    document["components"]["schemas"]["AgentName"]["enum"] = list(agents)
    return document
