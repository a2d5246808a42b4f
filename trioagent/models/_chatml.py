"""Tools for a model whose chat template knows no tools: ``<tool_call>`` tags.

The embedded model (:mod:`trioagent.models.local`) gives llama.cpp the conversation and
lets the model's own chat template render it. When that template has no tool support
(SmolLM2's has none), tools are described in the system message instead, and the model
calls one by writing a JSON object between tags (the Hermes / Qwen convention)::

    system:    You are a helpful assistant.

               # Tools
               ...<tools>
               {"name": "read_file", "description": "...", "parameters": {...}}
               </tools>...
    user:      What is in README.md?
    assistant: <tool_call>
               {"name": "read_file", "arguments": {"path": "README.md"}}
               </tool_call>
    user:      <tool_response>
               ...
               </tool_response>

:func:`as_text_messages` writes a conversation so, and :class:`ToolCallParser` turns the
answer, fed piece by piece, into model events. :func:`without_markup` keeps a message
from ending its own turn. Everything here is pure: no model, no I/O.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import TYPE_CHECKING, Final

import attrs

from trioagent.chat import Message, ToolCall

from .base import TextDelta, ToolCallDelta

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from trioagent.chat import Role, ToolSpec

    from .base import ModelEvent

CALL_OPEN: Final = "<tool_call>"
CALL_CLOSE: Final = "</tool_call>"
DEFAULT_SYSTEM: Final = "You are a helpful assistant."
IMAGE_NOTE: Final = "(An image was attached here, but you cannot see images.)"

TOOLS_SECTION: Final = """\
# Tools

You may call one or more functions to help with the user's request. The functions are \
described as JSON inside <tools></tools> tags:
<tools>
{tools}
</tools>

To call a function, answer with a JSON object inside <tool_call></tool_call> tags, one \
per call:
<tool_call>
{{"name": "<function name>", "arguments": {{<the arguments as a JSON object>}}}}
</tool_call>
Each result comes back inside <tool_response></tool_response> tags."""

_MARKUP: Final = re.compile(r"<(\||/?(?:start_of_turn|end_of_turn|s)>)")


def without_markup(text: str) -> str:
    """``text`` with chat-template markup (``<|im_end|>``, ``<|eot_id|>``,
    ``<start_of_turn>``...) broken by a zero-width joiner, so llama.cpp reads it as plain
    text: a user who types ``<|im_end|>`` cannot end their own message."""
    return _MARKUP.sub("<\u200d\\1", text)


def plain_message(message: Message) -> Message:
    """``message`` as a text model can read it: markup broken, images replaced by a note."""
    content = without_markup(message.content)
    if message.images:
        content = f"{content}\n{IMAGE_NOTE}".lstrip("\n")
    return attrs.evolve(message, content=content, images=())


def as_text_messages(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> list[Message]:
    """The conversation with tools, calls and results written as text (see above).

    The first message, if it is a system message, heads the conversation (else a short
    default does); the tool descriptions are appended to it. Assistant tool calls are
    written as ``<tool_call>`` tags, and each run of tool results becomes one ``user``
    message of ``<tool_response>`` tags.

    Args:
        messages: the conversation so far, as :func:`plain_message` leaves it.
        tools: the tools offered; none means no tool section.
    """
    rest = list(messages)
    system = rest.pop(0).content if rest and rest[0].role == "system" else DEFAULT_SYSTEM
    if tools:
        listing = "\n".join(
            _dumps({"name": t.name, "description": t.description, "parameters": t.parameters})
            for t in tools
        )
        system = f"{system.rstrip()}\n\n{TOOLS_SECTION.format(tools=listing)}".lstrip()
    out = [Message.system(system)]
    results: list[str] = []
    for message in rest:
        if message.role == "tool":
            results.append(f"<tool_response>\n{message.content}\n</tool_response>")
            continue
        if results:
            out.append(Message.user("\n".join(results)))
            results = []
        out.append(Message(message.role, _content_of(message)))
    if results:
        out.append(Message.user("\n".join(results)))
    return out


def _content_of(message: Message) -> str:
    content = message.content
    for call in message.tool_calls:
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError:
            arguments = call.arguments
        call_json = _dumps({"name": call.name, "arguments": arguments})
        content += f"\n{CALL_OPEN}\n{call_json}\n{CALL_CLOSE}"
    return content.lstrip("\n") if not message.content else content


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def first_turn_that_fits(
    fixed: int, sizes: Sequence[int], roles: Sequence[Role], limit: int
) -> int | None:
    """Where to start the turns so the prompt has at most ``limit`` tokens.

    All turns when they fit; otherwise the longest run of recent turns that starts at a
    user message (so no tool result is kept without the call it answers).

    Args:
        fixed: the tokens of the head and the tail, which are always kept.
        sizes: the tokens of each turn.
        roles: the role of each turn.
        limit: the most tokens the prompt may have.

    Returns:
        The index of the first turn to keep, or ``None`` if not even the last user
        message fits.
    """
    total = fixed + sum(sizes)
    for index, size in enumerate(sizes):
        if total <= limit and (index == 0 or roles[index] == "user"):
            return index
        total -= size
    return None if sizes or fixed > limit else 0


def partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that could be the start of ``tag``."""
    for size in range(min(len(text), len(tag) - 1), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


def parse_call_body(body: str) -> list[tuple[str, str]] | None:
    """The calls one ``<tool_call>`` holds, as ``(name, JSON arguments)``; ``None`` if it
    is not a call.

    Small models are sloppy, so this accepts a single object or a list of them, the
    arguments as an object or as JSON text, ``parameters`` for ``arguments``, and a
    Markdown code fence around it all.
    """
    text = body.strip()
    if text.startswith("```"):
        text = text.partition("\n")[2].rstrip().removesuffix("```")
    try:
        value = json.loads(text)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, dict):
            return None
        name = item.get("name")
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return None
        if not isinstance(name, str) or not name.strip() or not isinstance(arguments, dict):
            return None
        calls.append((name.strip(), _dumps(arguments)))
    return calls or None


def new_call_id() -> str:
    """A fresh tool call id in OpenAI's style."""
    return f"call_{secrets.token_hex(12)}"


@attrs.define
class ToolCallParser:
    """Model text, fed piece by piece -> text and tool-call events.

    Text outside ``<tool_call>`` tags streams out as it comes, except an end that could
    be the start of a tag, which waits for the next piece. A tag's body is held until it
    closes (or the answer ends, since small models often forget to close it), then
    becomes one :class:`ToolCallDelta` per call. A body that is not a valid call is
    given back as text, tags included. Whitespace around calls is dropped, so an answer
    that only calls tools has no text.
    """

    new_id: Callable[[], str] = new_call_id
    calls: int = 0
    """How many calls were parsed so far."""
    _buffer: str = ""
    _in_call: bool = False
    _space: str = ""  # trailing whitespace held back: dropped if a call or the end follows
    _space_before_call: str = ""

    def feed(self, text: str) -> list[ModelEvent]:
        """Take the next piece of the answer; return the events it completes."""
        self._buffer += text
        events: list[ModelEvent] = []
        while True:
            if self._in_call:
                end = self._buffer.find(CALL_CLOSE)
                if end < 0:
                    return events
                body = self._buffer[:end]
                self._buffer = self._buffer[end + len(CALL_CLOSE) :]
                self._in_call = False
                events += self._call(body, closed=True)
                continue
            start = self._buffer.find(CALL_OPEN)
            if start < 0:
                keep = partial_suffix(self._buffer, CALL_OPEN)
                cut = len(self._buffer) - keep
                events += self._text(self._buffer[:cut])
                self._buffer = self._buffer[cut:]
                return events
            events += self._text(self._buffer[:start])
            self._space_before_call, self._space = self._space, ""
            self._buffer = self._buffer[start + len(CALL_OPEN) :]
            self._in_call = True

    def finish(self) -> list[ModelEvent]:
        """The answer ended: return the events for what is still held."""
        rest, self._buffer = self._buffer, ""
        if self._in_call:
            self._in_call = False
            return self._call(rest, closed=False)
        return self._text(rest)

    def _call(self, body: str, *, closed: bool) -> list[ModelEvent]:
        calls = parse_call_body(body)
        if calls is None:
            self._space = self._space_before_call
            return self._text(CALL_OPEN + body + (CALL_CLOSE if closed else ""))
        events: list[ModelEvent] = []
        for name, arguments in calls:
            events.append(
                ToolCallDelta(self.calls, id=self.new_id(), name=name, arguments=arguments)
            )
            self.calls += 1
        return events

    def _text(self, text: str) -> list[ModelEvent]:
        body = text.rstrip()
        if not body:
            self._space += text
            return []
        out = self._space + body
        self._space = text[len(body) :]
        return [TextDelta(out)]


def parse_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split a whole answer into its text and its tool calls (see :class:`ToolCallParser`).

    Returns:
        The text outside the calls, and the calls with fresh ids.
    """
    parser = ToolCallParser()
    events = parser.feed(text) + parser.finish()
    calls = [
        ToolCall(e.id or "", e.name or "", e.arguments)
        for e in events
        if isinstance(e, ToolCallDelta)
    ]
    return "".join(e.text for e in events if isinstance(e, TextDelta)), calls
