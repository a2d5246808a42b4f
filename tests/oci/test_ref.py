"""Image references: Docker Hub short names, registries with ports, digests, and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from trioagent.errors import RegistryError
from trioagent.oci import Reference, looks_like_reference, parse_reference

DIGEST = "sha256:" + "ab" * 32
HUB = "index.docker.io"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agentcatalog/pirate", Reference(HUB, "agentcatalog/pirate", "latest")),
        ("agentcatalog/pirate:1.2", Reference(HUB, "agentcatalog/pirate", "1.2")),
        ("alpine", Reference(HUB, "library/alpine", "latest")),
        ("docker.io/agentcatalog/pirate", Reference(HUB, "agentcatalog/pirate", "latest")),
        ("docker.io/alpine", Reference(HUB, "library/alpine", "latest")),
        ("index.docker.io/a/b:v1", Reference(HUB, "a/b", "v1")),
        ("localhost/team/agent", Reference("localhost", "team/agent", "latest")),
        ("localhost:5000/team/agent:1.2", Reference("localhost:5000", "team/agent", "1.2")),
        ("127.0.0.1:5000/x@" + DIGEST, Reference("127.0.0.1:5000", "x", None, DIGEST)),
        (
            "registry.example.com/team/agent:1.2",
            Reference("registry.example.com", "team/agent", "1.2"),
        ),
        (
            "registry.example.com/a/b/c:v1@" + DIGEST,
            Reference("registry.example.com", "a/b/c", "v1", DIGEST),
        ),
        (
            "ghcr.io/my-org/my_agent.v2__x:Tag_1.0-rc",
            Reference("ghcr.io", "my-org/my_agent.v2__x", "Tag_1.0-rc"),
        ),
        ("[::1]:5000/team/agent", Reference("[::1]:5000", "team/agent", "latest")),
    ],
    ids=[
        "hub-short",
        "hub-tag",
        "hub-library",
        "docker.io",
        "docker.io-library",
        "index",
        "localhost",
        "localhost-port",
        "ip-port-digest",
        "domain",
        "tag-and-digest",
        "separators",
        "ipv6",
    ],
)
def test_parse_reference(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "it is empty"),
        ("team/Agent", "repository 'team/Agent' must be lowercase"),
        ("Team/agent", "must be lowercase"),
        ("team//agent", "invalid repository component ''"),
        ("team/-agent", "invalid repository component '-agent'"),
        ("team/agent:", "invalid tag ''"),
        ("team/agent:.x", "invalid tag '.x'"),
        ("team/agent:" + "x" * 129, "invalid tag"),
        ("team/agent@sha256:abc", "invalid sha256 digest"),
        ("team/agent@sha512:" + "a" * 128, "digest algorithm 'sha512' is not supported"),
        ("team/agent@latest", "invalid digest 'latest'"),
        ("team/agent@sha256:" + "A" * 64, "64 lowercase hex digits"),
        ("bad_host.com:5000/x", "invalid registry host 'bad_host.com:5000'"),
        ("team agent", "whitespace"),
        ("registry.example.com/", "the repository name is missing"),
        ("example.com/" + "a" * 250, "longer than 255"),
    ],
    ids=[
        "empty",
        "upper-repo",
        "upper-first",
        "empty-component",
        "leading-dash",
        "empty-tag",
        "dot-tag",
        "long-tag",
        "short-digest",
        "sha512",
        "not-digest",
        "upper-digest",
        "bad-host",
        "space",
        "no-repo",
        "too-long",
    ],
)
def test_invalid_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(
        RegistryError, match=f"invalid reference '.*': .*{message}" if text else message
    ) as info:
        parse_reference(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "agentcatalog/pirate",
        "agentcatalog/pirate:1.2",
        "localhost:5000/team/agent:1.2",
        f"127.0.0.1:5000/x@{DIGEST}",
        "registry.example.com/a/b/c:v1@" + DIGEST,
    ],
)
def test_str_gives_a_canonical_reference_that_parses_back(text: str) -> None:
    reference = parse_reference(text)
    assert parse_reference(str(reference)) == reference


def test_str_of_a_hub_reference_is_spelled_in_full() -> None:
    hub = parse_reference("agentcatalog/pirate")
    assert str(hub) == "index.docker.io/agentcatalog/pirate:latest"
    assert parse_reference("agentcatalog/pirate").api_host == "registry-1.docker.io"
    assert parse_reference("localhost:5000/a").api_host == "localhost:5000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("agentcatalog/pirate", True),
        ("localhost:5000/team/agent:1.2", True),
        (f"x/y@{DIGEST}", True),
        ("agent.yaml", False),
        ("agents/pirate.yaml", False),
        ("agents/pirate.YML", False),
        ("pirate", False),
        ("/dev/fd/3", False),
        ("team/Agent", False),
        ("./team", False),
    ],
    ids=[
        "hub",
        "registry",
        "digest",
        "yaml-file",
        "yaml-path",
        "yml-upper",
        "no-slash",
        "fd",
        "invalid",
        "dot-slash",
    ],
)
def test_looks_like_reference(text: str, expected: bool) -> None:
    assert looks_like_reference(text) is expected


def test_an_existing_local_path_is_not_a_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "pirate").write_text("agents: {}\n")
    assert not looks_like_reference("team/pirate")
    assert looks_like_reference("team/parrot")
