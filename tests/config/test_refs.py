"""Providers, inline refs, ``auto``, API keys and the models gateway."""

from __future__ import annotations

import attrs
import pytest

from trioagent.config import (
    PROVIDERS,
    AgentFile,
    ModelConfig,
    ProviderDefaults,
    apply_models_gateway,
    base_url_of,
    check_api_keys,
    is_local_url,
    parse_agent_file,
    parse_model_ref,
    provider_defaults,
    resolve_auto,
    token_key_of,
)
from trioagent.errors import ConfigError, MissingAPIKey


def test_providers_table() -> None:
    assert PROVIDERS["openai"] == ProviderDefaults(
        "openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "gpt-4o-mini"
    )
    assert PROVIDERS["anthropic"].api == "anthropic"
    assert PROVIDERS["anthropic"].token_key == "ANTHROPIC_API_KEY"
    assert PROVIDERS["ollama"] == ProviderDefaults("openai", "http://localhost:11434/v1", None)
    assert PROVIDERS["vllm"].base_url == "http://localhost:8000/v1"
    assert PROVIDERS["llamacpp"].base_url == "http://localhost:8080/v1"
    assert PROVIDERS["lmstudio"].base_url == "http://localhost:1234/v1"
    assert PROVIDERS["mistral"].token_key == "MISTRAL_API_KEY"
    assert PROVIDERS["xai"].base_url == "https://api.x.ai/v1"
    assert PROVIDERS["local"] == ProviderDefaults("local", None, None, "smollm2")


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("openai/gpt-4o", ModelConfig(provider="openai", model="gpt-4o")),
        (
            "ollama/hf.co/bartowski/Llama-3.2-1B-GGUF",
            ModelConfig(provider="ollama", model="hf.co/bartowski/Llama-3.2-1B-GGUF"),
        ),
        ("acme/x", ModelConfig(provider="acme", model="x")),
    ],
    ids=["simple", "split-on-first-slash", "provider-not-checked"],
)
def test_parse_model_ref(ref: str, expected: ModelConfig) -> None:
    assert parse_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["gpt-4o", "/gpt-4o", "openai/", "/", ""])
def test_parse_model_ref_rejects_non_refs(ref: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_ref(ref)
    assert str(info.value) == (
        f"invalid model reference {ref!r}: expected 'provider/model', for example 'openai/gpt-4o'"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "local/smollm2"),
        ({"OPENAI_API_KEY": "k"}, "openai/gpt-4o-mini"),
        ({"ANTHROPIC_API_KEY": "k"}, "anthropic/claude-sonnet-4-5"),
        ({"MISTRAL_API_KEY": "k"}, "mistral/mistral-small-latest"),
        ({"XAI_API_KEY": "k"}, "xai/grok-3-mini"),
        ({"XAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}, "anthropic/claude-sonnet-4-5"),
        ({"OPENAI_API_KEY": "", "XAI_API_KEY": "k"}, "xai/grok-3-mini"),
    ],
    ids=["none", "openai", "anthropic", "mistral", "xai", "order", "empty-is-unset"],
)
def test_resolve_auto(env: dict[str, str], expected: str) -> None:
    cfg = resolve_auto(env)
    assert f"{cfg.provider}/{cfg.model}" == expected


def test_provider_defaults_for_known_and_custom_providers() -> None:
    assert provider_defaults(ModelConfig(provider="xai", model="m")) is PROVIDERS["xai"]
    custom = ModelConfig(provider="acme", model="m", base_url="https://acme.example/v1")
    assert provider_defaults(custom) == ProviderDefaults("openai", "https://acme.example/v1", None)
    with pytest.raises(ConfigError, match=r"^unknown provider 'ollma' \(did you mean 'ollama'"):
        provider_defaults(ModelConfig(provider="ollma", model="m"))


def test_base_url_of() -> None:
    assert base_url_of(ModelConfig(provider="openai", model="m")) == "https://api.openai.com/v1"
    assert (
        base_url_of(ModelConfig(provider="openai", model="m", base_url="https://proxy/v1"))
        == "https://proxy/v1"
    )
    assert base_url_of(ModelConfig(provider="local", model="smollm2")) is None


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        (ModelConfig(provider="openai", model="m"), "OPENAI_API_KEY"),
        (ModelConfig(provider="anthropic", model="m"), "ANTHROPIC_API_KEY"),
        (ModelConfig(provider="openai", model="m", token_key="MY_KEY"), "MY_KEY"),
        (
            ModelConfig(provider="openai", model="m", base_url="https://proxy.example/v1"),
            "OPENAI_API_KEY",
        ),
        (ModelConfig(provider="openai", model="m", base_url="http://localhost:11434/v1"), None),
        (
            ModelConfig(
                provider="openai",
                model="m",
                base_url="http://127.0.0.1:8000/v1",
                token_key="VLLM_KEY",
            ),
            "VLLM_KEY",
        ),
        (ModelConfig(provider="ollama", model="m"), None),
        (ModelConfig(provider="acme", model="m", base_url="https://acme.example"), None),
        (ModelConfig(provider="local", model="smollm2"), None),
    ],
    ids=[
        "openai",
        "anthropic",
        "explicit",
        "remote-base-url",
        "local-base-url",
        "local-base-url-explicit",
        "ollama",
        "custom",
        "embedded",
    ],
)
def test_token_key_of(cfg: ModelConfig, expected: str | None) -> None:
    assert token_key_of(cfg) == expected


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000", True),
        ("http://127.1.2.3", True),
        ("http://[::1]:8080/v1", True),
        ("http://ollama.localhost/v1", True),
        ("http://host.docker.internal:11434/v1", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.5:8000/v1", False),
        ("not a url", False),
    ],
)
def test_is_local_url(url: str, local: bool) -> None:
    assert is_local_url(url) is local


TEAM = """
models:
  claude: {provider: anthropic, model: claude-sonnet-4-5}
  unused: {provider: mistral, model: mistral-large-latest}
  lan: {provider: openai, model: qwen, base_url: "http://localhost:8000/v1"}
agents:
  root: {model: claude, sub_agents: [coder, local, llama, lan]}
  coder: {model: openai/gpt-4o}
  local: {model: auto}
  llama: {model: ollama/llama3.2}
  lan: {model: lan}
"""


def team() -> AgentFile:
    return parse_agent_file(TEAM, env={})


def test_check_api_keys_passes_when_keys_are_set() -> None:
    check_api_keys(team(), {"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})


@pytest.mark.parametrize(
    ("env", "variable", "model"),
    [
        ({}, "ANTHROPIC_API_KEY", "claude"),
        ({"ANTHROPIC_API_KEY": "a"}, "OPENAI_API_KEY", "openai/gpt-4o"),
        ({"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": ""}, "OPENAI_API_KEY", "openai/gpt-4o"),
    ],
    ids=["first-agent-first", "second-agent", "empty-counts-as-missing"],
)
def test_check_api_keys_names_the_missing_variable(
    env: dict[str, str], variable: str, model: str
) -> None:
    with pytest.raises(MissingAPIKey) as info:
        check_api_keys(team(), env)
    assert info.value.variable == variable
    assert str(info.value) == (
        f"model {model!r} needs an API key: set the environment variable {variable} "
        "(or pass --env-from-file)"
    )


def test_check_api_keys_uses_token_key() -> None:
    file = parse_agent_file(
        "models: {m: {provider: openai, model: x, token_key: CORP_KEY}}\n"
        "agents: {root: {model: m}}\n",
        env={},
    )
    with pytest.raises(MissingAPIKey, match="CORP_KEY"):
        check_api_keys(file, {"OPENAI_API_KEY": "o"})
    check_api_keys(file, {"CORP_KEY": "c"})


def test_apply_models_gateway() -> None:
    file = parse_agent_file(
        TEAM.replace(
            "{provider: mistral, model: mistral-large-latest}",
            "{provider: mistral, model: m, token_key: MY_KEY, temperature: 0.3}",
        ),
        env={},
    )
    routed = apply_models_gateway(file, "https://gw.example/v1")
    assert routed.models == {
        "claude": ModelConfig(
            provider="openai",
            model="anthropic/claude-sonnet-4-5",
            base_url="https://gw.example/v1",
            token_key="ANTHROPIC_API_KEY",
        ),
        "unused": ModelConfig(
            provider="openai",
            model="mistral/m",
            temperature=0.3,
            base_url="https://gw.example/v1",
            token_key="MY_KEY",
        ),
        "lan": ModelConfig(
            provider="openai", model="openai/qwen", base_url="https://gw.example/v1"
        ),
        "openai/gpt-4o": ModelConfig(
            provider="openai",
            model="openai/gpt-4o",
            base_url="https://gw.example/v1",
            token_key="OPENAI_API_KEY",
        ),
        "auto": ModelConfig(provider="local", model="smollm2"),
        "ollama/llama3.2": ModelConfig(
            provider="openai", model="ollama/llama3.2", base_url="https://gw.example/v1"
        ),
    }
    assert routed.agents == file.agents
    assert attrs.evolve(routed, models=file.models) == file


def test_local_gateway_needs_no_key_for_keyless_models() -> None:
    file = parse_agent_file("agents: {root: {model: ollama/llama3.2}}", env={})
    routed = apply_models_gateway(file, "http://localhost:4000/v1")
    check_api_keys(routed, {})


@pytest.mark.parametrize("url", ["gw.example", "ftp://gw.example", "http://"])
def test_apply_models_gateway_rejects_non_http_urls(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_models_gateway(team(), url)
    assert str(info.value) == f"--models-gateway: expected an http(s) URL, got {url!r}"
