"""Checks of real server answers against a served OpenAPI document (shared by the tests).

A plain module beside the tests, not a ``test_*`` file: pytest's default ``prepend`` import
mode puts ``tests/server`` (which has no ``__init__.py``) on ``sys.path`` before it imports
a test module there, as it does for ``conftest.py``; so ``from openapi_checks import ...``
works from every test module in this directory.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC = "urn:trioagent:openapi"
"""The URI the document is registered under, so that its ``#/components/...`` refs resolve."""

Document = dict[str, Any]


async def fetch_document(server) -> Document:
    """``GET /openapi.json`` without credentials: it is public, and JSON."""
    async with server.http() as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


def validator_at(document: Document, *where: str) -> jsonschema.Draft202012Validator:
    """A validator of the schema at path ``where`` of ``document``, every $ref resolved."""
    pointer = "/".join(part.replace("~", "~0").replace("/", "~1") for part in where)
    registry = Registry().with_resource(
        DOC, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": f"{DOC}#/{pointer}"}, registry=registry)


def _where_response(document: Document, path: str, method: str, status: int) -> tuple[str, ...]:
    """Where the response object documented for ``status`` is ($ref followed; fails if none)."""
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    where: tuple[str, ...] = ("paths", path, method, "responses", str(status))
    if "$ref" in responses[str(status)]:
        where = tuple(responses[str(status)]["$ref"].removeprefix("#/").split("/"))
    return where


def _at(document: Document, where: tuple[str, ...]) -> Any:
    node: Any = document
    for part in where:
        node = node[part]
    return node


def response_validator(
    document: Document, path: str, method: str, status: int, media_type: str
) -> jsonschema.Draft202012Validator:
    """The validator of the body documented for ``status`` of an operation (fails if none)."""
    where = _where_response(document, path, method, status)
    content = _at(document, where).get("content", {})
    assert media_type in content, f"{method.upper()} {path} {status}: no {media_type} body"
    return validator_at(document, *where, "content", media_type, "schema")


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def check_answer(document: Document, path: str, method: str, response: httpx.Response) -> None:
    """A real answer is what the document says for its status: headers, media type, body.

    Every header the response object lists must be sent, with a value its schema allows; a
    response object without ``content`` means no body. A JSON body is validated whole; an
    event stream event by event, each as ``{"event": NAME, "data": ...}`` (``NAME`` from its
    ``event:`` line, else ``message``; the JSON in its ``data`` is the caller's to check).
    """
    where = _where_response(document, path, method, response.status_code)
    documented = _at(document, where)
    for name, header in documented.get("headers", {}).items():
        assert name in response.headers, f"{response.status_code}: no {name} header"
        if "$ref" in header:
            header = _at(document, tuple(header["$ref"].removeprefix("#/").split("/")))
        value: Any = response.headers[name]
        if header["schema"].get("type") == "integer":
            value = int(value)
        jsonschema.Draft202012Validator(header["schema"]).validate(value)
    if "content" not in documented:
        assert response.content == b"", f"{response.status_code} has an undocumented body"
        return
    kind = media_type(response)
    validator = response_validator(document, path, method, response.status_code, kind)
    if kind != "text/event-stream":
        validator.validate(response.json())
        return
    for block in response.text.split("\n\n"):
        fields = [
            line.partition(":")[::2] for line in block.splitlines() if not line.startswith(":")
        ]
        data = [value.removeprefix(" ") for name, value in fields if name == "data"]
        names = [value.removeprefix(" ") for name, value in fields if name == "event"]
        if data:
            validator.validate(
                {"event": names[-1] if names else "message", "data": "\n".join(data)}
            )
