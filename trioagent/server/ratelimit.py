"""Per-client token buckets for ``--rate-limit 60/min``."""

from __future__ import annotations

import contextlib
import math
import re
from collections import OrderedDict

import attrs
import trio

from .durations import UNIT_SECONDS, parse_duration, unit_seconds

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(.+?)\s*$")
_RATE_NAMES = ("day", "hour", "min", "s")
"""Units a rate is written in, largest first (``60/min``, ``10/30s``)."""
# Refill is float arithmetic: a client that waits exactly the time we told it to may find
# 0.9999999999 tokens. Count that as one rather than refuse it for a rounding error.
_EPSILON = 1e-9


@attrs.frozen
class Rate:
    """``requests`` per ``period`` seconds, with bursts of up to ``requests``."""

    requests: int = attrs.field(validator=attrs.validators.ge(1))
    """Bucket capacity (the burst) and the requests allowed per period."""
    period: float = attrs.field(converter=float, validator=attrs.validators.gt(0.0))
    """Seconds it takes an empty bucket to refill."""

    def __str__(self) -> str:
        for name in _RATE_NAMES:
            count = self.period / UNIT_SECONDS[name]
            if count.is_integer():
                return f"{self.requests}/{name if count == 1 else f'{count:.0f}{name}'}"
        return f"{self.requests}/{self.period}s"


def parse_rate(text: str) -> Rate:
    """``60/min``, ``10/s``, ``1000/hour``, ``2/d``, ``10/30s`` or ``60/5min`` -> Rate: N
    requests per duration (see `trioagent.server.durations`; a unit alone is one of it).

    Raises:
        ValueError: the text is not a rate, or allows no requests.
    """
    match = _RATE.match(text)
    period: float | None = None
    if match:
        period = unit_seconds(match.group(2))
        if period is None:
            with contextlib.suppress(ValueError):
                period = parse_duration(match.group(2))
    if match is None or period is None or period <= 0:
        raise ValueError(f"invalid rate {text!r}: use N/UNIT, e.g. 60/min, 10/30s or 1000/1h")
    requests = int(match.group(1))
    if requests < 1:
        raise ValueError(f"invalid rate {text!r}: allow at least 1 request, e.g. 1/min")
    return Rate(requests, period)


def retry_after_header(wait: float) -> str:
    """A ``Retry-After`` value for ``wait`` seconds: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait - _EPSILON)))


@attrs.define
class _Bucket:
    tokens: float
    updated: float


@attrs.define
class RateLimiter:
    """Token buckets keyed by client (an API key fingerprint or an address).

    A new client starts with a full bucket of ``rate.requests`` tokens, which refills
    continuously at ``rate.requests / rate.period`` tokens a second, never above full.
    Time is ``trio.current_time()``, so tests drive refills with ``trio.testing.MockClock``.
    ``acquire`` does not await, so it is atomic among trio tasks.
    """

    rate: Rate
    max_clients: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    """Buckets kept at most; past it the least recently used are forgotten."""
    _buckets: OrderedDict[str, _Bucket] = attrs.field(factory=OrderedDict, init=False)

    def __len__(self) -> int:
        """Clients with a bucket held now."""
        return len(self._buckets)

    def acquire(self, client: str) -> float:
        """Take one token for ``client``.

        Returns:
            0.0 when the request may go on, else the seconds until a token is available;
            a refused request takes no token.
        """
        now = trio.current_time()
        capacity = self.rate.requests
        per_second = capacity / self.rate.period
        self._prune(now)
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(capacity), now)
            # Dropping the least recently used is lossy: a dropped client starts full again
            # next time. That only happens with more than max_clients active in one period.
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * per_second)
            bucket.updated = now
            # Refused or not, it is now the most recently used: evicting a client that is
            # being refused would hand it a full bucket.
            self._buckets.move_to_end(client)
        if bucket.tokens < 1 - _EPSILON:
            return (1 - bucket.tokens) / per_second
        bucket.tokens = max(0.0, bucket.tokens - 1)
        return 0.0

    def _prune(self, now: float) -> None:
        """Drop buckets that have refilled to full, which costs nothing: a new one starts full.

        Tokens never go below 0, so a bucket untouched for a whole period is full, and the
        LRU order is the order of last use, so those buckets are all at the front.
        """
        full_before = now - self.rate.period
        while self._buckets:
            client, bucket = next(iter(self._buckets.items()))
            if bucket.updated > full_before:
                break
            del self._buckets[client]
