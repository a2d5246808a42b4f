from __future__ import annotations

import email.utils
from collections.abc import AsyncGenerator, Callable

import pytest
import trio
import trio.testing

from trioagent.errors import (
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from trioagent.models.retry import (
    Retryable,
    RetryPolicy,
    classify,
    is_retryable,
    parse_retry_after,
    retry_events,
)


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0, jitter=0.25)
    for attempt, full in [(1, 1.0), (2, 2.0), (3, 3.0), (6, 3.0)]:
        for _ in range(50):
            assert 0.75 * full <= policy.delay(attempt) <= full


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(max_retry_after=10.0)
    assert policy.delay(1, retry_after=4.0) == 4.0
    assert policy.delay(1, retry_after=120.0) == 10.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": email.utils.formatdate(1_000_030, usegmt=True)}, 30.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
    ids=[
        "seconds",
        "fraction",
        "negative",
        "milliseconds-win",
        "http-date",
        "garbage",
        "nan",
        "absent",
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers.get, now=1_000_000) == expected


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (UpstreamRateLimited(429, "x"), True),
        (UpstreamHTTPError(500, "x"), True),
        (UpstreamHTTPError(529, "x"), True),
        (UpstreamConnectError("x"), True),
        (UpstreamAuthError(401, "x"), False),
        (UpstreamHTTPError(400, "x"), False),
        (UpstreamTimeout("x"), False),
    ],
    ids=["429", "500", "529", "connect", "401", "400", "timeout"],
)
def test_what_is_retried(error: UpstreamHTTPError, retryable: bool) -> None:
    assert is_retryable(error) is retryable
    assert isinstance(classify(error), Retryable) is retryable


def scripted(
    outcomes: list[Exception | None], calls: list[float]
) -> Callable[[], AsyncGenerator[str, None]]:
    """An attempt that fails with the next outcome, or yields two events when it is None."""

    async def attempt() -> AsyncGenerator[str, None]:
        calls.append(trio.current_time())
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        yield "a"
        yield "b"

    return attempt


async def run(
    policy: RetryPolicy, outcomes: list[Exception | None], calls: list[float]
) -> list[str]:
    with trio.fail_after(60):  # virtual seconds under the autojump clock
        return [event async for event in retry_events(policy, scripted(outcomes, calls))]


async def test_failures_before_any_event_are_retried_with_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []
    policy = RetryPolicy(base_delay=1.0, jitter=0.0)
    outcomes: list[Exception | None] = [
        Retryable(UpstreamHTTPError(500, "x")),
        Retryable(UpstreamConnectError("x")),
        None,
    ]
    assert await run(policy, outcomes, calls) == ["a", "b"]
    assert [round(t - calls[0], 3) for t in calls] == [0.0, 1.0, 3.0]


async def test_retry_after_sets_the_wait(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []
    outcomes: list[Exception | None] = [
        Retryable(UpstreamRateLimited(429, "x"), retry_after=7.0),
        None,
    ]
    assert await run(RetryPolicy(), outcomes, calls) == ["a", "b"]
    assert calls[1] - calls[0] == pytest.approx(7.0)


async def test_the_last_error_is_raised_when_attempts_run_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []
    last = UpstreamRateLimited(429, "third")
    outcomes: list[Exception | None] = [
        Retryable(UpstreamRateLimited(429, "first")),
        Retryable(UpstreamRateLimited(429, "2")),
        Retryable(last),
    ]
    with pytest.raises(UpstreamRateLimited) as caught:
        await run(RetryPolicy(max_attempts=3), outcomes, calls)
    assert caught.value is last
    assert len(calls) == 3


async def test_a_plain_error_is_not_retried() -> None:
    calls: list[float] = []
    with pytest.raises(UpstreamAuthError):
        await run(RetryPolicy(), [UpstreamAuthError(401, "x"), None], calls)
    assert len(calls) == 1


async def test_no_retry_once_an_event_was_produced() -> None:
    calls: list[float] = []
    seen: list[str] = []

    async def attempt() -> AsyncGenerator[str, None]:
        calls.append(0)
        yield "a"
        raise Retryable(UpstreamConnectError("dropped"))

    async def consume() -> None:
        async for event in retry_events(RetryPolicy(), attempt):
            seen.append(event)

    with trio.fail_after(5), pytest.raises(UpstreamConnectError):
        await consume()
    assert seen == ["a"]
    assert len(calls) == 1


async def test_the_wait_is_cancelled_by_the_callers_scope(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[float] = []
    outcomes: list[Exception | None] = [
        Retryable(UpstreamRateLimited(429, "x"), retry_after=20.0),
        None,
    ]
    with trio.move_on_after(5) as scope:
        await run(RetryPolicy(), outcomes, calls)
    assert scope.cancelled_caught
    assert len(calls) == 1
