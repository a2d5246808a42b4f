"""Providers, inline model refs (``openai/gpt-4o``), ``model: auto`` and API keys.

One table, :data:`PROVIDERS`, says for each provider name which API it speaks, where it
listens and which environment variable holds its key. Everything else here reads it:

- :func:`parse_model_ref` turns ``openai/gpt-4o`` into a :class:`ModelConfig`;
- :func:`resolve_auto` picks a model for ``model: auto`` from the keys that are set;
- :func:`provider_defaults`, :func:`base_url_of` and :func:`token_key_of` fill what a
  model config leaves unset;
- :func:`check_api_keys` fails early, before serving, when a key variable is missing;
- :func:`apply_models_gateway` routes every model through one OpenAI-compatible gateway.

Imports only ``errors`` and ``config.schema``.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from typing import TYPE_CHECKING, Final, Literal

import attrs

from trioagent.errors import ConfigError, MissingAPIKey

from .convert import suggest
from .schema import AgentFile, ModelConfig

if TYPE_CHECKING:
    from collections.abc import Mapping

AUTO: Final = "auto"
"""The model name that means "pick one from the keys that are set"."""


@attrs.frozen
class ProviderDefaults:
    """What a provider name implies when a model config does not say otherwise."""

    api: Literal["openai", "anthropic", "local"]
    """The protocol: OpenAI Chat Completions, Anthropic Messages, or the embedded model."""
    base_url: str | None
    """Where it listens; ``None`` for the embedded model."""
    token_key: str | None
    """The environment variable holding the API key; ``None`` when it needs none."""
    default_model: str | None = None
    """The model ``model: auto`` picks for this provider, if it may pick it."""


PROVIDERS: Final[dict[str, ProviderDefaults]] = {
    "openai": ProviderDefaults(
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini"
    ),
    "anthropic": ProviderDefaults(
        "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "claude-sonnet-4-5"
    ),
    "mistral": ProviderDefaults(
        "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", "mistral-small-latest"
    ),
    "xai": ProviderDefaults("openai", "https://api.x.ai/v1", "XAI_API_KEY", "grok-3-mini"),
    "ollama": ProviderDefaults("openai", "http://localhost:11434/v1", None),
    "vllm": ProviderDefaults("openai", "http://localhost:8000/v1", None),
    "llamacpp": ProviderDefaults("openai", "http://localhost:8080/v1", None),
    "lmstudio": ProviderDefaults("openai", "http://localhost:1234/v1", None),
    "local": ProviderDefaults("local", None, None, "smollm2"),
}
"""Every provider name we know. Any other name needs a ``base_url`` and is then spoken
to as OpenAI-compatible, with no API key unless the model sets ``token_key``."""

AUTO_ORDER: Final[tuple[str, ...]] = ("openai", "anthropic", "mistral", "xai")
"""Providers ``model: auto`` tries, in order; ``local`` is the fallback."""

# Hosts that are this machine (or, from a container, its host): a model served there
# needs no API key unless the config names one with token_key.
_LOCAL_HOSTS: Final = frozenset({"localhost", "host.docker.internal", "0.0.0.0"})


def parse_model_ref(ref: str) -> ModelConfig:
    """Parse an inline ref ``provider/model`` into a model config.

    The split is on the first ``/``: ``ollama/hf.co/org/model`` is provider ``ollama``,
    model ``hf.co/org/model``. The provider is not checked here (see
    :func:`provider_defaults`).

    Args:
        ref: the string an agent's ``model:`` holds.

    Returns:
        ``ModelConfig(provider=..., model=...)`` with everything else unset.

    Raises:
        ConfigError: the string is not ``provider/model`` with both parts non-empty.
    """
    provider, sep, model = ref.partition("/")
    if not sep or not provider.strip() or not model.strip():
        raise ConfigError(
            f"invalid model reference {ref!r}: expected 'provider/model', "
            "for example 'openai/gpt-4o'"
        )
    return ModelConfig(provider=provider, model=model)


def resolve_auto(env: Mapping[str, str]) -> ModelConfig:
    """The model ``model: auto`` stands for, given the environment.

    The first provider of :data:`AUTO_ORDER` whose key variable is set and non-empty
    wins, with its default model (``openai/gpt-4o-mini``, ``anthropic/claude-sonnet-4-5``,
    ``mistral/mistral-small-latest``, ``xai/grok-3-mini``). With no key set it is the
    embedded model, ``local/smollm2``, which needs no key.
    """
    for name in AUTO_ORDER:
        defaults = PROVIDERS[name]
        if defaults.token_key and env.get(defaults.token_key) and defaults.default_model:
            return ModelConfig(provider=name, model=defaults.default_model)
    return ModelConfig(provider="local", model=PROVIDERS["local"].default_model or "smollm2")


def provider_defaults(cfg: ModelConfig) -> ProviderDefaults:
    """The defaults that ``cfg.provider`` implies.

    Raises:
        ConfigError: the provider is not in :data:`PROVIDERS` and ``cfg`` has no
            ``base_url``, so there is no way to reach it.
    """
    known = PROVIDERS.get(cfg.provider)
    if known is not None:
        return known
    if cfg.base_url:
        return ProviderDefaults("openai", cfg.base_url, None)
    raise ConfigError(
        f"unknown provider {cfg.provider!r}{suggest(cfg.provider, PROVIDERS)}: use one of "
        f"{', '.join(PROVIDERS)}, or set base_url to use an OpenAI-compatible server"
    )


def base_url_of(cfg: ModelConfig) -> str | None:
    """Where to send requests for ``cfg``: its ``base_url``, else the provider's."""
    return cfg.base_url or provider_defaults(cfg).base_url


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (loopback, ``localhost``)."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in _LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_key_of(cfg: ModelConfig) -> str | None:
    """The environment variable holding ``cfg``'s API key, or ``None`` if it needs none.

    ``cfg.token_key`` when set. Otherwise the provider's default, except when
    ``cfg.base_url`` points at this machine: a local server gets no key unless the
    config names one (so ``provider: openai`` + ``base_url: http://localhost:11434/v1``
    neither needs nor sends ``OPENAI_API_KEY``).
    """
    if cfg.token_key:
        return cfg.token_key
    if cfg.base_url and is_local_url(cfg.base_url):
        return None
    return provider_defaults(cfg).token_key


def check_api_keys(file: AgentFile, env: Mapping[str, str]) -> None:
    """Fail early when a model that an agent uses has no API key in ``env``.

    Models listed under ``models:`` but used by no agent are not checked.

    Args:
        file: a loaded agent file (every agent's model resolved).
        env: the environment the keys are read from.

    Raises:
        MissingAPIKey: for the first such model, in agent order.
    """
    seen: set[str] = set()
    for agent in file.agents.values():
        if agent.model in seen:
            continue
        seen.add(agent.model)
        variable = token_key_of(file.models[agent.model])
        if variable and not env.get(variable):
            raise MissingAPIKey(variable, model=agent.model)


def apply_models_gateway(file: AgentFile, url: str) -> AgentFile:
    """Route every model of ``file`` through one OpenAI-compatible gateway at ``url``.

    Each remote model becomes ``provider: openai``, ``base_url: url`` and
    ``model: "<provider>/<model>"`` (``anthropic/claude-sonnet-4-5``), the id form that
    LiteLLM-, OpenRouter- and Docker-style gateways route on. Each model keeps reading
    the API key variable it read before (its ``token_key``, else its provider's
    default), so the gateway receives the same credential; keyless models
    (``ollama``...) stay keyless when the gateway is local. Sampling settings are kept.
    The embedded ``local`` model is not remote and stays as it is.

    Raises:
        ConfigError: ``url`` is not an http(s) URL, or a model's provider is unknown.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"expected an http(s) URL, got {url!r}", key="--models-gateway")
    models: dict[str, ModelConfig] = {}
    for name, cfg in file.models.items():
        if provider_defaults(cfg).api == "local":
            models[name] = cfg
            continue
        models[name] = attrs.evolve(
            cfg,
            provider="openai",
            model=f"{cfg.provider}/{cfg.model}",
            base_url=url,
            token_key=token_key_of(cfg),
        )
    return attrs.evolve(file, models=models)
