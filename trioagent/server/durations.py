"""The one duration grammar of every flag: ``--request-timeout 5m``, ``--rate-limit 60/5min``.

A duration is plain seconds (``90``, ``0.5``) or one or more number-unit pairs
(``90s``, ``5min``, ``1h30m``, ``250ms``, ``1d``). Units: ``ms``; ``s``/``sec``/``second``;
``m``/``min``/``minute``; ``h``/``hour``; ``d``/``day`` (plurals too, any case).
"""

from __future__ import annotations

import re

UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001,
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
"""Seconds per unit name, every spelling a flag accepts."""

_PAIR = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)\s*", re.IGNORECASE)
_SHORTEST = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 0.001))


def parse_duration(text: str) -> float:
    """``90s``, ``5m``, ``5min``, ``1h30m``, ``250ms``, ``1d`` or plain seconds -> seconds.

    Raises:
        ValueError: the text is not a duration.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    total, end = 0.0, 0
    for match in _PAIR.finditer(text):
        seconds = UNIT_SECONDS.get(match.group(2).lower())
        if match.start() != end or seconds is None:
            break
        total, end = total + float(match.group(1)) * seconds, match.end()
    if end == 0 or end != len(text):
        raise ValueError(f"invalid duration {text!r}: use e.g. 90s, 5m, 1h30m or 1d")
    return total


def unit_seconds(name: str) -> float | None:
    """The seconds of one unit named alone (``min`` in ``60/min``), or None."""
    return UNIT_SECONDS.get(name.strip().lower())


def format_duration(seconds: float) -> str:
    """``300`` -> ``5m``: the largest unit that writes ``seconds`` whole, as flags take it."""
    for name, size in _SHORTEST:
        count = seconds / size
        if count >= 1 and round(count, 9).is_integer():
            return f"{round(count):d}{name}"
    return f"{seconds:g}s"
