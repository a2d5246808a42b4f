from __future__ import annotations

import pytest
import trio.testing

from trioagent.server.ratelimit import Rate, RateLimiter, parse_rate, retry_after_header


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("60/min", Rate(60, 60)),
        ("10/s", Rate(10, 1)),
        ("5/sec", Rate(5, 1)),
        ("100/m", Rate(100, 60)),
        ("2/h", Rate(2, 3600)),
        ("1000/hour", Rate(1000, 3600)),
        ("7/day", Rate(7, 86400)),
        ("10/30s", Rate(10, 30)),
        ("120/5min", Rate(120, 300)),
        ("3/1.5s", Rate(3, 1.5)),
        (" 60 / Minute ", Rate(60, 60)),
        ("60/1h30m", Rate(60, 5400)),
        ("5/2d", Rate(5, 172800)),
    ],
    ids=[
        *("min", "s", "sec", "m", "h", "hour", "day", "count-s", "count-min", "fraction"),
        *("loose", "duration", "days"),
    ],
)
def test_parse_rate_accepts(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("60", "use N/UNIT"),
        ("60/", "use N/UNIT"),
        ("/min", "use N/UNIT"),
        ("60/fortnight", "use N/UNIT"),
        ("60/0s", "use N/UNIT"),
        ("-1/min", "use N/UNIT"),
        ("1.5/min", "use N/UNIT"),
        ("0/min", "at least 1 request"),
    ],
    ids=[
        "no-unit",
        "empty-unit",
        "no-count",
        "unknown-unit",
        "zero-period",
        "negative",
        "fractional-count",
        "zero",
    ],
)
def test_parse_rate_rejects_with_the_expected_form(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_rate(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (Rate(60, 60), "60/min"),
        (Rate(10, 1), "10/s"),
        (Rate(1000, 3600), "1000/hour"),
        (Rate(2, 86400), "2/day"),
        (Rate(10, 30), "10/30s"),
        (Rate(120, 300), "120/5min"),
        (Rate(3, 1.5), "3/1.5s"),
    ],
    ids=["min", "s", "hour", "day", "count-s", "count-min", "fraction"],
)
def test_rate_str_is_the_short_form_and_parses_back(rate: Rate, text: str) -> None:
    assert str(rate) == text
    assert parse_rate(text) == rate


def test_rate_refuses_nonsense_when_built_directly() -> None:
    with pytest.raises(ValueError, match="requests"):
        Rate(0, 60)
    with pytest.raises(ValueError, match="period"):
        Rate(1, 0)


async def test_burst_is_allowed_then_refused_with_the_wait(
    mock_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(Rate(5, 10))  # a token every 2 s
    assert [limiter.acquire("a") for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("a") == pytest.approx(2.0)
    mock_clock.jump(0.5)
    assert limiter.acquire("a") == pytest.approx(1.5)


async def test_one_token_comes_back_after_period_over_requests(
    mock_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(parse_rate("10/s"))
    for _ in range(10):
        limiter.acquire("a")
    wait = limiter.acquire("a")
    assert wait == pytest.approx(0.1)
    mock_clock.jump(wait)
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


async def test_refill_is_capped_at_capacity(mock_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(Rate(3, 3), max_clients=10)
    limiter.acquire("a")
    mock_clock.jump(0.5)
    limiter.acquire("a")  # keeps the bucket alive: pruning would also make it full
    mock_clock.jump(2.9)  # 2 used, 3.4 tokens refilled in all, but at most 3 are held
    assert [limiter.acquire("a") for _ in range(3)] == [0.0] * 3
    assert limiter.acquire("a") > 0


async def test_clients_are_independent(mock_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(Rate(2, 60))
    assert limiter.acquire("a") == limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == limiter.acquire("b") == 0.0
    assert limiter.acquire("b") > 0


async def test_refused_requests_take_no_token(mock_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(Rate(1, 10))
    assert limiter.acquire("a") == 0.0
    for step in range(10):
        assert limiter.acquire("a") == pytest.approx(10.0 - step)
        mock_clock.jump(1)
    assert limiter.acquire("a") == 0.0


async def test_lru_bound_holds_and_evicted_clients_start_full(
    mock_clock: trio.testing.MockClock,
) -> None:
    limiter = RateLimiter(Rate(2, 60), max_clients=3)
    for n in range(10):
        limiter.acquire(f"other-{n}")
        assert len(limiter) <= 3
    for client in "abc":
        limiter.acquire(client)
        limiter.acquire(client)
    limiter.acquire("a")  # refused, but now "b" is the least recently used
    limiter.acquire("d")
    assert len(limiter) == 3
    assert limiter.acquire("a") > 0  # kept: used after "b"
    assert limiter.acquire("b") == limiter.acquire("b") == 0.0  # dropped, so full again
    assert len(limiter) == 3


async def test_full_buckets_are_dropped(mock_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(Rate(2, 60))
    limiter.acquire("a")
    limiter.acquire("a")
    mock_clock.jump(30)
    limiter.acquire("b")
    assert len(limiter) == 2
    mock_clock.jump(30)  # "a" has refilled; "b" has not yet
    limiter.acquire("c")
    assert len(limiter) == 2
    assert limiter.acquire("a") == limiter.acquire("a") == 0.0


@pytest.mark.parametrize(
    ("wait", "header"),
    [(0.0, "1"), (0.01, "1"), (1.0, "1"), (1.0000000001, "1"), (1.2, "2"), (59.5, "60")],
    ids=["zero", "tiny", "whole", "float-noise", "fraction", "large"],
)
def test_retry_after_header_rounds_up_to_whole_seconds(wait: float, header: str) -> None:
    assert retry_after_header(wait) == header
