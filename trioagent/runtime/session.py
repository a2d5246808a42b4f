"""A conversation's state: its messages, usage and tool state."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import attrs

from ..chat import Message, Usage

if TYPE_CHECKING:
    from collections.abc import Iterable


@attrs.define
class Session:
    """The mutable state of one conversation. A turn works on a ``clone()``."""

    messages: list[Message] = attrs.Factory(list)
    usage: Usage = attrs.Factory(Usage)
    tool_state: dict[str, Any] = attrs.Factory(dict)

    @classmethod
    def from_messages(cls, messages: Iterable[Message]) -> Session:
        return cls(messages=list(messages))

    def clone(self) -> Session:
        """An independent copy: changing it never changes this session."""
        # Messages are frozen values, so a new list is enough for them.
        return Session(list(self.messages), self.usage, copy.deepcopy(self.tool_state))
