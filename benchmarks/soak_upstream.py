"""The scripted upstream of the soak (``benchmarks.soak``): each turn's user message says
what its model call answers.

A soak turn's user message ends with a tag ``[DIRECTIVE:NONCE]``. The fake reads the tag
of the request's last user message and answers:

- ``ok``: `answer_text` of the nonce, streamed word by word;
- ``error400`` / ``error500``: that HTTP error (the server retries a 5xx, never a 400);
- ``drop``: a few words, then the connection closes mid-stream;
- ``malformed``: a 200 stream with an event that is not JSON;
- ``stall``: the first words, then nothing until the server hangs up (or ``stall``
  seconds pass): a client that went away must cancel its turn;
- ``hold``: `answer_text`, once the soak releases it (`Watch.release`): the turn keeps its
  conversation busy while a second turn on it is refused;
- ``check``: like ``ok``, and the request's messages are kept in `SoakUpstream.captured`
  for the history check.

It is `trioagent.testing.FakeOpenAI` with its reply picked per request instead of from
the queue, running in the soak's own process.
"""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trioagent.testing import FakeOpenAI, drop, error, malformed, text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from trioagent.testing import Reply
    from trioagent.testing._http import HTTPResponder

TAG = re.compile(r"\[([a-z0-9]+):([0-9]+)\]\s*$")
WORDS = (
    "soak tests keep a server busy for minutes and then compare what every "
    "conversation holds with what its client saw succeed"
).split()
DIRECTIVES = ("ok", "error400", "error500", "drop", "malformed", "stall", "hold", "check")


def tag(directive: str, nonce: int) -> str:
    """The tag that makes the fake answer ``directive`` for turn ``nonce``."""
    return f"[{directive}:{nonce}]"


def answer_text(nonce: int) -> str:
    """The answer to a successful turn: 4 to 30 words, different for each nonce."""
    count = 4 + nonce * 7 % 27
    return f"Answer {nonce}: " + " ".join(WORDS[(nonce + i) % len(WORDS)] for i in range(count))


def reply_of(directive: str, nonce: int, stall: float) -> Reply:
    """What the upstream answers to ``directive``."""
    if directive == "error400":
        return error(400, "soak: injected bad request")
    if directive == "error500":
        return error(500, "soak: injected server error")
    if directive == "drop":
        return drop("a few words before the connection drops")
    if directive == "malformed":
        return malformed()
    if directive == "stall":
        return text(chunks=["The first words ", "and the rest, never sent."], chunk_delay=stall)
    return text(answer_text(nonce))


def _tag_of(body: dict[str, Any]) -> tuple[str, int] | None:
    users = [
        m
        for m in body.get("messages", ())
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str)
    ]
    match = TAG.search(users[-1]["content"]) if users else None
    return (match.group(1), int(match.group(2))) if match else None


@attrs.define
class Watch:
    """What the soak learns of one watched model call."""

    received: trio.Event = attrs.Factory(trio.Event)
    """The model call reached the upstream (its turn holds the conversation)."""
    ended: trio.Event = attrs.Factory(trio.Event)
    """The upstream's answer ended: sent in full, or cut because the server hung up."""
    release: trio.Event = attrs.Factory(trio.Event)
    """Set it to let a ``hold`` call answer."""


@attrs.define(eq=False, kw_only=True)
class SoakUpstream(FakeOpenAI):
    """A fake OpenAI upstream whose answers the soak's messages choose."""

    stall: float = 60.0
    """The longest a ``stall`` or ``hold`` call waits."""
    watches: dict[int, Watch] = attrs.Factory(dict)
    captured: dict[int, list[tuple[str, str]]] = attrs.Factory(dict)
    """(role, content) of each ``check`` call's messages, by nonce."""

    def watch(self, nonce: int) -> Watch:
        """Follow the model call of turn ``nonce``; `forget` it when done."""
        return self.watches.setdefault(nonce, Watch())

    def forget(self, nonce: int) -> None:
        self.watches.pop(nonce, None)

    async def answer(self, reply: Reply, body: dict[str, Any], responder: HTTPResponder) -> None:
        """Answer as the request's tag says (``reply``, the queued one, is ignored)."""
        del reply
        directive, nonce = _tag_of(body) or ("ok", 0)
        if directive == "check":
            self.captured[nonce] = [
                (str(m.get("role")), str(m.get("content"))) for m in body["messages"]
            ]
        watch = self.watches.get(nonce)
        if watch is not None:
            watch.received.set()
        try:
            if directive == "hold" and watch is not None:
                with trio.move_on_after(self.stall):
                    await watch.release.wait()
            await super().answer(reply_of(directive, nonce, self.stall), body, responder)
        finally:
            if watch is not None:
                watch.ended.set()


@asynccontextmanager
async def open_soak_upstream(*, stall: float = 60.0) -> AsyncIterator[SoakUpstream]:
    """Run a `SoakUpstream` on 127.0.0.1 at a free port for the block (nothing recorded)."""
    fake = SoakUpstream(stall=stall, record=False)
    async with fake.running():
        yield fake
