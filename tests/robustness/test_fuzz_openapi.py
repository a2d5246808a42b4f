"""Property-based fuzzing of both HTTP APIs from their own ``GET /openapi.json``.

schemathesis generates valid and invalid requests for every documented operation (its
coverage and fuzzing phases) and checks each answer: never a 5xx; the status, media type,
headers and body are what the document says. Every request that reaches a model gets the
fake upstream's ``ok``, so a valid request must be a 200, never a 502. The routes of a
stored response are fuzzed twice: with the ids schemathesis makes up (never stored: 404),
and on a response that exists.

The runs are deterministic (a fixed seed, derandomized Hypothesis, no example database):
they never flake, and a failure replays the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from trioagent.server.openapi import openapi_document
from trioagent.server.openapi_api import api_openapi_document

from .conftest import SIMPLE_AGENTS, ThreadedServers

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""Neither ``negative_data_rejection`` (with no API key, a request whose only fault is a bad
``Authorization`` header is rightly served) nor ``positive_data_acceptance`` (a schema cannot
say that ``tool_choice`` must name an offered tool, which the server checks: 400)."""

MAX_EXAMPLES = 50
"""Fuzzed examples per operation; the coverage phase adds its own fixed set of cases."""

SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=False,
)


def _schema(document: dict[str, object]) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": 20260101,
            "suppress-health-check": ["all"],
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)


# schemathesis' lazy schemas (``from_fixture``, which would load the document from the
# running server) fail on pytest 9.2 (they set ``Function._nodeid``, which is gone). So each
# document is built here as the server builds it, and the first test proves that the
# running servers serve exactly these documents at ``/openapi.json``.
CHAT_DOCUMENT = openapi_document(list(SIMPLE_AGENTS))
API_DOCUMENT = api_openapi_document(list(SIMPLE_AGENTS))
chat = _schema(CHAT_DOCUMENT)
api = _schema(API_DOCUMENT)
stored_responses = chat.include(path_regex=r"\{response_id\}")

STORED_INPUT = [
    {"role": "user", "content": "one"},
    {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    {"role": "user", "content": [{"type": "input_text", "text": "two"}]},
]
"""The input of the stored responses: a page of items of every kind a record has."""


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def test_the_fuzzed_documents_are_the_served_ones(
    threaded_servers: ThreadedServers, http_session: requests.Session
) -> None:
    for url, document in (
        (threaded_servers.chat_url, CHAT_DOCUMENT),
        (threaded_servers.api_url, API_DOCUMENT),
    ):
        served = http_session.get(f"{url}/openapi.json", timeout=10)
        assert served.status_code == 200
        assert served.json() == document


@chat.parametrize()
@SETTINGS
def test_serve_chat_answers_as_its_document_says(
    case: schemathesis.Case, threaded_servers: ThreadedServers, http_session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=threaded_servers.chat_url, session=http_session, checks=CHECKS, timeout=30
    )


def _store_response(session: requests.Session, base_url: str) -> str:
    """A new stored response (its ``input_items`` are `STORED_INPUT`); return its id."""
    response = session.post(
        f"{base_url}/v1/responses", timeout=30, json={"model": "root", "input": STORED_INPUT}
    )
    assert response.status_code == 200, response.text
    response_id: str = response.json()["id"]
    return response_id


@pytest.fixture(scope="module")
def stored_response_id(threaded_servers: ThreadedServers, http_session: requests.Session) -> str:
    return _store_response(http_session, threaded_servers.chat_url)


@stored_responses.parametrize()
@SETTINGS
def test_a_stored_response_answers_as_the_document_says(
    case: schemathesis.Case,
    threaded_servers: ThreadedServers,
    http_session: requests.Session,
    stored_response_id: str,
) -> None:
    """``GET``, ``DELETE`` and ``input_items`` on a response that exists (``DELETE`` on a
    new one each time), with the query parameters schemathesis makes."""
    if case.method == "DELETE":
        stored_response_id = _store_response(http_session, threaded_servers.chat_url)
    case.path_parameters = {"response_id": stored_response_id}
    case.call_and_validate(
        base_url=threaded_servers.chat_url, session=http_session, checks=CHECKS, timeout=30
    )


@api.parametrize()
@SETTINGS
def test_serve_api_answers_as_its_document_says(
    case: schemathesis.Case, threaded_servers: ThreadedServers, http_session: requests.Session
) -> None:
    case.call_and_validate(
        base_url=threaded_servers.api_url, session=http_session, checks=CHECKS, timeout=30
    )
