"""Model configs to model clients: which class speaks to which provider.

Where a provider listens and which variable holds its key is
:mod:`trioagent.config.refs`' business (:data:`~trioagent.config.refs.PROVIDERS`); this
module only picks the client class for the provider's API and fills it in.
"""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from trioagent.chat import Sampling
from trioagent.config.refs import provider_defaults, token_key_of
from trioagent.errors import ConfigError, MissingAPIKey

from .anthropic import AnthropicClient
from .local import LocalClient, require_local_extra
from .openai_compat import MaxTokensField, OpenAICompatClient
from .retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trioagent.config.schema import ModelConfig

    from .base import ModelClient


def sampling_of(cfg: ModelConfig) -> Sampling:
    """The sampling settings a model config sets: defaults each call may override."""
    return Sampling(
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_tokens=cfg.max_tokens,
        presence_penalty=cfg.presence_penalty,
        frequency_penalty=cfg.frequency_penalty,
        parallel_tool_calls=cfg.parallel_tool_calls,
    )


def open_model_client(
    cfg: ModelConfig, *, env: Mapping[str, str], retry: RetryPolicy | None = None
) -> ModelClient:
    """A client for ``cfg``'s provider; the caller closes it with ``aclose()``.

    Anthropic models get an :class:`AnthropicClient`, the embedded ``local`` model a
    :class:`LocalClient`, every other provider an :class:`OpenAICompatClient`. Creating a
    client does no I/O (the local model loads on first use).

    Args:
        cfg: the model's configuration.
        env: where the API key variable is read.
        retry: the retry policy; the default retries three times in all.

    Raises:
        MissingAPIKey: the model needs a key and its variable is unset or empty.
        ConfigError: the provider is unknown and has no ``base_url``, or it is ``local``
            and the ``local`` extra is not installed.
    """
    defaults = provider_defaults(cfg)
    if defaults.api == "local":
        require_local_extra()
        return LocalClient(cfg)
    base_url = cfg.base_url or defaults.base_url
    if not base_url:
        raise ConfigError(f"provider {cfg.provider!r} needs a base_url")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"base_url {base_url!r} of model {cfg.model!r} is not an http(s) URL", key="base_url"
        )
    variable = token_key_of(cfg)
    api_key = env.get(variable) if variable else None
    if variable and not api_key:
        raise MissingAPIKey(variable, model=cfg.model)
    policy = retry or RetryPolicy()
    if defaults.api == "anthropic":
        return AnthropicClient(
            model=cfg.model,
            base_url=base_url,
            api_key=api_key,
            defaults=sampling_of(cfg),
            retry=policy,
        )
    return OpenAICompatClient(
        model=cfg.model,
        base_url=base_url,
        api_key=api_key,
        defaults=sampling_of(cfg),
        retry=policy,
        max_tokens_field=_max_tokens_field(cfg.provider, base_url),
    )


def _max_tokens_field(provider: str, base_url: str) -> MaxTokensField:
    # OpenAI's reasoning models refuse max_tokens and every current OpenAI model takes
    # max_completion_tokens, but other OpenAI-compatible servers may not know it.
    if provider == "openai" and "://api.openai.com" in base_url:
        return "max_completion_tokens"
    return "max_tokens"
