from __future__ import annotations

import pytest
import trio

from trioagent.chat import Message, Sampling
from trioagent.config.schema import ModelConfig
from trioagent.errors import ConfigError, MissingAPIKey
from trioagent.models import (
    AnthropicClient,
    OpenAICompatClient,
    RetryPolicy,
    TextDelta,
    open_model_client,
)
from trioagent.testing import open_fake_anthropic, open_fake_openai, text


async def test_openai_gets_the_openai_compatible_client_with_its_defaults() -> None:
    client = open_model_client(
        ModelConfig(provider="openai", model="gpt-4o"), env={"OPENAI_API_KEY": "sk-env"}
    )
    try:
        assert isinstance(client, OpenAICompatClient)
        assert client.base_url == "https://api.openai.com/v1"
        assert client.api_key == "sk-env"
        assert client.max_tokens_field == "max_completion_tokens"
        assert "sk-env" not in repr(client)
    finally:
        await client.aclose()


async def test_anthropic_gets_the_anthropic_client() -> None:
    client = open_model_client(
        ModelConfig(provider="anthropic", model="claude-sonnet-4-5"),
        env={"ANTHROPIC_API_KEY": "sk-ant"},
    )
    try:
        assert isinstance(client, AnthropicClient)
        assert client.api_key == "sk-ant"
    finally:
        await client.aclose()


async def test_a_local_server_needs_no_key() -> None:
    client = open_model_client(ModelConfig(provider="ollama", model="qwen3"), env={})
    try:
        assert isinstance(client, OpenAICompatClient)
        assert client.base_url == "http://localhost:11434/v1"
        assert client.api_key is None
        assert client.max_tokens_field == "max_tokens"
    finally:
        await client.aclose()


def test_a_missing_key_is_a_config_error() -> None:
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY"):
        open_model_client(ModelConfig(provider="openai", model="gpt-4o"), env={})


def test_the_local_provider_gets_the_embedded_model_client() -> None:
    from local_model import missing_local_model

    from trioagent.models.local import LocalClient

    if reason := missing_local_model():
        pytest.skip(reason)
    client = open_model_client(ModelConfig(provider="local", model="smollm2"), env={})
    assert isinstance(client, LocalClient)


async def test_config_sampling_is_the_default_that_calls_override() -> None:
    with trio.fail_after(5):
        async with open_fake_openai() as fake:
            cfg = ModelConfig(
                provider="custom",
                model="m",
                base_url=fake.base_url,
                temperature=0.7,
                max_tokens=50,
                top_p=0.9,
            )
            client = open_model_client(cfg, env={}, retry=RetryPolicy(max_attempts=1))
            try:
                async with client.stream(
                    [Message.user("hi")], [], Sampling(temperature=0.1)
                ) as events:
                    assert TextDelta("ok") in [event async for event in events]
            finally:
                await client.aclose()
    body = fake.requests[0].json
    assert (body["temperature"], body["max_tokens"], body["top_p"]) == (0.1, 50, 0.9)


async def test_anthropic_config_reaches_the_fake() -> None:
    with trio.fail_after(5):
        async with open_fake_anthropic(api_key="sk-ant") as fake:
            fake.enqueue(text("bonjour"))
            cfg = ModelConfig(
                provider="anthropic", model="claude", base_url=fake.base_url, token_key="MY_KEY"
            )
            client = open_model_client(cfg, env={"MY_KEY": "sk-ant"})
            try:
                async with client.stream([Message.user("hi")], [], Sampling()) as events:
                    assert TextDelta("bonjour") in [event async for event in events]
            finally:
                await client.aclose()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/v1", "localhost:11434", "http://"],
    ids=["ftp", "no-scheme", "no-host"],
)
def test_a_base_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        open_model_client(ModelConfig(provider="custom", model="m", base_url=url), env={})
