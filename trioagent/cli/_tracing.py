"""Tracing a command that runs turns: the OpenTelemetry SDK, exporting OTLP/HTTP.

Tracing is on with ``--otel``, or when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set; ``OTEL_SDK_DISABLED=true`` and
``OTEL_TRACES_EXPORTER=none`` turn it off. The SDK reads every other standard variable
itself (headers, timeout, compression, sampler, resource, batch sizes). Each process
configures its own provider: with ``--workers N``, each worker.

Spans leave through a ``BatchSpanProcessor``, whose own thread exports them: a turn only
appends its spans to a queue, so a slow or dead collector neither slows nor fails it.
The exporter logs every failed batch and retry; those lines show only with ``-v``, and
trioagent logs one line when export starts failing (and one when it works again). When
the command ends, the last spans get `SHUTDOWN_TIMEOUT` seconds to leave.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .. import tracing
from ..errors import TrioagentError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

logger = logging.getLogger("trioagent.tracing")

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
"""Either turns tracing on; the first wins (the traces one is the full URL)."""
DEFAULT_ENDPOINT = "http://localhost:4318"
SHUTDOWN_TIMEOUT = 5.0
"""Seconds the last spans may take to leave when the command ends."""
EXTRA_HINT = "pip install 'trioagent[otel]'"


def tracing_requested(flag: bool, env: Mapping[str, str]) -> bool:
    """Whether to trace: ``--otel`` (``flag``) or an endpoint variable, unless the SDK or
    its trace exporter is switched off.

    Raises:
        ValueError: tracing is asked for with an exporter or protocol trioagent lacks.
    """
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter == "none" or not (flag or any(env.get(name) for name in ENDPOINT_VARIABLES)):
        return False
    if exporter != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={exporter}: trioagent exports traces by otlp")
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        if protocol := env.get(name):
            if protocol.strip().lower() != "http/protobuf":
                raise ValueError(
                    f"{name}={protocol}: trioagent exports traces over http/protobuf "
                    "(an OpenTelemetry Collector's port 4318)"
                )
            break
    return True


def traces_endpoint(env: Mapping[str, str]) -> str:
    """The URL spans are posted to, as the OTLP exporter works it out."""
    if url := env.get(ENDPOINT_VARIABLES[0]):
        return url
    return (env.get(ENDPOINT_VARIABLES[1]) or DEFAULT_ENDPOINT).rstrip("/") + "/v1/traces"


@contextmanager
def traced(*, flag: bool, verbose: bool, env: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Trace the turns run in the block, if asked to (`tracing_requested`); then flush
    what is left, for `SHUTDOWN_TIMEOUT` seconds at most.

    Args:
        flag: whether ``--otel`` was given.
        verbose: whether ``-v`` was: the SDK's own log lines are shown too.
        env: where the ``OTEL_*`` variables are read (the SDK reads ``os.environ``).

    Raises:
        TrioagentError: ``--otel`` was given but the ``otel`` extra is not installed.
        ValueError: see `tracing_requested`.
    """
    if not tracing_requested(flag, env):
        yield
        return
    try:
        from . import _otel_sdk
    except ImportError:
        if flag:
            raise TrioagentError(f"--otel needs the otel extra: {EXTRA_HINT}") from None
        logger.warning("OTEL_* is set, but tracing needs the otel extra: %s", EXTRA_HINT)
        yield
        return
    with _otel_sdk.open_provider(
        traces_endpoint(env), verbose=verbose, shutdown_timeout=SHUTDOWN_TIMEOUT
    ) as provider:
        tracing.enable(provider, capture_content=tracing.content_capture_requested(env))
        try:
            yield
        finally:
            tracing.disable()
