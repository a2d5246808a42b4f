"""Registry authentication over real sockets: Basic (htpasswd) and Bearer (token server),
with credentials from the environment, a Docker config.json, and a credential helper."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trioagent.errors import RegistryError
from trioagent.oci import pull, push

from .conftest import AGENT_YAML, PASSWORD, REFRESH_TOKEN, SERVICE, USER, Registry, TokenServer

VERSION = "9.9.9-test"
WriteConfig = Callable[[dict[str, Any]], Path]
InstallHelper = Callable[[str, dict[str, tuple[str, str]]], Path]


def round_trip(registry: Registry, env: dict[str, str]) -> None:
    ref = registry.ref("team/pirate:1.0")
    digest = push(AGENT_YAML, ref, version=VERSION, insecure=True, env=env)
    agent = pull(ref, insecure=True, env=env)
    assert agent.yaml == AGENT_YAML
    assert agent.digest == digest


def basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(params=["basic", "bearer"])
def auth_registry(request: pytest.FixtureRequest) -> Registry:
    registry: Registry = request.getfixturevalue(
        f"{request.param}_registry" if request.param == "basic" else "token_registry"
    )
    return registry


def test_credentials_from_environment_variables(
    auth_registry: Registry, env: dict[str, str]
) -> None:
    env |= {"TRIOAGENT_REGISTRY_USERNAME": USER, "TRIOAGENT_REGISTRY_PASSWORD": PASSWORD}
    round_trip(auth_registry, env)


@pytest.mark.parametrize(
    "key", ["{host}", "https://{host}", "https://{host}/v1/"], ids=["host", "https-url", "v1-url"]
)
def test_credentials_from_docker_config_auth(
    auth_registry: Registry, env: dict[str, str], docker_config: WriteConfig, key: str
) -> None:
    docker_config(
        {
            "auths": {
                key.format(host=auth_registry.host): {"auth": basic(USER, PASSWORD)},
                "other.example.com": {"auth": basic("bob", "nope")},
            }
        }
    )
    round_trip(auth_registry, env)


def test_credentials_from_docker_config_username_and_password(
    auth_registry: Registry, env: dict[str, str], docker_config: WriteConfig
) -> None:
    docker_config({"auths": {auth_registry.host: {"username": USER, "password": PASSWORD}}})
    round_trip(auth_registry, env)


def test_credentials_from_a_credential_helper(
    auth_registry: Registry,
    env: dict[str, str],
    docker_config: WriteConfig,
    credential_helper: InstallHelper,
) -> None:
    log = credential_helper("fake", {auth_registry.host: (USER, PASSWORD)})
    docker_config(
        {
            "credHelpers": {auth_registry.host: "fake"},
            "auths": {auth_registry.host: {"auth": basic(USER, "stale")}},
        }
    )
    round_trip(auth_registry, env)
    assert f"get {auth_registry.host}" in log.read_text().splitlines()


def test_credentials_from_the_credentials_store(
    auth_registry: Registry,
    env: dict[str, str],
    docker_config: WriteConfig,
    credential_helper: InstallHelper,
) -> None:
    credential_helper("store", {auth_registry.host: (USER, PASSWORD)})
    docker_config({"credsStore": "store", "auths": {auth_registry.host: {}}})
    round_trip(auth_registry, env)


def test_environment_variables_win_over_the_docker_config(
    auth_registry: Registry, env: dict[str, str], docker_config: WriteConfig
) -> None:
    docker_config({"auths": {auth_registry.host: {"auth": basic(USER, "wrong")}}})
    env |= {"TRIOAGENT_REGISTRY_USERNAME": USER, "TRIOAGENT_REGISTRY_PASSWORD": PASSWORD}
    round_trip(auth_registry, env)


def test_without_credentials_the_error_says_what_to_set(
    auth_registry: Registry, env: dict[str, str]
) -> None:
    with pytest.raises(
        RegistryError,
        match=f"registry {auth_registry.host}.* needs credentials "
        r"to pull from team/pirate: set TRIOAGENT_REGISTRY_USERNAME and "
        rf"TRIOAGENT_REGISTRY_PASSWORD, or run 'docker login {auth_registry.host}'",
    ):
        pull(auth_registry.ref("team/pirate:1.0"), insecure=True, env=env)


def test_wrong_credentials_from_the_environment_are_named(
    auth_registry: Registry, env: dict[str, str]
) -> None:
    env |= {"TRIOAGENT_REGISTRY_USERNAME": USER, "TRIOAGENT_REGISTRY_PASSWORD": "wrong"}
    with pytest.raises(
        RegistryError,
        match="refused the credentials from "
        "TRIOAGENT_REGISTRY_USERNAME/TRIOAGENT_REGISTRY_PASSWORD to push to "
        "team/pirate",
    ):
        push(
            AGENT_YAML,
            auth_registry.ref("team/pirate:1.0"),
            version=VERSION,
            insecure=True,
            env=env,
        )


def test_wrong_credentials_from_the_docker_config_are_named(
    auth_registry: Registry, env: dict[str, str], docker_config: WriteConfig
) -> None:
    path = docker_config({"auths": {auth_registry.host: {"auth": basic(USER, "wrong")}}})
    with pytest.raises(RegistryError, match=f"refused the credentials from auths.* in {path}"):
        pull(auth_registry.ref("team/pirate:1.0"), insecure=True, env=env)


def test_a_missing_credential_helper_is_named(
    auth_registry: Registry, env: dict[str, str], docker_config: WriteConfig
) -> None:
    docker_config({"credHelpers": {auth_registry.host: "absent"}})
    with pytest.raises(
        RegistryError,
        match=r"credential helper docker-credential-absent .*"
        r"is not on PATH",
    ):
        pull(auth_registry.ref("team/pirate:1.0"), insecure=True, env=env)


def test_an_identity_token_is_exchanged_for_an_access_token(
    token_registry: Registry,
    token_server: TokenServer,
    env: dict[str, str],
    docker_config: WriteConfig,
) -> None:
    docker_config({"auths": {f"https://{token_registry.host}": {"identitytoken": REFRESH_TOKEN}}})
    round_trip(token_registry, env)
    assert {r["method"] for r in token_server.requests} == {"POST"}


def test_bearer_tokens_are_requested_once_per_scope_with_the_service(
    token_registry: Registry, token_server: TokenServer, env: dict[str, str]
) -> None:
    env |= {"TRIOAGENT_REGISTRY_USERNAME": USER, "TRIOAGENT_REGISTRY_PASSWORD": PASSWORD}
    round_trip(token_registry, env)

    # One push (HEAD, POST, PUT blobs, PUT manifest) and one pull: one token each.
    assert [(r["scope"], r["user"], r["service"]) for r in token_server.requests] == [
        (["repository:team/pirate:pull,push"], USER, [SERVICE]),
        (["repository:team/pirate:pull"], USER, [SERVICE]),
    ]
