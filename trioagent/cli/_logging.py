"""Where the command's log lines go: the only place that configures handlers."""

from __future__ import annotations

import logging

from ..logs import LogFormat, stderr_handler


def configure_logging(*, verbose: bool, log_format: LogFormat) -> None:
    """Log to stderr: trioagent's own lines from INFO (the access log, shutdown), other
    libraries' only from WARNING (hypercorn's "Running on", httpx2's line per request,
    matplotlib's font cache, coredis's retries); with ``verbose``, everything from DEBUG."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, handlers=[stderr_handler(log_format)]
    )
    # No line shows where it was logged from (file, function, thread, process): skip
    # finding out, as the logging HOWTO's "Optimization" table says. An access line
    # costs 40% less (24 -> 15 us, timeit).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.getLogger("trioagent").setLevel(logging.DEBUG if verbose else logging.INFO)
    if log_format == "json":  # every line on stderr is JSON: warnings too
        logging.captureWarnings(True)
    logging.getLogger("trio-websocket").setLevel(logging.WARNING)
    # The MCP SDK logs every lost connection with a traceback (some under the name
    # "client"); the toolset reports those failures itself.
    if not verbose:
        for name in ("mcp", "client"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
