"""An incremental decoder for the server-sent events that model providers stream.

It follows the WHATWG ``text/event-stream`` parsing rules: lines end in CRLF, LF or CR
(a CRLF split between two reads is one line end), a line starting with ``:`` is a
comment, ``field: value`` loses one leading space of its value, several ``data:`` lines
join with ``\\n``, and a blank line dispatches the event. Bytes are split into lines
before decoding, which is safe for UTF-8: its multi-byte sequences never contain CR or LF.

One deliberate leniency: :meth:`SSEDecoder.close` dispatches an event left without its
closing blank line, because some OpenAI-compatible servers end the stream right after
``data: [DONE]``.
"""

from __future__ import annotations

import re

import attrs

_LINE_END = re.compile(rb"\r\n|\r|\n")

DEFAULT_MAX_PENDING = 8 * 1024 * 1024


@attrs.frozen
class ServerSentEvent:
    """One dispatched event."""

    event: str = "message"
    """The ``event:`` field, ``message`` when the event has none."""
    data: str = ""
    """The ``data:`` lines, joined with ``\\n``."""
    id: str | None = None
    """The last event id seen so far, if any."""
    retry: int | None = None
    """A ``retry:`` reconnection time in milliseconds, when this event set one."""


class SSEDecodeError(ValueError):
    """The stream is not an event stream we are willing to buffer."""


@attrs.define
class SSEDecoder:
    """Turns the bytes of an event stream, in arbitrary pieces, into events.

    Args:
        max_pending: the most bytes held for one unfinished line or event; past it
            :meth:`feed` raises :class:`SSEDecodeError`, so a server that never ends a line
            cannot exhaust our memory.
    """

    max_pending: int = DEFAULT_MAX_PENDING
    _buffer: bytes = b""
    _skip_lf: bool = False
    _started: bool = False
    _event: str = ""
    _data: list[str] = attrs.Factory(list)
    _data_size: int = 0
    _last_id: str | None = None
    _retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Add bytes read from the stream; return the events they complete.

        Raises:
            SSEDecodeError: an unfinished line or event grew past ``max_pending``.
        """
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer + chunk if self._buffer else chunk
        # Most streams end lines with LF only: bytes.split is far cheaper than the regex.
        lines = _LINE_END.split(buffer) if b"\r" in buffer else buffer.split(b"\n")
        self._buffer = lines.pop()  # the unfinished line, if any
        if not self._buffer and buffer[-1:] == b"\r":
            # The CR may be the first half of a CRLF that the next read completes.
            self._skip_lf = True
        events: list[ServerSentEvent] = []
        for line in lines:
            if line[:6] == b"data: " and self._started:  # the common line, inline
                value = line[6:].decode("utf-8", "replace")
                self._data.append(value)
                self._data_size += len(value) + 1
            elif (event := self._line(line)) is not None:
                events.append(event)
        if len(self._buffer) + self._data_size > self.max_pending:
            raise SSEDecodeError(f"an event is longer than {self.max_pending} bytes")
        return events

    def close(self) -> ServerSentEvent | None:
        """End of stream: return the event still pending, if it has data."""
        if self._buffer:
            self._line(self._buffer)
            self._buffer = b""
        return self._dispatch()

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not self._started:
            self._started = True
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_size += len(value) + 1
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
        # Any other field is ignored, as the spec says.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, kind, retry = self._data, self._event, self._retry
        self._data, self._data_size, self._event, self._retry = [], 0, "", None
        if not data:
            return None
        return ServerSentEvent(
            event=kind or "message", data="\n".join(data), id=self._last_id, retry=retry
        )
