"""What one request measured (`RequestResult`) and what a load level adds up to.

Percentiles use linear interpolation between the two nearest ranks (numpy's default,
Hyndman & Fan type 7): the p-th percentile of n sorted values is at position
``(n - 1) * p / 100``, so p50 of ``[1, 2]`` is 1.5, p0 is the minimum and p100 the
maximum. That makes ``p50 <= p90 <= p99 <= max`` hold for any sample.
"""

from __future__ import annotations

import collections
import math
from typing import TYPE_CHECKING

import attrs

from .config import Mode  # noqa: TC001 (cattrs reads annotations at runtime)

if TYPE_CHECKING:
    from collections.abc import Sequence


@attrs.frozen(kw_only=True)
class RequestResult:
    """One measured request. Times are seconds, taken with ``time.perf_counter``."""

    latency: float
    """From sending the request to the end of the answer (or to the failure)."""
    error: str | None = None
    """Why it failed, in a few words (``HTTP 500``, ``ConnectError``, ``timeout``);
    ``None`` when it succeeded."""
    ttft: float | None = None
    """Streams: from sending to the first non-empty piece of answer text."""
    itls: tuple[float, ...] = ()
    """Streams: the gaps between consecutive non-empty pieces of answer text."""
    tokens: int = 0
    """Streams: the non-empty text pieces (deltas); one JSON answer: its
    ``usage.completion_tokens`` (0 when the answer has no usage)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def failure(latency: float, reason: str) -> RequestResult:
    """A failed request."""
    return RequestResult(latency=latency, error=reason)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0 to 100) of ascending ``sorted_values``, interpolated.

    Raises:
        ValueError: there are no values.
    """
    if not sorted_values:
        raise ValueError("no values")
    position = (len(sorted_values) - 1) * p / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@attrs.frozen(kw_only=True)
class Distribution:
    """Summary of a sample of durations, in milliseconds."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Distribution | None:
        """The summary of ``seconds`` (any order), in ms; ``None`` for an empty sample."""
        if not seconds:
            return None
        values = sorted(s * 1000 for s in seconds)
        return cls(
            count=len(values),
            mean=math.fsum(values) / len(values),
            p50=percentile(values, 50),
            p90=percentile(values, 90),
            p99=percentile(values, 99),
            max=values[-1],
        )


@attrs.frozen(kw_only=True)
class LevelReport:
    """What one concurrency level measured (warm-up requests left out)."""

    concurrency: int
    requests: int
    """Requests measured, failed ones included."""
    errors: dict[str, int]
    """Failed requests by reason."""
    elapsed: float
    """Seconds from the first measured request's start to the last one's end."""
    throughput: float
    """Successful requests per second of `elapsed`."""
    latency: Distribution | None
    """End-to-end latency of the successful requests."""
    ttft: Distribution | None = None
    """Time to first token of the successful streams."""
    itl: Distribution | None = None
    """Inter-token latency: every gap between two deltas of the successful streams."""
    tokens: int = 0
    tokens_per_s: float = 0.0
    """`tokens` of the successful requests per second of `elapsed`."""

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    @classmethod
    def of(cls, concurrency: int, results: Sequence[RequestResult], elapsed: float) -> LevelReport:
        """Add up one level's results."""
        ok = [r for r in results if r.ok]
        errors = collections.Counter(r.error for r in results if r.error is not None)
        tokens = sum(r.tokens for r in ok)
        per_second = 1 / elapsed if elapsed > 0 else 0.0
        return cls(
            concurrency=concurrency,
            requests=len(results),
            errors=dict(errors.most_common()),
            elapsed=elapsed,
            throughput=len(ok) * per_second,
            latency=Distribution.of([r.latency for r in ok]),
            ttft=Distribution.of([r.ttft for r in ok if r.ttft is not None]),
            itl=Distribution.of([gap for r in ok for gap in r.itls]),
            tokens=tokens,
            tokens_per_s=tokens * per_second,
        )


@attrs.frozen(kw_only=True)
class BenchReport:
    """A whole run: what was measured and each level's numbers."""

    url: str
    """The URL the requests went to."""
    mode: Mode
    model: str | None
    concurrency: tuple[int, ...]
    requests: int | None
    duration: float | None
    warmup: int
    levels: tuple[LevelReport, ...]

    @property
    def errors(self) -> int:
        return sum(level.failed for level in self.levels)
