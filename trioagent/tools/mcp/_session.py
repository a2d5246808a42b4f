"""One connection to an MCP server: what it learned (stderr, HTTP status), why it broke,
and the tool listing it starts with."""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Final

import attrs
import trio

from trioagent.chat import ToolSpec

if TYPE_CHECKING:
    from collections.abc import Iterator

    import httpx2
    from mcp import Client

logger = logging.getLogger(__package__)  # "trioagent.tools.mcp", as users filter it

STDERR_TAIL_LINES: Final = 5
"""Lines of a stdio server's stderr quoted in error messages."""
MAX_PAGES: Final = 100
"""Pages of ``tools/list`` followed before the listing counts as broken."""
_STDERR_LINE_CHARS: Final = 1000


class SessionBroken(Exception):
    """A session can carry no more calls; the message says why."""


@attrs.define
class Session:
    """What one connection learned about its server, for logs and error messages."""

    label: str
    stdio: bool = False
    up: bool = False
    """The handshake and the listing succeeded."""
    reason: str = "the session ended"
    stderr: deque[str] = attrs.Factory(lambda: deque(maxlen=STDERR_TAIL_LINES))
    stderr_closed: trio.Event | None = None
    stderr_scope: trio.CancelScope = attrs.Factory(lambda: trio.CancelScope(shield=True))
    http_error: str | None = None
    """The status of the last HTTP answer, if it was an error."""
    expired: bool = False
    """The server answered 404 to our session id: it forgot the session (restarted)."""

    def __attrs_post_init__(self) -> None:
        if self.stdio:
            self.stderr_closed = trio.Event()

    async def drain_stderr(self, stream: trio.lowlevel.FdStream) -> None:
        """Log the server's stderr line by line (DEBUG), keeping the last lines.

        Shielded, so a stopping session still reads the server's last words; the session
        cancels ``stderr_scope`` once it has waited for them.
        """
        assert self.stderr_closed is not None
        pending = b""
        with self.stderr_scope:
            async with stream:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while chunk := await stream.receive_some(65536):
                        *lines, pending = (pending + chunk).split(b"\n")
                        if len(pending) > _STDERR_LINE_CHARS:
                            lines.append(pending)
                            pending = b""
                        for line in lines:
                            self._stderr_line(line)
            self._stderr_line(pending)
            self.stderr_closed.set()

    def _stderr_line(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").rstrip()[:_STDERR_LINE_CHARS]
        if line:
            logger.debug("%s: %s", self.label, line)
            self.stderr.append(line)

    async def on_response(self, response: httpx2.Response) -> None:
        """httpx event hook: note error statuses, which the SDK does not report."""
        if response.status_code < 400:
            self.http_error = None
            return
        self.http_error = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code == 404 and "mcp-session-id" in response.request.headers:
            self.expired = True

    def describe(self, exc: BaseException) -> str:
        """Why the session failed: the main error, the HTTP status, the stderr tail."""
        text = describe_error(exc)
        if self.http_error and self.http_error not in text:
            text = f"{text} ({self.http_error})"
        if self.stderr:
            text = f"{text}; its stderr ends with: {' | '.join(self.stderr)}"
        return text


def describe_error(exc: BaseException) -> str:
    """One line for an error: ours first, then the SDK's message, else type and text."""
    from mcp import MCPError

    leaves = list(_leaves(exc))
    leaf = next((e for e in leaves if isinstance(e, SessionBroken)), leaves[0])
    if isinstance(leaf, MCPError):
        text = leaf.message
    elif isinstance(leaf, SessionBroken | OSError):
        text = str(leaf)
    else:
        text = f"{type(leaf).__name__}: {leaf}" if str(leaf) else type(leaf).__name__
    return text.splitlines()[0] if text else "unknown error"


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


async def fail_when_set(closed: trio.Event) -> None:
    """Raise `SessionBroken` once the server has closed its stream."""
    await closed.wait()
    raise SessionBroken("the server closed the connection")


async def list_tools(client: Client) -> list[ToolSpec]:
    """Every tool the server offers, following ``nextCursor``."""
    specs: list[ToolSpec] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        specs.extend(
            ToolSpec(
                name=tool.name,
                description=tool.description or tool.title or "",
                parameters=tool.input_schema,
            )
            for tool in page.tools
        )
        cursor = page.next_cursor
        if cursor is None:
            return specs
    raise SessionBroken(f"tools/list went on for more than {MAX_PAGES} pages")
