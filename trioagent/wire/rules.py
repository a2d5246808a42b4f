"""The request rules beyond JSON types, each written once.

The request checks of `trioagent.wire.checks` apply them, and the OpenAPI documents of
`trioagent.server` describe them, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Final, Literal

import attrs

SESSION_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
"""What a conversation id must fully match: a session id, an ``X-Conversation-Id`` header,
a WebSocket hello's ``conversation_id``."""
SESSION_ID_CHARACTERS: Final = "1 to 128 characters from a-z, A-Z, 0-9, '.', '_', ':' and '-'"
"""What `SESSION_ID` allows, in words."""

TOOL_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What the name of a client's function tool must fully match (the providers refuse others)."""
TOOL_NAME_CHARACTERS: Final = "1 to 64 of a-z, A-Z, 0-9, '_' and '-'"
"""What `TOOL_NAME` allows, in words."""

STOP_MAX: Final = 4
"""The most stop sequences a chat completion request may send."""


@attrs.frozen
class Range:
    """The values a numeric request field may take: from ``low`` (or above it, when
    ``low_open``) up to ``high`` (no bound when None)."""

    kind: Literal["number", "integer"]
    low: float
    high: float | None = None
    low_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    def describe(self) -> str:
        """The range in words, for example ``a number from 0 to 2``."""
        article = "an" if self.kind == "integer" else "a"
        if self.high is None:
            bound = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        elif self.low_open:
            bound = f"above {self.low:g} and at most {self.high:g}"
        else:
            bound = f"from {self.low:g} to {self.high:g}"
        return f"{article} {self.kind} {bound}"


TEMPERATURE: Final = Range("number", 0, 2)
TOP_P: Final = Range("number", 0, 1, low_open=True)
PENALTY: Final = Range("number", -2, 2)
TOKENS: Final = Range("integer", 0, low_open=True)
"""A token budget: ``max_tokens``, ``max_completion_tokens``, ``max_output_tokens``."""

CHAT_RANGES: Final[dict[str, Range]] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_tokens": TOKENS,
    "max_completion_tokens": TOKENS,
    "presence_penalty": PENALTY,
    "frequency_penalty": PENALTY,
}
"""The ranged fields of ``POST /v1/chat/completions``, checked in this order."""

RESPONSE_RANGES: Final[dict[str, Range]] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "max_output_tokens": TOKENS,
}
"""The ranged fields of ``POST /v1/responses``, checked in this order."""
