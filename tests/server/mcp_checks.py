"""What the `serve mcp` tests share: the two protocol eras, and reading a call's result.

A plain module beside the tests (see openapi_checks.py for why ``from mcp_checks import``
works from the test modules of this directory).
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import CallToolResult

from trioagent.testing import FakeOpenAI

ERAS = pytest.mark.parametrize("mode", ["legacy", "auto"], ids=["2025-11-25", "2026-07-28"])
"""The official client's ``mode``: the initialize handshake, or 2026-07-28's envelopes
(what the client picks on its own against this server)."""

INITIALIZE: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
"""A raw 2025-11-25 ``initialize`` request, for the tests that speak JSON-RPC themselves."""


def seen(fake: FakeOpenAI, index: int = -1) -> list[tuple[str, str]]:
    """(role, content) of what the upstream got, the agent instruction left out."""
    return [(m["role"], m.get("content") or "") for m in fake.requests[index].json["messages"][1:]]


def answer_of(result: CallToolResult) -> tuple[str, str]:
    """The answer and the conversation id of a successful call."""
    assert not result.is_error, result.content
    structured = result.structured_content
    assert isinstance(structured, dict)
    assert result.content[0].type == "text"
    assert result.content[0].text == structured["answer"]
    return structured["answer"], structured["conversation_id"]


def error_of(result: CallToolResult) -> str:
    """The reason of a failed call: an error result, not a protocol error."""
    assert result.is_error
    assert result.content[0].type == "text"
    return result.content[0].text
