"""What ``trioagent chat`` prints: answers on stdout, everything else on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from typing import TextIO


@attrs.define(kw_only=True)
class Screen:
    """Answers on stdout; dim one-line notes and errors on stderr, each on its own line."""

    out: TextIO
    err: TextIO
    dim: bool
    out_open: bool = False
    """Whether stdout's last line is unfinished (a turn is streaming)."""
    mid_line: bool = False
    """Whether the terminal's cursor is after streamed text, so a note needs a new line."""

    def answer(self, text: str) -> None:
        if text:
            self.out.write(text)
            self.out.flush()
            self.out_open = self.mid_line = not text.endswith("\n")

    def end_answer(self) -> None:
        """End the streamed answer with a newline, if it has none."""
        if self.out_open:
            self.out.write("\n")
            self.out.flush()
        self.out_open = self.mid_line = False

    def note(self, text: str) -> None:
        self._line(f"\x1b[2m{text}\x1b[0m" if self.dim else text)

    def error(self, message: str) -> None:
        self._line(f"trioagent: error: {message}")

    def welcome(self, text: str) -> None:
        """Print an agent's welcome message (if it has one) on stderr, as `trioagent run`."""
        if text:
            self._line(text)

    def show(self, text: str) -> None:
        """Print what the user asked for (``/agents``, ``/help``) on stdout."""
        print(text, file=self.out, flush=True)

    def _line(self, text: str) -> None:
        if self.mid_line:
            text = f"\n{text}"
            self.mid_line = False
        print(text, file=self.err, flush=True)
