"""A progress bar for the measured requests: tqdm when it is installed, else one stderr line.

tqdm is optional (the ``bench`` extra): trioagent never needs it to run.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def update(self, ok: bool) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def update(self, ok: bool) -> None:
        pass

    def close(self) -> None:
        pass


class LineProgress:
    """``[c=8] 120/1000 requests, 3 errors`` rewritten in place, at most 10 times a second."""

    def __init__(self, label: str, total: int | None, stream: TextIO) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.done = self.errors = 0
        self.shown = 0.0

    def update(self, ok: bool) -> None:
        self.done += 1
        self.errors += not ok
        now = time.monotonic()
        if now - self.shown >= 0.1:
            self.shown = now
            self._show()

    def _show(self) -> None:
        total = f"/{self.total}" if self.total else ""
        self.stream.write(f"\r{self.label} {self.done}{total} requests, {self.errors} errors")
        self.stream.flush()

    def close(self) -> None:
        self._show()
        self.stream.write("\n")
        self.stream.flush()


class TqdmProgress:
    def __init__(self, bar: Any) -> None:
        self.bar = bar
        self.errors = 0

    def update(self, ok: bool) -> None:
        if not ok:
            self.errors += 1
            self.bar.set_postfix(errors=self.errors, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def open_progress(label: str, total: int | None, *, enabled: bool) -> Progress:
    """A progress display for ``total`` requests (``None``: unknown, as with --duration)."""
    if not enabled:
        return NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return LineProgress(label, total, sys.stderr)
    return TqdmProgress(
        tqdm(total=total, desc=label, unit="req", file=sys.stderr, leave=True, mininterval=0.2)
    )
