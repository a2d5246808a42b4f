"""The agent artifact: build it for a push, check a pulled manifest, read its YAML layer.

The layout is docker-agent's (``pkg/oci/package.go``): go-containerregistry's empty
image with one ``application/yaml`` layer, an OCI manifest with
``artifactType: application/vnd.docker.agent.config.v1+json``, the config descriptor of
that media type, and ``io.docker.agent.version`` / ``io.docker.cagent.version``
annotations. The config blob is the image config go-containerregistry writes for that
image; docker-agent's pull needs it, because it finds the layer again through
``rootfs.diff_ids`` when it reads the artifact back from its content store.

On a pull we also accept what ``docker agent share push`` sends today: its content
store round-trip (a ``docker save`` tarball) turns the layer into a gzip-compressed
``application/vnd.docker.image.rootfs.diff.tar.gzip`` holding the YAML text.
"""

from __future__ import annotations

import datetime
import json
import zlib
from typing import TYPE_CHECKING, Any, Final

import attrs

from trioagent.errors import RegistryError

from .digest import check_digest, sha256_digest, verify_content

if TYPE_CHECKING:
    from collections.abc import Mapping

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
AGENT_CONFIG: Final = "application/vnd.docker.agent.config.v1+json"
"""The artifact type, and the media type of the config descriptor."""
YAML_LAYER: Final = "application/yaml"
GZIP_LAYERS: Final = frozenset(
    {
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    }
)
"""Layer types that hold the gzip-compressed YAML (docker-agent's pushes)."""

AGENT_VERSION: Final = "io.docker.agent.version"
CAGENT_VERSION: Final = "io.docker.cagent.version"
CREATED: Final = "org.opencontainers.image.created"
DESCRIPTION: Final = "org.opencontainers.image.description"
AUTHORS: Final = "org.opencontainers.image.authors"
LICENSES: Final = "org.opencontainers.image.licenses"
REVISION: Final = "org.opencontainers.image.revision"

MAX_MANIFEST_SIZE: Final = 4 * 1024 * 1024
"""The largest manifest we read (the distribution registry's own limit)."""
MAX_YAML_SIZE: Final = 16 * 1024 * 1024
"""The largest agent YAML layer we read, compressed or not."""


@attrs.frozen
class Descriptor:
    """A content descriptor: what a manifest says about one blob."""

    media_type: str
    digest: str
    size: int


@attrs.frozen(kw_only=True)
class Artifact:
    """An agent artifact ready to push."""

    manifest: bytes
    digest: str
    """The manifest's digest."""
    blobs: tuple[tuple[str, bytes], ...]
    """``(digest, data)`` of the config and the layer, in upload order."""


@attrs.frozen(kw_only=True)
class AgentManifest:
    """A pulled manifest that passed :func:`parse_agent_manifest`."""

    layer: Descriptor
    """The layer that holds the YAML."""
    annotations: dict[str, str]


def agent_annotations(version: str, *, now: datetime.datetime | None = None) -> dict[str, str]:
    """The annotations every agent artifact carries.

    Args:
        version: the pushing tool's version, for both version annotations.
        now: the creation time; the current time when ``None``.
    """
    created = (now or datetime.datetime.now().astimezone()).isoformat(timespec="seconds")
    return {
        AGENT_VERSION: version,
        CAGENT_VERSION: version,
        CREATED: created.replace("+00:00", "Z"),  # Go's time.RFC3339 spells UTC "Z"
        DESCRIPTION: "OCI artifact containing an agent",
    }


def build_artifact(yaml: bytes, annotations: Mapping[str, str]) -> Artifact:
    """Build the manifest and blobs of an agent artifact.

    Args:
        yaml: the agent file, pushed as it is.
        annotations: the manifest annotations (see :func:`agent_annotations`).
    """
    layer_digest = sha256_digest(yaml)
    config = _image_config(layer_digest)
    config_digest = sha256_digest(config)
    # docker-agent re-marshals the manifest through a Go map to add artifactType, so
    # its top-level keys come out sorted; descriptors keep go-containerregistry's order.
    manifest = _go_json(
        {
            "annotations": dict(sorted(annotations.items())),
            "artifactType": AGENT_CONFIG,
            "config": {"mediaType": AGENT_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [{"mediaType": YAML_LAYER, "size": len(yaml), "digest": layer_digest}],
            "mediaType": OCI_MANIFEST,
            "schemaVersion": 2,
        }
    )
    return Artifact(
        manifest=manifest,
        digest=sha256_digest(manifest),
        blobs=((config_digest, config), (layer_digest, yaml)),
    )


def parse_agent_manifest(data: bytes, *, shown: str) -> AgentManifest:
    """Check that a pulled manifest is an agent artifact, and find its YAML layer.

    docker-agent's rule: the manifest has an ``io.docker.agent.version`` or
    ``io.docker.cagent.version`` annotation; the YAML is the first layer.

    Args:
        data: the manifest bytes.
        shown: the reference, for messages.

    Raises:
        RegistryError: it is not an image manifest, or not an agent artifact.
    """
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{shown}: the registry sent a manifest that is not JSON") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{shown}: the registry sent a manifest that is not a JSON object")
    media_type = doc.get("mediaType")
    if media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST) or "manifests" in doc:
        raise RegistryError(
            f"{shown} is an image index (a multi-platform image), not an agent artifact"
        )
    if doc.get("schemaVersion") != 2 or media_type not in (OCI_MANIFEST, DOCKER_MANIFEST, None):
        raise RegistryError(
            f"{shown} is not an agent artifact: unsupported manifest type {media_type!r}"
        )
    annotations = doc.get("annotations") or {}
    if not isinstance(annotations, dict) or not (
        AGENT_VERSION in annotations or CAGENT_VERSION in annotations
    ):
        raise RegistryError(
            f"{shown} is not an agent artifact: its manifest has no {AGENT_VERSION} "
            "annotation; push the agent file with 'trioagent push' or "
            "'docker agent share push'"
        )
    layers = doc.get("layers")
    if not isinstance(layers, list) or not layers:
        raise RegistryError(f"{shown} is not an agent artifact: it has no layers")
    layer = _descriptor(layers[0], f"{shown}: layers[0]")
    if layer.media_type != YAML_LAYER and layer.media_type not in GZIP_LAYERS:
        raise RegistryError(
            f"{shown} is not an agent artifact: its layer has media type "
            f"{layer.media_type!r}, expected {YAML_LAYER!r}"
        )
    if layer.size > MAX_YAML_SIZE:
        raise RegistryError(
            f"{shown}: the agent layer is {layer.size} bytes, more than the "
            f"{MAX_YAML_SIZE} an agent file may have"
        )
    return AgentManifest(layer=layer, annotations={str(k): str(v) for k, v in annotations.items()})


def verify_blob(data: bytes, descriptor: Descriptor, *, what: str) -> None:
    """Check a blob against its descriptor's size and sha256 digest.

    Raises:
        RegistryError: the size or digest differs, or the digest is not sha256.
    """
    verify_content(data, digest=descriptor.digest, size=descriptor.size, what=what)


def layer_yaml(layer: Descriptor, data: bytes, *, shown: str) -> bytes:
    """The YAML text a verified layer holds: as is, or gunzipped (docker-agent's pushes).

    Raises:
        RegistryError: the gzip data is broken or inflates past :data:`MAX_YAML_SIZE`.
    """
    if layer.media_type == YAML_LAYER:
        return data
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        yaml = inflater.decompress(data, MAX_YAML_SIZE + 1)
    except zlib.error as exc:
        raise RegistryError(f"{shown}: the agent layer is not valid gzip data: {exc}") from None
    if len(yaml) > MAX_YAML_SIZE or inflater.unconsumed_tail:
        raise RegistryError(f"{shown}: the agent layer inflates past {MAX_YAML_SIZE} bytes")
    if not inflater.eof:
        raise RegistryError(f"{shown}: the agent layer's gzip data is truncated")
    return yaml


def _descriptor(value: Any, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise RegistryError(f"{where}: not a descriptor object")
    media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise RegistryError(f"{where}: the descriptor needs a mediaType and a digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{where}: the descriptor's size is not a byte count")
    return Descriptor(media_type, check_digest(digest, what=where), size)


def _image_config(diff_id: str) -> bytes:
    """The config go-containerregistry marshals for its empty image plus one layer.

    ``mutate.AppendLayers`` adds the layer's diff id and an empty history entry, and
    Go writes its zero ``time.Time`` for the ``created`` fields.
    """
    return _go_json(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {},
        }
    )


_GO_ESCAPES: Final = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _go_json(value: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (it escapes ``<``, ``>``, ``&``)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()
