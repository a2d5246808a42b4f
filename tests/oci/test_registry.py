"""Push and pull against a real registry: layout, digests, tampering, the offline cache."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import httpx
import pytest

from trioagent.errors import RegistryError, RegistryUnreachable
from trioagent.oci import pull, push
from trioagent.oci.artifact import build_artifact

from .conftest import AGENT_YAML, Registry

VERSION = "9.9.9-test"


def push_agent(
    registry: Registry, env: dict[str, str], name: str = "team/pirate:1.0", yaml: str = AGENT_YAML
) -> str:
    return push(yaml, registry.ref(name), version=VERSION, insecure=True, env=env)


def raw_manifest(registry: Registry, repository: str, reference: str) -> httpx.Response:
    return httpx.get(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )


def put_raw_artifact(
    registry: Registry, repository: str, tag: str, manifest: dict[str, object], blobs: list[bytes]
) -> None:
    """Push blobs and a hand-made manifest with plain httpx (another tool's push)."""
    for data in blobs:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{registry.url}/v2/{repository}/blobs/uploads/")
        location = httpx.URL(registry.url).join(start.headers["Location"])
        httpx.put(location.copy_add_param("digest", digest), content=data).raise_for_status()
    httpx.put(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        content=json.dumps(manifest),
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    ).raise_for_status()


def descriptor(media_type: str, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    return {"mediaType": media_type, "size": len(data), "digest": digest}


def test_push_then_pull_by_tag_and_by_digest(registry: Registry, env: dict[str, str]) -> None:
    digest = push_agent(registry, env)

    by_tag = pull(registry.ref("team/pirate:1.0"), insecure=True, env=env)
    by_digest = pull(registry.ref(f"team/pirate@{digest}"), insecure=True, env=env)

    assert by_tag.yaml == by_digest.yaml == AGENT_YAML
    assert by_tag.digest == by_digest.digest == digest
    assert by_tag.path.read_text() == AGENT_YAML
    assert by_tag.path.parent == Path(env["TRIOAGENT_CACHE_DIR"]) / "blobs" / "sha256"
    assert not by_tag.from_cache
    assert str(by_tag.reference) == f"{registry.host}/team/pirate:1.0"


def test_push_without_tag_means_latest(registry: Registry, env: dict[str, str]) -> None:
    digest = push_agent(registry, env, name="team/pirate")
    assert (
        raw_manifest(registry, "team/pirate", "latest").headers["Docker-Content-Digest"] == digest
    )
    assert pull(registry.ref("team/pirate:latest"), insecure=True, env=env).yaml == AGENT_YAML


def test_pushed_manifest_has_the_docker_agent_layout(
    registry: Registry, env: dict[str, str]
) -> None:
    digest = push(
        AGENT_YAML,
        registry.ref("team/pirate:1.0"),
        version=VERSION,
        insecure=True,
        env=env,
        annotations={"org.opencontainers.image.authors": "Alice"},
    )

    response = raw_manifest(registry, "team/pirate", "1.0")
    manifest = response.json()
    assert response.headers["Docker-Content-Digest"] == digest
    assert response.headers["Content-Type"] == "application/vnd.oci.image.manifest.v1+json"
    assert list(manifest) == [
        "annotations",
        "artifactType",
        "config",
        "layers",
        "mediaType",
        "schemaVersion",
    ]  # docker-agent re-marshals through a Go map
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["artifactType"] == "application/vnd.docker.agent.config.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.docker.agent.config.v1+json"
    [layer] = manifest["layers"]
    assert list(layer) == ["mediaType", "size", "digest"]
    assert layer["mediaType"] == "application/yaml"
    annotations = manifest["annotations"]
    assert annotations["io.docker.agent.version"] == VERSION
    assert annotations["io.docker.cagent.version"] == VERSION
    assert annotations["org.opencontainers.image.authors"] == "Alice"
    assert annotations["org.opencontainers.image.created"][:2] == "20"
    assert "org.opencontainers.image.description" in annotations

    blob = httpx.get(
        f"{registry.url}/v2/team/pirate/blobs/{layer['digest']}", follow_redirects=True
    )
    assert blob.content == AGENT_YAML.encode()  # uncompressed
    config = httpx.get(
        f"{registry.url}/v2/team/pirate/blobs/{manifest['config']['digest']}", follow_redirects=True
    ).json()
    assert config["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}


def test_pushing_twice_skips_existing_blobs_and_gives_the_same_layer(
    registry: Registry, env: dict[str, str]
) -> None:
    push_agent(registry, env, name="team/pirate:1.0")
    push_agent(registry, env, name="team/pirate:1.1")
    one = raw_manifest(registry, "team/pirate", "1.0").json()
    two = raw_manifest(registry, "team/pirate", "1.1").json()
    assert one["layers"] == two["layers"]
    assert one["config"] == two["config"]


def test_pull_of_a_missing_tag_says_so(registry: Registry, env: dict[str, str]) -> None:
    push_agent(registry, env)
    with pytest.raises(
        RegistryError,
        match=r"no such agent: .*team/pirate has no tag or "
        r"digest '2\.0'",
    ) as info:
        pull(registry.ref("team/pirate:2.0"), insecure=True, env=env)
    assert not isinstance(info.value, RegistryUnreachable)


def test_pull_of_a_missing_repository_says_so(registry: Registry, env: dict[str, str]) -> None:
    with pytest.raises(RegistryError, match="no such agent"):
        pull(registry.ref("nobody/here"), insecure=True, env=env)


def test_an_artifact_without_the_agent_annotation_is_refused(
    registry: Registry, env: dict[str, str]
) -> None:
    config, yaml = b"{}", AGENT_YAML.encode()
    put_raw_artifact(
        registry,
        "other/thing",
        "1",
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.empty.v1+json", config),
            "layers": [descriptor("application/yaml", yaml)],
            "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
        },
        [config, yaml],
    )

    with pytest.raises(
        RegistryError,
        match=r"not an agent artifact: its manifest has no "
        r"io\.docker\.agent\.version annotation",
    ):
        pull(registry.ref("other/thing:1"), insecure=True, env=env)
    assert not (Path(env["TRIOAGENT_CACHE_DIR"]) / "refs.json").exists()


def test_an_artifact_with_another_layer_type_is_refused(
    registry: Registry, env: dict[str, str]
) -> None:
    config, data = b"{}", b"\x00binary"
    put_raw_artifact(
        registry,
        "other/thing",
        "1",
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": descriptor("application/vnd.oci.empty.v1+json", config),
            "layers": [descriptor("application/octet-stream", data)],
            "annotations": {"io.docker.agent.version": "v1"},
        },
        [config, data],
    )

    with pytest.raises(
        RegistryError,
        match="its layer has media type 'application/octet-stream', expected 'application/yaml'",
    ):
        pull(registry.ref("other/thing:1"), insecure=True, env=env)


def test_a_docker_agent_push_with_a_gzip_layer_is_pulled(
    registry: Registry, env: dict[str, str]
) -> None:
    # What `docker agent share push` sends after its content store's tarball round trip.
    compressed = gzip.compress(AGENT_YAML.encode())
    config = build_artifact(AGENT_YAML.encode(), {}).blobs[0][1]
    put_raw_artifact(
        registry,
        "agentcatalog/pirate",
        "latest",
        {
            "annotations": {
                "io.docker.cagent.version": "v1.9.0",
                "io.docker.agent.version": "v1.9.0",
            },
            "artifactType": "application/vnd.docker.agent.config.v1+json",
            "config": descriptor("application/vnd.docker.container.image.v1+json", config),
            "layers": [descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", compressed)],
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "schemaVersion": 2,
        },
        [config, compressed],
    )

    agent = pull(registry.ref("agentcatalog/pirate"), insecure=True, env=env)

    assert agent.yaml == AGENT_YAML
    assert agent.path.read_text() == AGENT_YAML


def test_a_tampered_blob_in_the_registry_is_refused_and_not_cached(
    registry: Registry, env: dict[str, str]
) -> None:
    push_agent(registry, env)
    layer = raw_manifest(registry, "team/pirate", "1.0").json()["layers"][0]
    data = registry.blob_file(layer["digest"])
    original = data.read_bytes()
    data.write_bytes(original.replace(b"pirate", b"sailor"))  # same length, other bytes

    with pytest.raises(RegistryError, match=f"digest mismatch for layer {layer['digest']}"):
        pull(registry.ref("team/pirate:1.0"), insecure=True, env=env)

    cache = Path(env["TRIOAGENT_CACHE_DIR"])
    assert not (cache / "refs.json").exists()
    stored = [p.read_bytes() for p in cache.rglob("*") if p.is_file()]
    assert not any(b"sailor" in blob for blob in stored)


def test_pull_by_a_wrong_digest_is_refused(registry: Registry, env: dict[str, str]) -> None:
    push_agent(registry, env)
    wrong = "sha256:" + "0" * 64
    with pytest.raises(RegistryError, match="no such agent"):
        pull(registry.ref(f"team/pirate@{wrong}"), insecure=True, env=env)


def test_a_manifest_that_does_not_match_the_pulled_digest_is_refused(
    registry: Registry, env: dict[str, str]
) -> None:
    digest = push_agent(registry, env)
    # The registry keeps the manifest as a blob too: change it behind the registry's back.
    manifest = registry.blob_file(digest)
    manifest.write_bytes(manifest.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":2 '))

    with pytest.raises(RegistryError, match=f"digest mismatch for the manifest of .*@{digest}"):
        pull(registry.ref(f"team/pirate@{digest}"), insecure=True, env=env)


def test_offline_pull_uses_the_cache_and_warns(
    registry: Registry, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    digest = push_agent(registry, env)
    ref = registry.ref("team/pirate:1.0")
    pull(ref, insecure=True, env=env)
    registry.stop()

    with caplog.at_level(logging.WARNING, logger="trioagent.oci"):
        agent = pull(ref, insecure=True, env=env)

    assert agent.from_cache
    assert agent.yaml == AGENT_YAML
    assert agent.digest == digest
    [record] = [r for r in caplog.records if r.name.startswith("trioagent.oci")]
    assert record.levelno == logging.WARNING
    assert ref in record.getMessage()
    assert "cannot reach registry" in record.getMessage()


def test_offline_pull_by_digest_uses_the_cache(registry: Registry, env: dict[str, str]) -> None:
    digest = push_agent(registry, env)
    pull(registry.ref("team/pirate:1.0"), insecure=True, env=env)
    registry.stop()
    agent = pull(registry.ref(f"team/pirate@{digest}"), insecure=True, env=env)
    assert agent.from_cache
    assert agent.yaml == AGENT_YAML


def test_offline_pull_without_a_cached_copy_fails(registry: Registry, env: dict[str, str]) -> None:
    push_agent(registry, env)
    registry.stop()
    with pytest.raises(RegistryUnreachable, match=r"cannot reach registry .*; no cached copy of"):
        pull(registry.ref("team/pirate:1.0"), insecure=True, env=env)


def test_a_tampered_cache_file_is_refetched(registry: Registry, env: dict[str, str]) -> None:
    push_agent(registry, env)
    ref = registry.ref("team/pirate:1.0")
    first = pull(ref, insecure=True, env=env)
    first.path.write_text(AGENT_YAML.replace("pirate", "sailor"))

    again = pull(ref, insecure=True, env=env)

    assert again.yaml == AGENT_YAML
    assert again.path.read_text() == AGENT_YAML


def test_a_tampered_cache_file_is_not_used_offline(registry: Registry, env: dict[str, str]) -> None:
    push_agent(registry, env)
    ref = registry.ref("team/pirate:1.0")
    first = pull(ref, insecure=True, env=env)
    first.path.write_text(AGENT_YAML.replace("pirate", "sailor"))
    registry.stop()

    with pytest.raises(RegistryUnreachable, match="no cached copy"):
        pull(ref, insecure=True, env=env)
    assert not first.path.exists()  # removed, so it is fetched again next time


def test_push_to_a_digest_is_refused(registry: Registry, env: dict[str, str]) -> None:
    with pytest.raises(RegistryError, match="push to a tag"):
        push(
            AGENT_YAML,
            registry.ref("team/pirate@sha256:" + "a" * 64),
            version=VERSION,
            insecure=True,
            env=env,
        )


def test_tls_to_a_plain_http_registry_suggests_insecure(
    registry: Registry, env: dict[str, str]
) -> None:
    with pytest.raises(RegistryUnreachable, match="pass --insecure"):
        pull(registry.ref("team/pirate:1.0"), env=env)
