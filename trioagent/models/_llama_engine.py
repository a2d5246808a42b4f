"""llama.cpp's own server engine, in this process, through the prebuilt ``xllamacpp`` wheel.

One :class:`Engine` per loaded GGUF file and settings, shared by every agent and every
``trio.run`` of the process. The engine runs llama.cpp's server loop in its own C++
thread: ``parallel`` slots decode together (continuous batching), so several calls
generate at once instead of queueing.

A call (:meth:`Engine.chat`) runs in a trio worker thread, which llama.cpp calls back with
each Chat Completions chunk; the callback hands the chunk to trio over a rendezvous
channel. Returning ``True`` from the callback tells llama.cpp to drop the request, which
frees its slot at the next token (or the next prompt batch, since the request asks for
prompt progress). So a call whose reader is gone or cancelled stops there, and the other
slots go on.

xllamacpp also starts llama.cpp's HTTP listener; it is bound to a Unix socket in a
private directory, with a random API key, so no other user (or process) can reach it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent.errors import ConfigError, ModelError, sole_exception

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import xllamacpp

logger = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'trioagent[local]' (from a checkout: pip install -e '.[local]')"
PROMPT_BATCH: Final = 128
"""Prompt tokens decoded per step: a cancelled call waits for one step at most."""


@attrs.frozen
class EngineSettings:
    """How a model is loaded; each distinct value is loaded once per process."""

    path: Path
    n_ctx: int
    """Context tokens of each slot."""
    threads: int
    parallel: int
    """Slots: calls that generate at the same time."""


@attrs.define(eq=False)
class Engine:
    """One loaded model and its llama.cpp server loop."""

    settings: EngineSettings
    _server: xllamacpp.Server
    _socket_dir: Path
    running: int = 0
    """Calls whose worker thread is in llama.cpp now."""

    @asynccontextmanager
    async def chat(self, body: dict[str, Any]) -> AsyncIterator[trio.MemoryReceiveChannel[str]]:
        """Run one streamed Chat Completions request; receive each chunk, as JSON text.

        An error llama.cpp answers with (before or during the stream) comes as a chunk
        with an ``error`` object, as its HTTP server sends it; prompt progress comes as
        chunks with ``prompt_progress``. Leaving the block, or cancelling it, drops the
        request at its next token or prompt batch.
        """
        request = json.dumps({**body, "stream": True, "return_progress": True})
        send, receive = trio.open_memory_channel[str](0)
        stop = threading.Event()

        def deliver(chunk: str) -> bool:
            # Called by llama.cpp in the worker thread; True drops the request. Nothing
            # may escape: the wrapper would only print it (trio.Cancelled included).
            if stop.is_set():
                return True
            try:
                trio.from_thread.run(send.send, chunk)
            except BaseException:  # the reader is gone, cancelled, or trio is stopping
                stop.set()
                return True
            return False

        async def produce() -> None:
            with send:
                self.running += 1
                try:
                    # abandon_on_cancel=False: a cancelled call waits for llama.cpp to let
                    # go of the callback (a token or a prompt batch): nothing outlives it.
                    await trio.to_thread.run_sync(
                        self._server.handle_chat_completions,
                        request,
                        deliver,
                        abandon_on_cancel=False,
                    )
                except (ValueError, RuntimeError) as exc:
                    # The binding raises what llama.cpp threw while reading the request
                    # (ValueError: an invalid request): say it as the HTTP server would.
                    code = 400 if isinstance(exc, ValueError) else 500
                    error = {"error": {"code": code, "message": str(exc)}}
                    with contextlib.suppress(trio.BrokenResourceError):
                        await send.send(json.dumps(error))
                finally:
                    self.running -= 1

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(produce)
                try:
                    with receive:
                        yield receive
                finally:
                    stop.set()
        except BaseExceptionGroup as group:  # the caller's own error, as it raised it
            if (sole := sole_exception(group)) is not None:
                raise sole from None
            raise

    def close(self) -> None:
        """Stop the server loop and remove the socket directory."""
        del self._server
        shutil.rmtree(self._socket_dir, ignore_errors=True)


_ENGINES: dict[EngineSettings, Engine] = {}
_LOADING: dict[EngineSettings, trio.Lock] = {}


async def open_engine(settings: EngineSettings) -> Engine:
    """The engine for ``settings``, loaded in a worker thread on first use.

    Raises:
        ConfigError: the ``local`` extra is not installed.
        ModelError: llama.cpp cannot load the file.
    """
    if (engine := _ENGINES.get(settings)) is not None:
        return engine
    # trio's locks belong to no particular trio.run, so consecutive runs share them.
    async with _LOADING.setdefault(settings, trio.Lock()):
        if (engine := _ENGINES.get(settings)) is None:
            started = time.perf_counter()
            engine = await trio.to_thread.run_sync(_load, settings)
            _ENGINES[settings] = engine
            logger.info(
                "loaded local model %s in %.2f s (%d slots of %d tokens, %d threads)",
                settings.path.name,
                time.perf_counter() - started,
                settings.parallel,
                settings.n_ctx,
                settings.threads,
            )
    return engine


def loaded_engine(settings: EngineSettings) -> Engine | None:
    """The engine for ``settings`` if it is loaded."""
    return _ENGINES.get(settings)


def close_engines() -> None:
    """Stop every loaded engine (at exit; a later call loads again)."""
    while _ENGINES:
        _, engine = _ENGINES.popitem()
        engine.close()


def require_xllamacpp() -> None:
    """Check that the engine can be imported.

    Raises:
        ConfigError: it cannot; the message names the install command.
    """
    try:
        import xllamacpp  # noqa: F401
    except Exception as exc:  # an ImportError, or an OSError from a broken library
        raise ConfigError(f"the local model needs xllamacpp: {INSTALL_HINT}") from exc


def _load(settings: EngineSettings) -> Engine:
    try:
        import xllamacpp
    except Exception as exc:
        raise ConfigError(f"the local model needs xllamacpp: {INSTALL_HINT}") from exc
    params = xllamacpp.CommonParams()
    params.model.path = str(settings.path)
    params.n_parallel = settings.parallel
    params.n_ctx = settings.n_ctx * settings.parallel  # llama.cpp splits it among slots
    params.n_batch = params.n_ubatch = PROMPT_BATCH
    params.cpuparams.n_threads = settings.threads
    params.cpuparams_batch.n_threads = settings.threads
    params.cache_ram_mib = 0  # no host-memory prompt cache: the slots keep their own
    params.warmup = False
    params.verbosity = -1
    params.n_threads_http = 1
    socket_dir = Path(tempfile.mkdtemp(prefix="trioagent-llama-"))  # mode 0700
    params.hostnames = [str(socket_dir / "llama.sock")]
    params.api_keys = [secrets.token_urlsafe(32)]
    try:
        server = xllamacpp.Server(params)
    except Exception as exc:
        shutil.rmtree(socket_dir, ignore_errors=True)
        raise ModelError(f"cannot load the local model {settings.path}: {exc}") from exc
    return Engine(settings, server, socket_dir)
