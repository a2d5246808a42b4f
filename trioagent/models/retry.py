"""Retrying a model call that failed before it produced anything.

A model call is retried on 429, on 5xx and when we could not connect (or the connection
dropped), and only while it has not produced an event: once text reached the caller, a
second attempt would repeat it. Waits honour the provider's ``Retry-After`` (seconds or
an HTTP date, capped), else back off exponentially with jitter, and they are plain
``trio.sleep`` calls under the caller's cancel scope: a request timeout or a client that
went away stops the retries too.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import math
import random
import time
from contextlib import aclosing
from typing import TYPE_CHECKING, TypeVar

import attrs
import trio

from trioagent.errors import ModelError, UpstreamConnectError, UpstreamHTTPError

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS = 3


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently a model call is retried."""

    max_attempts: int = attrs.field(default=DEFAULT_MAX_ATTEMPTS, validator=attrs.validators.ge(1))
    """Attempts in all, the first one included; 1 turns retries off."""
    base_delay: float = 0.5
    """The wait after the first failure; it doubles with each further attempt."""
    max_delay: float = 8.0
    """The longest wait the exponential backoff reaches."""
    max_retry_after: float = 30.0
    """The longest wait a provider's ``Retry-After`` can ask for."""
    jitter: float = 0.25
    """The fraction of a backoff wait that is randomized (0 for none)."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """The seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: which attempt just failed.
            retry_after: the wait the provider asked for, if it did.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.base_delay * 2.0 ** (attempt - 1), self.max_delay)
        return backoff * (1 - self.jitter * random.random())


class Retryable(Exception):
    """Raised by an attempt whose failure is worth retrying.

    It never leaves :func:`retry_events`: when no attempt is left, or the attempt had
    already produced events, the loop raises ``error`` instead.

    Args:
        error: the typed error to raise when retrying stops.
        retry_after: the wait the provider asked for, in seconds.
    """

    def __init__(self, error: ModelError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


def is_retryable(error: ModelError) -> bool:
    """Whether a failed call may succeed when sent again: 429, 5xx, connection failures."""
    if isinstance(error, UpstreamHTTPError):
        return error.status == 429 or error.status >= 500
    return isinstance(error, UpstreamConnectError)


def classify(error: ModelError, retry_after: float | None = None) -> Exception:
    """The exception an attempt raises for ``error``: wrapped in :class:`Retryable` when
    :func:`is_retryable` says so, else the error itself."""
    return Retryable(error, retry_after) if is_retryable(error) else error


def parse_retry_after(
    headers: Callable[[str], str | None], *, now: float | None = None
) -> float | None:
    """Read the wait a provider asks for from its response headers.

    ``retry-after-ms`` (OpenAI) wins over ``Retry-After``, which holds seconds or an HTTP
    date.

    Args:
        headers: looks a header up by its name (``response.headers.get``).
        now: the current Unix time, for dates; ``time.time()`` when not given.

    Returns:
        Seconds, not negative; ``None`` when no header says or it cannot be read.
    """
    value = headers("retry-after-ms")
    if value is not None:
        try:
            millis = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(millis):
                return max(millis / 1000, 0.0)
    value = headers("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


async def retry_events(
    policy: RetryPolicy, attempt: Callable[[], AsyncGenerator[T, None]]
) -> AsyncGenerator[T, None]:
    """Yield the events of ``attempt()``, starting it again on a :class:`Retryable` failure.

    Args:
        policy: how many attempts and how long to wait between them.
        attempt: starts one call; raises :class:`Retryable` for failures worth retrying.

    Raises:
        ModelError: the last attempt's error, or the first error after an event was
            yielded.
    """
    for number in itertools.count(1):
        produced = False
        try:
            async with aclosing(attempt()) as events:
                async for event in events:
                    produced = True
                    yield event
            return
        except Retryable as failure:
            if produced or number >= policy.max_attempts:
                raise failure.error from failure.error.__cause__
            wait = policy.delay(number, failure.retry_after)
            log.info("model call failed (%s); attempt %d in %.2fs", failure.error, number + 1, wait)
        await trio.sleep(wait)
