"""Push an agent file as an OCI artifact (docker-agent's layout, see ``artifact``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from trioagent.errors import RegistryError

from .artifact import AGENT_VERSION, CAGENT_VERSION, OCI_MANIFEST, agent_annotations, build_artifact
from .client import RegistryClient
from .ref import parse_reference

if TYPE_CHECKING:
    from collections.abc import Mapping


def push(
    yaml_text: str,
    ref: str,
    *,
    version: str,
    annotations: Mapping[str, str] | None = None,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
) -> str:
    """Push an agent file to a registry.

    Blobs the repository already has are not uploaded again.

    Args:
        yaml_text: the agent file, pushed as it is (UTF-8).
        ref: where to push; without a tag, ``latest``.
        version: the pushing tool's version, for the ``io.docker.agent.version`` and
            ``io.docker.cagent.version`` annotations.
        annotations: more manifest annotations (description, authors, licenses,
            revision); they replace the defaults of
            :func:`~trioagent.oci.artifact.agent_annotations`, except the versions.
        insecure: use plain ``http://`` (a registry on loopback).
        env: the environment for credentials; ``os.environ`` when ``None``.

    Returns:
        The manifest digest, ``sha256:<hex>``.

    Raises:
        RegistryError: the reference is invalid or has a digest, the registry
            refused or failed, or it stored the manifest under another digest.
    """
    reference = parse_reference(ref)
    if reference.digest:
        raise RegistryError(
            f"cannot push to {ref!r}: a digest names existing content; "
            "push to a tag (repository:tag) instead"
        )
    defaults = agent_annotations(version)
    notes = {
        **defaults,
        **(annotations or {}),
        AGENT_VERSION: defaults[AGENT_VERSION],
        CAGENT_VERSION: defaults[CAGENT_VERSION],
    }
    artifact = build_artifact(yaml_text.encode(), notes)
    repository, tag = reference.repository, reference.identifier
    with RegistryClient(
        reference.registry, push=True, insecure=insecure, env=os.environ if env is None else env
    ) as client:
        for digest, data in artifact.blobs:
            if not client.has_blob(repository, digest):
                client.upload_blob(repository, digest, data)
        stored = client.put_manifest(repository, tag, artifact.manifest, OCI_MANIFEST)
    if stored is not None and stored != artifact.digest:
        raise RegistryError(
            f"registry {reference.registry} stored the manifest of {reference} "
            f"as {stored}, but it is {artifact.digest}: the registry or a "
            "proxy changed it"
        )
    return artifact.digest
