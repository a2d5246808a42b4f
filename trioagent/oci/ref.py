"""Image references: ``[registry/]repository[:tag][@digest]``, with Docker Hub's short names.

    parse_reference("agentcatalog/pirate")
    # Reference(registry='index.docker.io', repository='agentcatalog/pirate', tag='latest')
    parse_reference("localhost:5000/team/agent:1.2")
    parse_reference("127.0.0.1:5000/x@sha256:...")

The grammar is the distribution spec's (``distribution/reference``): lowercase path
components joined by ``.``, ``_``, ``__`` or dashes; tags of up to 128 word characters,
dots and dashes; sha256 digests.
"""

from __future__ import annotations

import os
import re
from typing import Final

import attrs

from trioagent.errors import RegistryError

from .digest import check_digest

DOCKER_HUB: Final = "index.docker.io"
"""The registry name of Docker Hub, as references and credential stores spell it."""
DOCKER_HUB_API: Final = "registry-1.docker.io"
"""The host that serves Docker Hub's registry API."""
DEFAULT_TAG: Final = "latest"

_DOMAIN: Final = re.compile(
    r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*"
    r"|\[[0-9a-fA-F:]+\])"
    r"(?::[0-9]+)?"
)
_PATH_COMPONENT: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG: Final = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_NAME_MAX: Final = 255


@attrs.frozen
class Reference:
    """A parsed image reference; ``str()`` gives its canonical form.

    A reference has a tag, a digest, or both (the digest then decides what is pulled).
    """

    registry: str
    """The registry host, with its port if any; ``index.docker.io`` for Docker Hub."""
    repository: str
    """The repository path, for example ``agentcatalog/pirate`` or ``library/alpine``."""
    tag: str | None = None
    digest: str | None = None
    """A ``sha256:<hex>`` manifest digest."""

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.registry}/{self.repository}{tag}{digest}"

    @property
    def identifier(self) -> str:
        """What the registry resolves: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host that serves this registry's API (Docker Hub's differs from its name)."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry


def parse_reference(text: str) -> Reference:
    """Parse an image reference, applying Docker Hub's defaults.

    A first path component is a registry when it contains ``.`` or ``:`` or is
    ``localhost``; otherwise the registry is Docker Hub, and a one-component name gets
    the ``library/`` prefix. Without a tag or digest the tag is ``latest``.

    Raises:
        RegistryError: ``text`` is not a valid reference; the message says which part
            is wrong.
    """
    where = f"invalid reference {text!r}"
    if not text:
        raise RegistryError("invalid reference '': it is empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise RegistryError(f"{where}: it contains whitespace")
    name, at, digest = text.partition("@")
    if at:
        check_digest(digest, what=where)
    tag = None
    colon, slash = name.rfind(":"), name.rfind("/")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise RegistryError(
                f"{where}: invalid tag {tag!r}: use up to 128 letters, digits, '_', '.' "
                "and '-', not starting with '.' or '-'"
            )
    first, has_slash, rest = name.partition("/")
    if has_slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
        if not _DOMAIN.fullmatch(registry):
            raise RegistryError(f"{where}: invalid registry host {registry!r}")
        if registry == "docker.io":
            registry = DOCKER_HUB
    else:
        registry, repository = DOCKER_HUB, name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    _check_repository(repository, where)
    if len(registry) + 1 + len(repository) > _NAME_MAX:
        raise RegistryError(f"{where}: the name is longer than {_NAME_MAX} characters")
    if tag is None and not at:
        tag = DEFAULT_TAG
    return Reference(registry, repository, tag, digest if at else None)


def _check_repository(repository: str, where: str) -> None:
    if not repository:
        raise RegistryError(f"{where}: the repository name is missing")
    if repository != repository.lower():
        raise RegistryError(f"{where}: repository {repository!r} must be lowercase")
    for component in repository.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise RegistryError(
                f"{where}: invalid repository component {component!r}: use lowercase "
                "letters and digits, separated by '.', '_', '__' or '-'"
            )


def looks_like_reference(text: str) -> bool:
    """Whether ``text`` names an agent in a registry rather than a local file.

    docker-agent's rule: not an existing path, not a ``.yaml``/``.yml`` name or
    ``/dev/fd/`` descriptor, contains a ``/``, and parses as a reference.
    """
    if "/" not in text or text.lower().endswith((".yaml", ".yml")):
        return False
    if text.startswith("/dev/fd/") or os.path.exists(text):
        return False
    try:
        parse_reference(text)
    except RegistryError:
        return False
    return True
