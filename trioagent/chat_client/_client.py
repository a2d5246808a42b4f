"""`ChatClient`: one chat over the WebSocket, its prompt loop and its frame reader."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio
import trio_websocket

from .. import wire
from ..errors import ChatConnectionError, RequestError
from ._options import API_KEY_ENV

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import TextIO

    from ._options import ChatOptions
    from ._screen import Screen

PROMPT: Final = "> "
CONNECT_TIMEOUT: Final = 10.0
CLOSE_TIMEOUT: Final = 2.0
MAX_FRAME: Final = 64 * 1024 * 1024
"""The largest frame read: a ``ready`` frame carries the whole stored conversation."""

COMMANDS: Final = """\
/new          start a new conversation with the same agent
/agent NAME   talk to agent NAME; the conversation goes on
/agents       list the agents (* marks the current one)
/help         show this list
/quit         leave (so does Ctrl-D)"""

_SERVER_FRAMES: Final[dict[str, type[Any]]] = {
    str(attrs.fields_dict(cls)["type"].default): cls
    for cls in (
        wire.ReadyFrame,
        wire.DeltaFrame,
        wire.ToolStartedFrame,
        wire.ToolFinishedFrame,
        wire.UsageFrame,
        wire.DoneFrame,
        wire.CancelledFrame,
        wire.ErrorFrame,
        wire.PingFrame,
        wire.PongFrame,
    )
}
"""Every frame a server sends, by its ``type``."""


def parse_server_frame(text: str) -> Any:
    """Read one frame the server sent; None for a ``type`` this client does not know.

    Raises:
        ChatConnectionError: the frame is not JSON or breaks its type's shape.
    """
    try:
        data = json.loads(text)
        cls = _SERVER_FRAMES.get(str(data.get("type"))) if isinstance(data, dict) else None
        return None if cls is None else wire.structure(data, cls)
    except (ValueError, RequestError) as exc:
        raise ChatConnectionError(
            f"the server sent a frame this client cannot read ({exc}): is the server a "
            "trioagent of the same version?"
        ) from None


@attrs.define(kw_only=True)
class ChatClient:
    """One chat: the connection, who we talk to, and whether a turn or a cancel is running.

    The prompt loop (`run`) sends one request at a time and waits for the frame that ends
    it; the reader task (`_read_frames`) prints frames as they come and hands that frame
    over; `watch_interrupts` reads the turn state to decide what Ctrl-C means.
    """

    options: ChatOptions
    screen: Screen
    stdin: TextIO
    tty: bool = attrs.field(init=False)
    agent: str | None = attrs.field(init=False)
    conversation_id: str | None = attrs.field(init=False)
    agents: tuple[str, ...] = ()
    turn_running: bool = False
    cancel_pending: bool = False
    interrupted: bool = False
    _ws: trio_websocket.WebSocketConnection | None = None
    _answer: object = None
    _answered: trio.Event = attrs.Factory(trio.Event)

    def __attrs_post_init__(self) -> None:
        self.tty = self.stdin.isatty()
        self.agent = self.options.agent
        self.conversation_id = self.options.conversation_id

    async def run(self) -> int:
        """Connect, say hello, then read lines until the user leaves; the exit status."""
        headers = (
            [(b"authorization", f"Bearer {self.options.api_key}".encode())]
            if self.options.api_key
            else []
        )
        status = 0
        try:
            async with (
                trio_websocket.open_websocket_url(
                    self.options.url,
                    extra_headers=headers,
                    max_message_size=MAX_FRAME,
                    connect_timeout=CONNECT_TIMEOUT,
                    disconnect_timeout=CLOSE_TIMEOUT,
                ) as ws,
                trio.open_nursery() as nursery,
            ):
                self._ws = ws
                nursery.start_soon(self._read_frames)
                status = await self._converse()
                nursery.cancel_scope.cancel()
        except trio_websocket.DisconnectionTimeout:
            pass  # we said goodbye; the server's answer does not matter
        except trio_websocket.HandshakeError as exc:
            raise self._refused(exc) from None
        return status

    async def watch_interrupts(
        self, signals: AsyncIterator[int], chat_scope: trio.CancelScope
    ) -> None:
        """Ctrl-C cancels a running turn; at the prompt, or while a cancel is pending, it
        cancels ``chat_scope`` (the whole chat) and sets `interrupted`."""
        async for _ in signals:
            if self.turn_running and not self.cancel_pending:
                self.cancel_pending = True
                if self.tty:
                    self.screen.mid_line = True  # after the terminal's "^C"
                self.screen.note("[cancelling: Ctrl-C again to quit]")
                await self._send(wire.CancelFrame())
                continue
            self.interrupted = True
            chat_scope.cancel()
            return

    # The prompt loop.

    async def _converse(self) -> int:
        ready = await self._hello(self.agent, self.conversation_id)
        if ready is None:
            return 1  # the reader printed why (an unknown --agent, say)
        if self.options.conversation_id:
            count = len(ready.messages)
            self.screen.note(
                f"[resumed conversation {ready.conversation_id}: "
                f"{count} message{'' if count == 1 else 's'}]"
                if count
                else f"[nothing stored as {ready.conversation_id}: a new conversation]"
            )
        self.screen.welcome(ready.welcome)
        while True:
            line = await self._read_line()
            if line is None:
                return 0
            if line.startswith("/"):
                if not await self._command(line.strip()):
                    return 0
            elif line.strip():
                self.turn_running = True
                await self._request(wire.MessageFrame(text=line))

    async def _read_line(self) -> str | None:
        """The next line of input without its newline, or None at its end."""
        if self.tty:
            self.screen.err.write(PROMPT)
            self.screen.err.flush()
        # Abandoned on cancel: a thread blocked in readline cannot be stopped, and it does
        # not keep the process alive (trio's worker threads are daemons).
        line = await trio.to_thread.run_sync(self.stdin.readline, abandon_on_cancel=True)
        return line.removesuffix("\n") if line else None

    async def _command(self, line: str) -> bool:
        """Run a ``/command``; False when it is the one that leaves."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/new":
            if ready := await self._hello(self.agent, None):
                self.screen.note("[new conversation]")
                self.screen.welcome(ready.welcome)
        elif name == "/agent" and argument:
            if ready := await self._hello(argument, self.conversation_id):
                self.screen.note(f"[talking to {ready.agent}]")
                self.screen.welcome(ready.welcome)
        elif name == "/agent":
            self.screen.error("/agent needs a name: /agent NAME (/agents lists them)")
        elif name == "/agents":
            self.screen.show(
                "\n".join(f"{'*' if agent == self.agent else ' '} {agent}" for agent in self.agents)
            )
        elif name == "/help":
            self.screen.show(COMMANDS)
        else:
            self.screen.error(f"unknown command {name}: /help lists the commands")
        return True

    async def _hello(
        self, agent: str | None, conversation_id: str | None
    ) -> wire.ReadyFrame | None:
        """Switch agent and conversation; the ready frame, or None when the server said no."""
        ready = await self._request(wire.HelloFrame(agent=agent, conversation_id=conversation_id))
        if not isinstance(ready, wire.ReadyFrame):
            return None
        self.agent, self.conversation_id, self.agents = (
            ready.agent,
            ready.conversation_id,
            ready.agents,
        )
        if self.options.verbose:
            self.screen.note(f"[agent {ready.agent}, conversation {ready.conversation_id}]")
        return ready

    async def _request(self, frame: object) -> object:
        """Send ``frame``; wait for the frame that ends it (ready, done, cancelled, error)."""
        self._answered = trio.Event()
        await self._send(frame)
        await self._answered.wait()
        return self._answer

    # The reader.

    async def _read_frames(self) -> None:
        while True:
            try:
                assert self._ws is not None
                text = await self._ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                raise self._closed(exc.reason) from None
            if isinstance(text, str):
                await self._handle(parse_server_frame(text))

    async def _handle(self, frame: object) -> None:
        screen = self.screen
        match frame:
            case wire.PingFrame():
                await self._send(wire.PongFrame())
            case wire.DeltaFrame():
                screen.answer(frame.text)
            case wire.ToolStartedFrame():
                screen.note(f"[tool {frame.name} {_short(frame.arguments)}]")
            case wire.ToolFinishedFrame():
                outcome = f"failed: {_short(frame.result)}" if frame.is_error else "done"
                screen.note(f"[tool {frame.name} {outcome}]")
            case wire.DoneFrame():
                screen.end_answer()
                if frame.finish_reason == "length":
                    screen.note("[stopped: the agent reached its iteration or token limit]")
                if self.options.verbose:
                    usage = frame.usage
                    screen.note(
                        f"[usage: {usage.prompt_tokens} prompt + "
                        f"{usage.completion_tokens} completion = "
                        f"{usage.total_tokens} tokens]"
                    )
                self._settle(frame)
            case wire.CancelledFrame():
                screen.end_answer()
                screen.note("[cancelled]")
                self._settle(frame)
            case wire.ErrorFrame(code=401):
                raise ChatConnectionError(self._key_advice())
            case wire.ErrorFrame():
                screen.end_answer()
                screen.error(frame.message)
                self._settle(frame)
            case wire.ReadyFrame():
                self._settle(frame)

    def _settle(self, frame: object) -> None:
        """Hand the frame that ends a request to `_request`; a turn is over with it."""
        self.turn_running = self.cancel_pending = False
        self._answer = frame
        self._answered.set()

    async def _send(self, frame: object) -> None:
        try:
            assert self._ws is not None
            await self._ws.send_message(wire.dumps(frame).decode())
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed(exc.reason) from None

    # What went wrong, and what to do about it.

    def _key_advice(self) -> str:
        if self.options.api_key:
            return (
                f"the server refused the API key: check --api-key or ${API_KEY_ENV} "
                "against the server's --api-key"
            )
        return f"the server needs an API key: pass --api-key KEY or set ${API_KEY_ENV}"

    def _refused(self, exc: trio_websocket.HandshakeError) -> ChatConnectionError:
        url = self.options.url
        if isinstance(exc, trio_websocket.ConnectionRejected):
            status = exc.status_code
            body = (exc.body or b"").decode(errors="replace").strip()
            if status == 401:
                return ChatConnectionError(self._key_advice())
            if status == 404:
                return ChatConnectionError(
                    f"{url} was not found (404): give the URL that 'trioagent serve' printed"
                )
            return ChatConnectionError(
                f"the server refused the connection ({status}{': ' + body[:200] if body else ''})"
            )
        if isinstance(exc, trio_websocket.ConnectionTimeout):
            return ChatConnectionError(
                f"no answer from {url} within {CONNECT_TIMEOUT:g} s: "
                "check the URL and that the server runs"
            )
        cause = exc.__cause__
        reason = getattr(cause, "strerror", None) or cause or exc
        return ChatConnectionError(
            f"cannot connect to {url} ({reason}): check the URL and that the server runs"
        )

    def _closed(self, reason: trio_websocket.CloseReason | None) -> ChatConnectionError:
        if reason is None:
            why = "without a reason"
        elif reason.code == 1008 and reason.reason == "authentication failed":
            return ChatConnectionError(self._key_advice())
        else:
            why = f"{reason.code} {reason.reason or reason.name.lower().replace('_', ' ')}"
        resume = (
            f": to go on, run trioagent chat again with --conversation {self.conversation_id}"
            if self.conversation_id
            else ""
        )
        return ChatConnectionError(f"the server closed the connection ({why}){resume}")


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
