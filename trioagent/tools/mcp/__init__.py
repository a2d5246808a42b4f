"""``type: mcp`` toolsets: the tools of an MCP server, through the official ``mcp`` SDK.

A stdio server (``command`` + ``args``) runs as our child process; a remote one
(``remote.url``) is reached over streamable HTTP, or the older SSE transport.

Why a host task. A runtime, and so its toolsets, is opened in one request's task, lent to
later requests in other tasks and closed in yet another (the pool's). The SDK's context
managers enter anyio task groups and cancel scopes, which only the task that entered them
may exit. So ``__aenter__`` enters nothing of the SDK: it starts one task in ``host``, a
nursery that lives as long as the server, and that task owns the connection::

    host task ── session 1: transport + Client, tools listed ── calls ── breaks
             └── session 2, started by the next call ── calls ── ...
    call() ──> memory channel ──> a task of the current session ──> the call's event

* ``__aenter__`` starts the host task and returns once the tools are listed; a server
  that cannot start, answer or list its tools raises ``ConfigError`` there.
* ``call`` hands the call to the host task and waits for its result. Calls run
  concurrently (the SDK matches answers to requests); a caller that is cancelled cancels
  only its own call, and the SDK tells the server.
* A server that exits or stops answering fails the calls in flight with an error result;
  the next call starts a new session (a new process). The tool list stays the first one.
* ``__aexit__`` closes the call channel: the session ends cleanly (the SDK closes a stdio
  server's stdin, then terminates and kills its process group if it lingers; it ends an
  HTTP session with a DELETE), or is cancelled after ``GRACEFUL_CLOSE`` seconds. The
  cancellation of ``host`` (the server stopping) ends it too; the process still goes.

A stdio server gets a safe environment (PATH, HOME, USER, ...: the SDK's
``get_default_environment``) plus the toolset's ``env``, never ours, which holds API keys.
Its stderr goes to the ``trioagent.tools.mcp`` logger at DEBUG, and its last lines into
error messages.

The SDK is imported on first open, in a thread: it takes about a second.

The modules: ``_toolset`` (`MCPToolset`, the host task and the calls), ``_transport``
(opening stdio, streamable HTTP or SSE, and the SDK's client), ``_session`` (what one
connection learned, why it broke, the tool listing), ``_content`` (results as the model
sees them) and ``_config`` (checking the entry, naming the server).
"""

from __future__ import annotations

# The name the tests know from when this package was one module.
from ._content import to_tool_result as _to_tool_result  # noqa: F401
from ._session import MAX_PAGES as MAX_PAGES
from ._session import STDERR_TAIL_LINES as STDERR_TAIL_LINES
from ._toolset import CLOSE_TIMEOUT as CLOSE_TIMEOUT
from ._toolset import GRACEFUL_CLOSE as GRACEFUL_CLOSE
from ._toolset import MAX_OUTPUT_CHARS as MAX_OUTPUT_CHARS
from ._toolset import STARTUP_TIMEOUT as STARTUP_TIMEOUT
from ._toolset import MCPToolset as MCPToolset
from ._transport import HTTP_TIMEOUT as HTTP_TIMEOUT
