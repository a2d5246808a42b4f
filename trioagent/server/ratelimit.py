"""Per-client token buckets for ``--rate-limit 60/min``."""

from __future__ import annotations

import math
import re
from collections import OrderedDict

import attrs
import trio

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$", re.IGNORECASE)
_RATE_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_RATE_NAMES = (("day", 86400.0), ("hour", 3600.0), ("min", 60.0), ("s", 1.0))
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
        for name, seconds in _RATE_NAMES:
            count = self.period / seconds
            if count.is_integer():
                return f"{self.requests}/{name if count == 1 else f'{count:.0f}{name}'}"
        return f"{self.requests}/{self.period}s"


def parse_rate(text: str) -> Rate:
    """``60/min``, ``10/s``, ``1000/hour``, ``2/d`` or ``10/30s`` -> Rate.

    Raises:
        ValueError: the text is not a rate, or allows no requests.
    """
    match = _RATE.match(text)
    unit = _RATE_UNITS.get(match.group(3).lower()) if match else None
    if match is None or unit is None or float(match.group(2) or 1) <= 0:
        raise ValueError(
            f"invalid rate {text!r}: use N/UNIT with UNIT s, min, hour or day, "
            "e.g. 60/min or 10/30s"
        )
    requests, count = int(match.group(1)), float(match.group(2) or 1)
    if requests < 1:
        raise ValueError(f"invalid rate {text!r}: allow at least 1 request, e.g. 1/min")
    return Rate(requests, count * unit)


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
