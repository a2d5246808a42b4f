"""Tracing against a real OTLP/HTTP receiver: the fake collector on loopback, and an SDK
tracer provider whose real OTLP exporter posts to it. The provider is given to
`trioagent.tracing.enable` (never made the global one), and taken back after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
import trio
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from trioagent import tracing
from trioagent.testing import FakeCollector, ReceivedSpan, open_fake_collector


@attrs.frozen
class Traces:
    """What the test's provider exported."""

    collector: FakeCollector
    provider: TracerProvider

    async def flush(self) -> FakeCollector:
        """Export every span that ended (in a thread: the collector answers on this loop)."""
        assert await trio.to_thread.run_sync(self.provider.force_flush)
        return self.collector

    def tree(self, span: ReceivedSpan) -> list[Any]:
        """``[name, [subtree...]]``, children in a stable order (concurrent siblings
        start in any order)."""
        return [span.name, sorted((self.tree(c) for c in self.collector.children(span)), key=repr)]


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    async with open_fake_collector() as collector:
        yield collector


@pytest.fixture
def capture_content() -> bool:
    """Whether the provider records message content (parametrize it to opt in)."""
    return False


@pytest.fixture
async def traces(collector: FakeCollector, capture_content: bool) -> AsyncIterator[Traces]:
    provider = make_provider(collector.traces_url)
    tracing.enable(provider, capture_content=capture_content)
    try:
        yield Traces(collector, provider)
    finally:
        tracing.disable()
        await trio.to_thread.run_sync(provider.shutdown)


def make_provider(endpoint: str, *, timeout: float = 5, delay: float = 5000) -> TracerProvider:
    """An SDK provider exporting to ``endpoint`` in batches, as the CLI's does: each
    export may take ``timeout`` s, and they start every ``delay`` ms."""
    provider = TracerProvider(
        sampler=ALWAYS_ON,
        resource=Resource({"service.name": "trioagent-test"}),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=endpoint, timeout=timeout), schedule_delay_millis=delay
        )
    )
    return provider
