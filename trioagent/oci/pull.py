"""Pull an agent artifact: resolve the reference, verify, cache, fall back to the cache offline."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import attrs

from trioagent.errors import RegistryError, RegistryUnreachable

from .artifact import (
    MAX_MANIFEST_SIZE,
    AgentManifest,
    layer_yaml,
    parse_agent_manifest,
    verify_blob,
)
from .cache import Cache, default_cache_dir
from .client import RegistryClient
from .digest import sha256_digest
from .ref import Reference, looks_like_reference, parse_reference

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

logger = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class PulledAgent:
    """An agent file pulled from a registry (or, offline, from the cache)."""

    reference: Reference
    digest: str
    """The manifest digest."""
    yaml: str
    """The agent file's text."""
    path: Path
    """The cached file that holds that text, in UTF-8."""
    from_cache: bool
    """True when the registry could not be reached and the cached copy was used."""


def pull(
    ref: str,
    *,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
) -> PulledAgent:
    """Pull an agent artifact and keep it in the cache.

    Blobs already in the cache are used when they verify. When the registry cannot be
    reached (connection error, timeout, 502/503/504) and the cache has this reference,
    the cached copy is returned with ``from_cache=True`` and a warning is logged.

    Args:
        ref: the reference, for example ``agentcatalog/pirate`` or
            ``127.0.0.1:5000/team/agent@sha256:...``.
        insecure: use plain ``http://`` (a registry on loopback).
        env: the environment for credentials and the cache location; ``os.environ``
            when ``None``.
        cache_dir: the cache root; see :func:`~trioagent.oci.cache.default_cache_dir`.

    Returns:
        The agent's YAML text, manifest digest and cached file.

    Raises:
        RegistryError: the reference is invalid, the registry refused or failed with
            no cached copy to fall back on, the artifact is not an agent, or a digest
            did not match.
    """
    env = os.environ if env is None else env
    reference = parse_reference(ref)
    cache = Cache(cache_dir or default_cache_dir(env))
    shown = str(reference)
    try:
        with RegistryClient(reference.registry, insecure=insecure, env=env) as client:
            manifest_bytes = client.get_manifest(
                reference.repository, reference.identifier, limit=MAX_MANIFEST_SIZE
            )
            digest = sha256_digest(manifest_bytes)
            if reference.digest and digest != reference.digest:
                raise RegistryError(
                    f"digest mismatch for {shown}: the registry sent a manifest with "
                    f"digest {digest}; it was corrupted or tampered with"
                )
            manifest = parse_agent_manifest(manifest_bytes, shown=shown)
            layer = manifest.layer
            data = cache.read_blob(layer.digest, size=layer.size)
            if data is None:
                data = client.get_blob(reference.repository, layer.digest, limit=layer.size + 1)
                verify_blob(data, layer, what=f"layer {layer.digest} of {shown}")
    except RegistryUnreachable as exc:
        cached = _from_cache(cache, reference)
        if cached is None:
            raise RegistryUnreachable(f"{exc}; no cached copy of {shown} to use") from None
        logger.warning(
            "registry unreachable, using the cached copy of %s (%s): %s", shown, cached.digest, exc
        )
        return cached
    yaml, path = _store(cache, manifest, data, shown)
    cache.write_blob(manifest_bytes)
    cache.remember(shown, digest)
    return PulledAgent(reference=reference, digest=digest, yaml=yaml, path=path, from_cache=False)


def _store(cache: Cache, manifest: AgentManifest, data: bytes, shown: str) -> tuple[str, Path]:
    """Cache a verified layer and return its YAML text and the file holding that text."""
    yaml = layer_yaml(manifest.layer, data, shown=shown)
    try:
        text = yaml.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RegistryError(f"{shown}: the agent file is not UTF-8 text") from None
    path = cache.write_blob(data)
    return text, (path if yaml is data else cache.write_blob(yaml))


def _from_cache(cache: Cache, reference: Reference) -> PulledAgent | None:
    """The cached copy of ``reference``, if every blob of it is present and verifies."""
    shown = str(reference)
    digest = reference.digest or cache.lookup(shown)
    if digest is None:
        return None
    manifest_bytes = cache.read_blob(digest)
    if manifest_bytes is None:
        return None
    try:
        manifest = parse_agent_manifest(manifest_bytes, shown=shown)
        layer = manifest.layer
        data = cache.read_blob(layer.digest, size=layer.size)
        if data is None:
            return None
        yaml, path = _store(cache, manifest, data, shown)
    except RegistryError as exc:
        logger.warning("ignoring the cached copy of %s: %s", shown, exc)
        return None
    return PulledAgent(reference=reference, digest=digest, yaml=yaml, path=path, from_cache=True)


def agent_fetcher(
    *,
    insecure: bool = False,
    env: Mapping[str, str] | None = None,
) -> Callable[[str], str | None]:
    """The ``fetch`` with which ``trioagent.config.load_agent_file`` pulls agents by reference.

    Args:
        insecure, env: as for :func:`pull`.

    Returns:
        A function of a source: ``None`` when it does not look like a registry reference
        (see :func:`~trioagent.oci.ref.looks_like_reference`; the loader then reads it as
        a file), else the YAML text :func:`pull` gets, which raises ``RegistryError``.
    """

    def fetch(source: str) -> str | None:
        if not looks_like_reference(source):
            return None
        return pull(source, insecure=insecure, env=env).yaml

    return fetch
