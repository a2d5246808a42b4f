"""The parts of trioagent's OpenAPI 3.1 documents: schema builders and shared components.

`trioagent.server.openapi` (``serve chat``, with `trioagent.server.openapi_responses`) and
`trioagent.server.openapi_api` (``serve api``) are built from these. The rules of requests
(`trioagent.wire.rules`) and the error statuses with their headers
(`trioagent.server.errors.STATUSES`) are read from where the server applies them.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Final

from ..wire import rules
from .errors import NO_RETRY, STATUSES

if TYPE_CHECKING:
    import re

Schema = dict[str, Any]

ErrorTable = dict[int, tuple[str, str]]
"""Each error status of an API: its component name and its description. The headers each
carries are those of its problem in `STATUSES`."""

SHARED_ERRORS: Final[ErrorTable] = {
    401: ("Unauthorized", STATUSES[401].message),
    408: ("RequestTimeout", STATUSES[408].message),
    413: ("PayloadTooLarge", "The body is larger than `--max-request-size`."),
    415: ("UnsupportedMediaType", "The body is not `application/json`."),
}
"""The errors every API describes alike (see `error_table`)."""


EMPTY_ARRAY: Final[Schema] = {"type": "array", "maxItems": 0}
"""An array that is always empty (a field OpenAI has and the server never fills)."""


def pattern(regex: re.Pattern[str]) -> str:
    """A JSON Schema ``pattern`` that matches what ``regex`` fully matches."""
    return f"^{regex.pattern}$"


STRING: Final[Schema] = {"type": "string"}
COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
CONVERSATION_ID: Final[Schema] = {"type": "string", "pattern": pattern(rules.SESSION_ID)}
TOOL_NAME: Final[Schema] = {"type": "string", "pattern": pattern(rules.TOOL_NAME)}
USAGE: Final[Schema] = {
    "type": "object",
    "properties": {"prompt_tokens": COUNT, "completion_tokens": COUNT, "total_tokens": COUNT},
    "description": "Summed over every model call of the turn, sub-agents included.",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
}
"""The ``CompletionUsage`` schema (`trioagent.wire.openai.CompletionUsage`)."""
HEALTH: Final[Schema] = {
    "type": "object",
    "properties": {"status": {"const": "ok"}},
    "required": ["status"],
}
"""The ``Health`` schema: the answer of ``GET /healthz``."""
READY: Final[Schema] = {
    "type": "object",
    "properties": {"status": {"const": "ready"}},
    "required": ["status"],
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
    name: {"description": description, "schema": schema}
    for name, description, schema in (
        ("X-Conversation-Id", "The request's X-Conversation-Id, echoed.", CONVERSATION_ID),
        ("X-Request-Id", "The request's X-Request-Id, or a new id.", STRING),
        ("Retry-After", "Seconds to wait before retrying.", {"type": "integer"}),
        (
            "x-should-retry",
            "The turn may have had side effects: no resend.",
            {"const": NO_RETRY["x-should-retry"]},
        ),
        (
            "WWW-Authenticate",
            "The scheme to authenticate with.",
            {"const": STATUSES[401].headers["WWW-Authenticate"]},
        ),
    )
}
"""Header components, by name; each document lists those it uses."""

BEARER: Final[list[Schema]] = [{"bearerAuth": []}]
"""The security requirement of every API operation; the `public_paths` have none."""
SECURITY_SCHEMES: Final[Schema] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The key of `--api-key` or `--api-key-env`, when the server has one.",
    }
}


def ref(name: str, kind: str = "schemas") -> Schema:
    """A ``$ref`` to the component ``name`` of ``components/<kind>``."""
    return {"$ref": f"#/components/{kind}/{name}"}


REQUEST_ID_HEADERS: Final = {"X-Request-Id": ref("X-Request-Id", "headers")}
"""The ``headers`` of an answer that carries only ``X-Request-Id``, as every answer does."""


def or_null(schema: Schema) -> Schema:
    """``schema``, or ``null``."""
    return {"anyOf": [schema, {"type": "null"}]}


def opt(type_: str, **keywords: Any) -> Schema:
    """A field of JSON type ``type_`` that may also be ``null`` (the server reads it as unset)."""
    return {"type": [type_, "null"], **keywords}


def ranged(allowed: rules.Range, **keywords: Any) -> Schema:
    """A field in the range ``allowed``, or ``null`` (unset)."""
    bounds: Schema = {}
    if not allowed.low_open:
        bounds["minimum"] = allowed.low
    elif allowed.kind == "integer":  # above 0 is at least 1
        bounds["minimum"] = allowed.low + 1
    else:
        bounds["exclusiveMinimum"] = allowed.low
    if allowed.high is not None:
        bounds["maximum"] = allowed.high
    return opt(allowed.kind, **bounds, **keywords)


def object_of(properties: Schema, required: tuple[str, ...] = (), **keywords: Any) -> Schema:
    """An object with these properties; other keys are allowed unless ``keywords`` say not."""
    schema: Schema = {"type": "object", "properties": properties, **keywords}
    if required:
        schema["required"] = list(required)
    return schema


def tagged(tag: str, members: dict[str, str]) -> Schema:
    """One of the schemas ``members`` (tag value -> component name), told apart by ``tag``."""
    return {
        "type": "object",
        "required": [tag],
        "oneOf": [ref(name) for name in members.values()],
        "discriminator": {
            "propertyName": tag,
            "mapping": {value: ref(name)["$ref"] for value, name in members.items()},
        },
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
    data: Schema = {
        "type": "string",
        "contentMediaType": "application/json",
        "contentSchema": payload,
    }
    if last is not None:
        data = {"anyOf": [{"const": last, "description": "The last event."}, data]}
    if name is not None:
        return object_of(
            {"event": {"const": name}, "data": data}, ("event", "data"), description=description
        )
    return object_of(
        {
            "event": {"const": "message", "description": "No event names: never an `event:` line."},
            "data": data,
        },
        ("data",),
        description=description,
    )


def json_answer(schema: Schema, description: str, **more: Any) -> Schema:
    """A response object whose body is JSON matching ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}, **more}


def error_table(own: ErrorTable) -> ErrorTable:
    """An API's errors: ``own`` and the `SHARED_ERRORS` it does not describe itself, by status."""
    return dict(sorted({**SHARED_ERRORS, **own}.items()))


def error_responses(table: ErrorTable, body: str) -> dict[str, Schema]:
    """The ``components.responses`` of ``table``'s errors, each a ``body`` schema in JSON
    with the headers of its status."""
    return {
        name: json_answer(
            ref(body),
            description,
            headers={
                header: ref(header, "headers")
                for header in (*STATUSES[status].headers, "X-Request-Id")
            },
        )
        for status, (name, description) in table.items()
    }


def error_refs(table: ErrorTable, *statuses: int) -> Schema:
    """An operation's ``responses`` entries for these error statuses of ``table``."""
    return {str(status): ref(table[status][0], "responses") for status in statuses}


def public_paths() -> Schema:
    """The paths without auth that both servers have: ``/healthz`` and ``/openapi.json``.

    Their document needs ``HEALTH`` as ``components.schemas.Health``, ``READY`` as
    ``components.schemas.Ready`` and a ``ServiceUnavailable`` response.
    """
    return {
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, without auth.",
                "security": [],
                "responses": {"200": json_answer(ref("Health"), "The server is up.")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "ready",
                "summary": "Readiness, without auth: whether the store "
                "answers and the server is not shutting down.",
                "security": [],
                "responses": {
                    "200": json_answer(
                        ref("Ready"), "The server takes requests.", headers=REQUEST_ID_HEADERS
                    ),
                    "503": ref("ServiceUnavailable", "responses"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document, without auth.",
                "security": [],
                "responses": {"200": json_answer({"type": "object"}, "The OpenAPI 3.1 document.")},
            }
        },
    }


def metrics_path() -> Schema:
    """``/metrics``, which both servers have, behind the API key.

    Its document needs an ``Unauthorized`` response.
    """
    return {
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics.",
                "security": BEARER,
                "responses": {
                    "200": {
                        "description": METRICS_DESCRIPTION,
                        "headers": REQUEST_ID_HEADERS,
                        "content": {"text/plain": {"schema": STRING}},
                    },
                    "401": ref("Unauthorized", "responses"),
                },
            }
        }
    }


def document_for(static: dict[str, Any], agents: list[str]) -> dict[str, Any]:
    """A new copy of the OpenAPI document ``static`` of a server exposing ``agents`` (its
    names, in file order, as the ``AgentName`` enum); the caller may change it."""
    document = copy.deepcopy(static)
    document["components"]["schemas"]["AgentName"]["enum"] = list(agents)
    return document
