"""The artifact format: what a push builds, what a pull accepts, how blobs are verified."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json

import pytest

from trioagent.errors import RegistryError
from trioagent.oci.artifact import (
    MAX_YAML_SIZE,
    Descriptor,
    agent_annotations,
    build_artifact,
    layer_yaml,
    parse_agent_manifest,
    verify_blob,
)

YAML = b"agents:\n  root:\n    model: openai/gpt-4o\n"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_config_blob_is_what_go_containerregistry_writes() -> None:
    artifact = build_artifact(YAML, {})
    (config_digest, config), (layer_digest, layer) = artifact.blobs
    assert layer == YAML
    assert layer_digest == sha(YAML)
    assert (
        config
        == (
            '{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":'
            '"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["'
            + sha(YAML)
            + '"]},"config":{}}'
        ).encode()
    )
    assert config_digest == sha(config)


def test_the_manifest_is_compact_json_with_sorted_keys_as_docker_agent_writes() -> None:
    annotations = {
        "io.docker.agent.version": "v1",
        "io.docker.cagent.version": "v1",
        "org.opencontainers.image.authors": "Alice <alice@example.com> & Bob",
    }
    artifact = build_artifact(YAML, annotations)
    config_digest, config = artifact.blobs[0]
    assert artifact.manifest.decode() == (
        '{"annotations":{"io.docker.agent.version":"v1","io.docker.cagent.version":"v1",'
        '"org.opencontainers.image.authors":"Alice \\u003calice@example.com\\u003e \\u0026 Bob"},'
        '"artifactType":"application/vnd.docker.agent.config.v1+json",'
        '"config":{"mediaType":"application/vnd.docker.agent.config.v1+json",'
        f'"size":{len(config)},"digest":"{config_digest}"}},'
        f'"layers":[{{"mediaType":"application/yaml","size":{len(YAML)},"digest":"{sha(YAML)}"}}],'
        '"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}'
    )
    assert artifact.digest == sha(artifact.manifest)
    assert json.loads(artifact.manifest)["annotations"] == annotations


def test_agent_annotations_carry_both_versions_and_an_rfc3339_time() -> None:
    now = datetime.datetime(2026, 3, 1, 12, 30, 5, 999, tzinfo=datetime.UTC)
    notes = agent_annotations("0.1.0", now=now)
    assert notes["io.docker.agent.version"] == notes["io.docker.cagent.version"] == "0.1.0"
    assert notes["org.opencontainers.image.created"] == "2026-03-01T12:30:05Z"
    assert notes["org.opencontainers.image.description"]
    offset = datetime.timezone(datetime.timedelta(hours=2))
    created = agent_annotations("0.1.0", now=now.astimezone(offset))
    assert created["org.opencontainers.image.created"] == "2026-03-01T14:30:05+02:00"


def manifest(**changes: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.docker.agent.config.v1+json",
            "size": 2,
            "digest": sha(b"{}"),
        },
        "layers": [{"mediaType": "application/yaml", "size": len(YAML), "digest": sha(YAML)}],
        "annotations": {"io.docker.agent.version": "v1"},
    }
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_our_own_manifest_parses() -> None:
    artifact = build_artifact(YAML, {"io.docker.agent.version": "v1"})
    parsed = parse_agent_manifest(artifact.manifest, shown="x")
    assert parsed.layer == Descriptor("application/yaml", sha(YAML), len(YAML))


@pytest.mark.parametrize(
    "annotations",
    [{"io.docker.agent.version": "v1"}, {"io.docker.cagent.version": "v1"}],
    ids=["agent", "cagent"],
)
def test_either_version_annotation_marks_an_agent(annotations: dict[str, str]) -> None:
    parse_agent_manifest(manifest(annotations=annotations), shown="x")


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    ],
    ids=["docker", "oci"],
)
def test_a_gzip_layer_is_accepted_and_inflated(media_type: str) -> None:
    compressed = gzip.compress(YAML)
    layer = Descriptor(media_type, sha(compressed), len(compressed))
    parsed = parse_agent_manifest(
        manifest(
            layers=[{"mediaType": media_type, "size": len(compressed), "digest": sha(compressed)}]
        ),
        shown="x",
    )
    assert parsed.layer == layer
    assert layer_yaml(layer, compressed, shown="x") == YAML


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (manifest(annotations=None), "has no io.docker.agent.version annotation"),
        (
            manifest(annotations={"org.opencontainers.image.title": "x"}),
            "has no io.docker.agent.version annotation",
        ),
        (manifest(layers=[]), "it has no layers"),
        (
            manifest(layers=[{"mediaType": "text/plain", "size": 1, "digest": sha(b"x")}]),
            "its layer has media type 'text/plain', expected 'application/yaml'",
        ),
        (
            manifest(
                layers=[
                    {"mediaType": "application/yaml", "size": 1, "digest": "sha512:" + "a" * 128}
                ]
            ),
            "digest algorithm 'sha512' is not supported",
        ),
        (
            manifest(layers=[{"mediaType": "application/yaml", "size": -1, "digest": sha(b"")}]),
            "size is not a byte count",
        ),
        (
            manifest(
                layers=[
                    {"mediaType": "application/yaml", "size": MAX_YAML_SIZE + 1, "digest": sha(b"")}
                ]
            ),
            "more than",
        ),
        (
            manifest(mediaType="application/vnd.oci.image.index.v1+json", manifests=[]),
            "image index",
        ),
        (manifest(schemaVersion=1), "unsupported manifest type"),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-annotations",
        "other-annotations",
        "no-layers",
        "text-layer",
        "sha512",
        "negative-size",
        "too-big",
        "index",
        "schema1",
    ],
)
def test_what_is_not_an_agent_artifact_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(RegistryError, match=r"^example/agent:1") as info:
        parse_agent_manifest(data, shown="example/agent:1")
    assert message in str(info.value)


def test_verify_blob_checks_size_and_digest() -> None:
    descriptor = Descriptor("application/yaml", sha(YAML), len(YAML))
    verify_blob(YAML, descriptor, what="layer")
    with pytest.raises(RegistryError, match=r"size mismatch for layer: expected \d+ bytes"):
        verify_blob(YAML + b"\n", descriptor, what="layer")
    with pytest.raises(RegistryError, match=f"digest mismatch for layer: expected {sha(YAML)}"):
        verify_blob(YAML.upper(), descriptor, what="layer")
    with pytest.raises(RegistryError, match="only sha256"):
        verify_blob(
            YAML, Descriptor("application/yaml", "sha512:" + "a" * 128, len(YAML)), what="layer"
        )


def test_a_broken_or_huge_gzip_layer_is_refused() -> None:
    layer = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", sha(b""), 0)
    with pytest.raises(RegistryError, match="not valid gzip"):
        layer_yaml(layer, b"not gzip at all", shown="x")
    with pytest.raises(RegistryError, match="truncated"):
        layer_yaml(layer, gzip.compress(YAML)[:-12], shown="x")
    bomb = gzip.compress(b"\0" * (MAX_YAML_SIZE + 10))
    with pytest.raises(RegistryError, match="inflates past"):
        layer_yaml(layer, bomb, shown="x")
