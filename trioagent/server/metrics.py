"""Prometheus metrics of one server, and the helpers that record them.

Each server has its own `Metrics`, on its own registry (never prometheus_client's global
one), so that many servers can live in one process (the tests). ``GET /metrics`` renders
it with `Metrics.exposition`. Label values come from closed sets (route templates, agent
names, outcomes, error classes), so the number of series stays bounded.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import attrs
import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

from ..errors import ModelError, StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from prometheus_client.core import Metric

    from ..store import ConversationStore

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text exposition format that `Metrics.exposition` writes."""

Outcome = Literal["ok", "error", "timeout", "cancelled"]
"""How a turn ended: finished, failed, ran past --request-timeout, or was stopped (by the
client, a disconnect or the server's shutdown)."""

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Request methods counted under their own name; any other is counted as ``other``."""

TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
"""Turn durations, in seconds: a turn with tools may take minutes (--request-timeout)."""
FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


class _CachedConversations:
    """``trioagent_cached_conversations``: the count the last scrape read from the store."""

    def __init__(self) -> None:
        self.value: int | None = None

    def collect(self) -> Iterable[Metric]:
        if self.value is not None:
            yield GaugeMetricFamily(
                "trioagent_cached_conversations",
                "Conversations (serve api: sessions) the store holds.",
                value=self.value,
            )


@attrs.define
class Metrics:
    """The metrics of one server (one process: each ``--workers`` process has its own)."""

    registry: CollectorRegistry = attrs.Factory(CollectorRegistry)
    requests: Counter = attrs.field(init=False)
    turn_duration: Histogram = attrs.field(init=False)
    time_to_first_token: Histogram = attrs.field(init=False)
    upstream_errors: Counter = attrs.field(init=False)
    active_turns: Gauge = attrs.field(init=False)
    active_streams: Gauge = attrs.field(init=False)
    _cached: _CachedConversations = attrs.field(init=False, factory=_CachedConversations)

    def __attrs_post_init__(self) -> None:
        registry = self.registry
        self.requests = Counter(
            "trioagent_requests",
            "HTTP requests and WebSocket connections answered.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.turn_duration = Histogram(
            "trioagent_turn_duration_seconds",
            "Time from a turn's start to its end.",
            ["agent", "outcome"],
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.time_to_first_token = Histogram(
            "trioagent_time_to_first_token_seconds",
            "Time from a turn's start to its first piece of answer text.",
            ["agent"],
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "trioagent_upstream_errors",
            "Turns that failed because the model provider did.",
            ["agent", "kind"],
            registry=registry,
        )
        self.active_turns = Gauge(
            "trioagent_active_turns",
            "Turns running now.",
            registry=registry,
        )
        self.active_streams = Gauge(
            "trioagent_active_streams",
            "Open SSE responses and WebSocket connections.",
            registry=registry,
        )
        registry.register(self._cached)
        # The process's own series, as every Prometheus Python exporter has them: CPU,
        # memory, file descriptors, and the garbage collector's work (`settle_heap`).
        ProcessCollector(registry=registry)
        GCCollector(registry=registry)
        PlatformCollector(registry=registry)

    def count_request(self, route: str, method: str, status: int) -> None:
        """Count one answered request; ``route`` is its URL rule (``other`` if none matched)."""
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()

    @contextmanager
    def track_turn(self, agent: str) -> Iterator[TurnTrack]:
        """Measure one turn of ``agent`` while the block runs; it counts as ``cancelled``
        unless the block calls `TurnTrack.end`."""
        track = TurnTrack(self, agent, trio.current_time())
        self.active_turns.inc()
        try:
            yield track
        finally:
            self.active_turns.dec()
            self.turn_duration.labels(agent, track.outcome).observe(track.duration)

    @contextmanager
    def open_stream(self) -> Iterator[None]:
        """Count an SSE response or a WebSocket connection as active while the block runs."""
        self.active_streams.inc()
        try:
            yield
        finally:
            self.active_streams.dec()

    async def exposition(self, store: ConversationStore | None) -> bytes:
        """The metrics in the Prometheus text format, the store's count read now.

        Without a store, or when it is unavailable (logged), there is no count.
        """
        count = None
        if store is not None:
            try:
                count = await store.count()
            except StoreUnavailable as exc:
                logger.warning("metrics without trioagent_cached_conversations: %s", exc)
        # No await between setting and rendering: concurrent scrapes cannot mix counts.
        self._cached.value = count
        return generate_latest(self.registry)


@attrs.define
class TurnTrack:
    """One turn being measured (see `Metrics.track_turn`)."""

    metrics: Metrics
    agent: str
    started: float
    """``trio.current_time()`` at the turn's start."""
    outcome: Outcome = "cancelled"
    ended: float | None = None
    saw_text: bool = False

    @property
    def duration(self) -> float:
        """Seconds from the start to the end (to now while the turn runs)."""
        return (trio.current_time() if self.ended is None else self.ended) - self.started

    def text(self) -> None:
        """The turn produced answer text: the first call measures the time to first token."""
        if not self.saw_text:
            self.saw_text = True
            self.metrics.time_to_first_token.labels(self.agent).observe(
                trio.current_time() - self.started
            )

    def end(self, outcome: Outcome, error: BaseException | None = None) -> None:
        """The turn ended with ``outcome`` (``error``: what failed it)."""
        self.outcome, self.ended = outcome, trio.current_time()
        if isinstance(error, ModelError):
            self.metrics.upstream_errors.labels(self.agent, type(error).__name__).inc()
