"""What the store tests share: a full sample session and small turn helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trioagent.chat import Message, ToolCall, Usage
from trioagent.runtime.session import Session

if TYPE_CHECKING:
    from trioagent.store import ConversationStore


def sample_session() -> Session:
    """A session with every kind of message, usage and tool state (the golden JSON's)."""
    call = ToolCall("call_1", "todo_add", '{"item": "milk"}')
    return Session(
        messages=[
            Message.system("Be brief."),
            Message("user", "What is this?", images=("data:image/png;base64,AAAA",)),
            Message.assistant("", (call,)),
            Message.tool("call_1", "added"),
            Message.assistant("Done: milk is on the list."),
        ],
        usage=Usage(prompt_tokens=12, completion_tokens=5),
        tool_state={"todo": {"items": ["milk"], "done": [], "limit": None, "ratio": 0.5}},
    )


async def commit_turn(store: ConversationStore, cid: str, text: str) -> None:
    """One turn on ``cid`` that adds the user message ``text`` and commits."""
    async with store.turn(cid) as turn:
        turn.session.messages.append(Message.user(text))
        turn.commit()


async def store_sample(store: ConversationStore, cid: str) -> Session:
    """Commit `sample_session` as ``cid``; return another copy of it to compare with."""
    async with store.turn(cid) as turn:
        turn.session = sample_session()
        turn.commit()
    return sample_session()


def contents(session: Session | None) -> list[str]:
    """The message texts of a session that must exist."""
    assert session is not None
    return [m.content for m in session.messages]
