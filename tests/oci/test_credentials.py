"""Where registry credentials come from (without a registry; see test_auth for the real thing)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trioagent.errors import RegistryError
from trioagent.oci import Credentials, find_credentials

WriteConfig = Callable[[dict[str, Any]], Path]
InstallHelper = Callable[[str, dict[str, tuple[str, str]]], Path]


def auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_no_config_means_no_credentials(env: dict[str, str]) -> None:
    assert find_credentials("registry.example.com", env) is None


def test_environment_variables_apply_to_every_registry(env: dict[str, str]) -> None:
    env |= {"TRIOAGENT_REGISTRY_USERNAME": "u", "TRIOAGENT_REGISTRY_PASSWORD": "p:w"}
    found = find_credentials("registry.example.com", env)
    assert found is not None
    assert (found.username, found.password) == ("u", "p:w")


@pytest.mark.parametrize("missing", ["TRIOAGENT_REGISTRY_USERNAME", "TRIOAGENT_REGISTRY_PASSWORD"])
def test_one_variable_without_the_other_is_an_error(env: dict[str, str], missing: str) -> None:
    env |= {"TRIOAGENT_REGISTRY_USERNAME": "u", "TRIOAGENT_REGISTRY_PASSWORD": "p"}
    del env[missing]
    with pytest.raises(RegistryError, match=f"{missing} is not set"):
        find_credentials("registry.example.com", env)


def test_the_default_config_is_in_home(env: dict[str, str]) -> None:
    del env["DOCKER_CONFIG"]
    config = Path(env["HOME"]) / ".docker" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text('{"auths": {"r.example.com": {"username": "u", "password": "p"}}}')
    assert find_credentials("r.example.com", env) == Credentials(
        "u", "p", source=f"auths['r.example.com'] in {config}"
    )


@pytest.mark.parametrize("key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io"])
def test_docker_hub_credentials(env: dict[str, str], docker_config: WriteConfig, key: str) -> None:
    docker_config({"auths": {key: auth("hubuser", "hubpass")}})
    found = find_credentials("index.docker.io", env)
    assert found is not None
    assert (found.username, found.password) == ("hubuser", "hubpass")


def test_an_identity_token(env: dict[str, str], docker_config: WriteConfig) -> None:
    docker_config({"auths": {"r.example.com": {"identitytoken": "refresh"}}})
    found = find_credentials("r.example.com", env)
    assert found is not None
    assert found.identity_token == "refresh"
    assert "refresh" not in repr(found)


def test_other_registries_do_not_match(env: dict[str, str], docker_config: WriteConfig) -> None:
    docker_config(
        {
            "auths": {
                "r.example.com:5000": auth("u", "p"),
                "https://index.docker.io/v1/": auth("u", "p"),
            }
        }
    )
    assert find_credentials("r.example.com", env) is None


def test_a_bad_auth_entry_is_an_error(env: dict[str, str], docker_config: WriteConfig) -> None:
    docker_config({"auths": {"r.example.com": {"auth": "!!!"}}})
    with pytest.raises(RegistryError, match="'auth' is not base64 of user:password"):
        find_credentials("r.example.com", env)


def test_a_config_that_is_not_json_is_an_error(
    env: dict[str, str], docker_config: WriteConfig
) -> None:
    path = docker_config({})
    path.write_text("{")
    with pytest.raises(RegistryError, match=f"{path} is not valid JSON"):
        find_credentials("r.example.com", env)


def test_the_hub_helper_is_asked_with_the_hub_server_url(
    env: dict[str, str], docker_config: WriteConfig, credential_helper: InstallHelper
) -> None:
    log = credential_helper("desk", {"https://index.docker.io/v1/": ("hubuser", "tok")})
    docker_config({"credsStore": "desk"})
    found = find_credentials("index.docker.io", env)
    assert found is not None
    assert (found.username, found.password) == ("hubuser", "tok")
    assert "docker-credential-desk (credsStore in" in found.source
    assert log.read_text() == "get https://index.docker.io/v1/\n"


def test_a_helper_identity_token(
    env: dict[str, str], docker_config: WriteConfig, credential_helper: InstallHelper
) -> None:
    credential_helper("desk", {"r.example.com": ("<token>", "refresh")})
    docker_config({"credHelpers": {"r.example.com": "desk"}})
    found = find_credentials("r.example.com", env)
    assert found is not None
    assert (found.username, found.password, found.identity_token) == ("", "", "refresh")


def test_a_store_without_the_entry_falls_back_to_auths(
    env: dict[str, str], docker_config: WriteConfig, credential_helper: InstallHelper
) -> None:
    credential_helper("desk", {})
    docker_config({"credsStore": "desk", "auths": {"r.example.com": auth("u", "p")}})
    found = find_credentials("r.example.com", env)
    assert found is not None
    assert found.username == "u"
    assert found.source.startswith("auths[")
