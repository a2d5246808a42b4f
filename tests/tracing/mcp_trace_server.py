"""An MCP server on stdio whose one tool answers the trace context its call came with.

python tests/tracing/mcp_trace_server.py
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from opentelemetry import propagate

mcp: MCPServer = MCPServer("trioagent-trace-test", log_level="WARNING")


@mcp.tool()
def traceparent() -> str:
    """The W3C traceparent of the call, as this server sees it (empty if none came)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")


if __name__ == "__main__":
    mcp.run("stdio")
    os._exit(0)  # skip the interpreter's teardown
