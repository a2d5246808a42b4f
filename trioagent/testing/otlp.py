"""A fake OpenTelemetry collector: OTLP/HTTP traces received on a real socket.

    async with open_fake_collector() as collector:
        exporter = OTLPSpanExporter(endpoint=collector.traces_url)
        # or, for a trioagent process: OTEL_EXPORTER_OTLP_ENDPOINT=collector.url
        ...
        root = collector.one("POST /v1/chat/completions")
        [turn] = collector.children(root)

It serves ``POST /v1/traces``: an ``ExportTraceServiceRequest`` in protobuf (plain, gzip or
deflate), decoded with the official ``opentelemetry-proto`` types (the ``otel`` extra),
answered with an empty ``ExportTraceServiceResponse``. Every span received is kept as a
`ReceivedSpan`, its attributes as Python values.
"""

from __future__ import annotations

import gzip
import zlib
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
import trio

from ._http import open_http_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    from ._http import HTTPRequest, HTTPResponder

TRACES_PATH = "/v1/traces"
_PROTOBUF = "application/x-protobuf"


@attrs.frozen(kw_only=True)
class ReceivedSpan:
    """One span as the collector received it."""

    name: str
    trace_id: str
    """32 hex digits."""
    span_id: str
    """16 hex digits."""
    parent_span_id: str
    """16 hex digits; empty for a root span."""
    kind: str
    """``SERVER``, ``CLIENT``, ``INTERNAL``, ``PRODUCER`` or ``CONSUMER``."""
    attributes: dict[str, Any]
    status: str
    """``UNSET``, ``OK`` or ``ERROR``."""
    status_message: str
    start_ns: int
    end_ns: int
    service: str
    """The ``service.name`` of the process that sent it."""


@attrs.define(eq=False)
class FakeCollector:
    """A running fake collector (see :func:`open_fake_collector`)."""

    url: str
    """The base URL, for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``http://127.0.0.1:PORT``)."""
    keep_spans: bool = True
    """Whether spans are kept in :attr:`spans` (else only counted)."""
    spans: list[ReceivedSpan] = attrs.Factory(list)
    """Every span received, in the order they came."""
    span_count: int = 0
    """Spans received, kept or not."""
    received: int = 0
    """Export requests received (answered or held)."""
    exports: int = 0
    """Export requests answered."""
    hold: trio.Event | None = None
    """While set to an unset event, export requests wait for it (a slow collector)."""
    _changed: trio.Event = attrs.Factory(trio.Event)

    @property
    def traces_url(self) -> str:
        """Where an ``OTLPSpanExporter(endpoint=...)`` sends spans."""
        return self.url + TRACES_PATH

    def named(self, name: str) -> list[ReceivedSpan]:
        """The spans called ``name``."""
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReceivedSpan:
        """The only span called ``name``.

        Raises:
            AssertionError: there is none, or more than one.
        """
        found = self.named(name)
        assert len(found) == 1, f"{len(found)} spans named {name!r} in {self.names()}"
        return found[0]

    def children(self, parent: ReceivedSpan) -> list[ReceivedSpan]:
        """The spans whose parent is ``parent``, in the order they started."""
        found = [
            span
            for span in self.spans
            if span.parent_span_id == parent.span_id and span.trace_id == parent.trace_id
        ]
        return sorted(found, key=lambda span: span.start_ns)

    def names(self) -> list[str]:
        return [span.name for span in self.spans]

    def clear(self) -> None:
        """Forget the spans received so far."""
        self.spans.clear()

    async def wait_for(self, done: Callable[[FakeCollector], bool]) -> None:
        """Wait until ``done(self)`` holds, checking after each export request arrives
        and after each is answered."""
        while not done(self):
            await self._changed.wait()

    async def handle(self, request: HTTPRequest, responder: HTTPResponder) -> None:
        if request.path.partition("?")[0] != TRACES_PATH or request.method != "POST":
            await responder.respond(404, b"", content_type="text/plain")
            return
        self.received += 1
        self._notify()
        if self.hold is not None:
            await self.hold.wait()
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        export = ExportTraceServiceRequest()
        export.ParseFromString(_decoded(request))
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.span_count += 1
                    if self.keep_spans:
                        self.spans.append(_received(span, str(resource.get("service.name"))))
        self.exports += 1
        self._notify()
        body = ExportTraceServiceResponse().SerializeToString()
        await responder.respond(200, body, content_type=_PROTOBUF)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


@asynccontextmanager
async def open_fake_collector(*, keep_spans: bool = True) -> AsyncIterator[FakeCollector]:
    """Run a fake OTLP/HTTP collector on ``127.0.0.1`` at a free port for the block.

    Args:
        keep_spans: keep every span (else only count them, as a benchmark does).
    """
    collector: FakeCollector | None = None

    async def handle(request: HTTPRequest, responder: HTTPResponder) -> None:
        assert collector is not None
        await collector.handle(request, responder)

    async with open_http_server(handle) as server:
        collector = FakeCollector(f"http://127.0.0.1:{server.port}", keep_spans=keep_spans)
        yield collector


def _decoded(request: HTTPRequest) -> bytes:
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        return gzip.decompress(request.body)
    if encoding == "deflate":
        return zlib.decompress(request.body)
    return request.body


def _received(span: Any, service: str) -> ReceivedSpan:
    from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

    return ReceivedSpan(
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        kind=Span.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
        attributes=_attributes(span.attributes),
        status=Status.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
        status_message=span.status.message,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        service=service,
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    found: list[KeyValue] = list(pairs)
    return {pair.key: _value(pair.value) for pair in found}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind is None:
        return None
    return getattr(value, kind)
