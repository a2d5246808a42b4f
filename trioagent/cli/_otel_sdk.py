"""The OpenTelemetry SDK side of `trioagent.cli._tracing` (the ``otel`` extra): a tracer
provider exporting OTLP/HTTP in batches, quiet about a collector that does not answer."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .. import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.sdk.trace import ReadableSpan

logger = logging.getLogger("trioagent.tracing")

EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
SDK_LOGGERS = (
    EXPORTER_LOGGER,
    "opentelemetry.sdk._shared_internal",
    "opentelemetry.sdk.trace.export",
)
"""Where the exporter and the batch processor log each failed batch, retry or dropped span
(a filter sees only the records of its own logger, not of the loggers below it)."""
MAX_PROBLEM = 300
"""Characters of the exporter's complaint that trioagent's one line quotes."""


@contextmanager
def open_provider(
    endpoint: str, *, verbose: bool, shutdown_timeout: float
) -> Iterator[TracerProvider]:
    """A tracer provider exporting to ``endpoint`` (as the ``OTEL_EXPORTER_OTLP_*``
    variables say), made the global one too, so that the MCP SDK's spans join ours (and
    MCP servers receive our ``traceparent``). On exit, the spans still queued get
    ``shutdown_timeout`` seconds to leave.
    """
    lines = SDKLines(verbose)
    provider = TracerProvider(resource=_resource(), shutdown_on_exit=False)
    provider.add_span_processor(
        BatchSpanProcessor(ReportingExporter(OTLPSpanExporter(), endpoint, lines))
    )
    trace.set_tracer_provider(provider)
    loggers = [logging.getLogger(name) for name in SDK_LOGGERS]
    for sdk_logger in loggers:
        sdk_logger.addFilter(lines)
    try:
        yield provider
    finally:
        shut_down(provider, shutdown_timeout)
        for sdk_logger in loggers:
            sdk_logger.removeFilter(lines)


def shut_down(provider: TracerProvider, timeout: float) -> None:
    """Flush and stop ``provider``, waiting ``timeout`` seconds at most (the SDK's own
    bounds give a dead collector tens of seconds)."""
    worker = threading.Thread(target=provider.shutdown, name="trioagent-traces", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        logger.warning("the last spans could not be exported within %g s: dropped", timeout)


def _resource() -> Resource:
    """What the standard variables say of this process (``OTEL_SERVICE_NAME``,
    ``OTEL_RESOURCE_ATTRIBUTES``), with ``service.name`` trioagent when they do not name
    it, and trioagent's version."""
    resource = Resource.create()
    ours: dict[str, str] = {}
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        ours["service.name"] = "trioagent"
    if "service.version" not in resource.attributes:
        ours["service.version"] = __version__
    return resource.merge(Resource(ours))


class SDKLines(logging.Filter):
    """Keeps the SDK's lines about failed exports and dropped spans out of the log unless
    ``-v``; remembers the exporter's first complaint since the last export that worked,
    for the line trioagent logs."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose
        self.problem: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.problem is None and record.name == EXPORTER_LOGGER:
            self.problem = record.getMessage()
        return self.verbose


class ReportingExporter(SpanExporter):
    """An exporter that logs once when its exports start failing, and once when they
    work again."""

    def __init__(self, exporter: SpanExporter, endpoint: str, lines: SDKLines) -> None:
        self._exporter = exporter
        self._endpoint = endpoint
        self._lines = lines
        self._failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._exporter.export(spans)
        if result is SpanExportResult.SUCCESS:
            if self._failing:
                logger.warning("traces reach %s again", self._endpoint)
            self._failing, self._lines.problem = False, None
        elif not self._failing:
            self._failing = True
            logger.warning(
                "cannot export traces to %s (%s): spans are dropped until it answers, "
                "turns go on (-v shows each failed export)",
                self._endpoint,
                (self._lines.problem or "no answer")[:MAX_PROBLEM],
            )
        return result

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)
