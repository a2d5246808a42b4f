"""Registry credentials: from the environment, else from Docker's ``config.json``.

Looked up in this order, the first hit wins:

1. ``TRIOAGENT_REGISTRY_USERNAME`` and ``TRIOAGENT_REGISTRY_PASSWORD`` (any registry);
2. ``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``), as ``docker
   login`` writes it: ``credHelpers[<registry>]``, then ``credsStore``, then
   ``auths[<registry>]`` (``auth`` = base64 ``user:password``, or ``username`` and
   ``password``, or ``identitytoken``). Keys may be ``host``, ``https://host`` or
   ``https://host/v1/``; Docker Hub's is ``https://index.docker.io/v1/``.

A credential helper is the program ``docker-credential-<name>``: ``get`` reads the
server URL on stdin and prints ``{"Username": ..., "Secret": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from trioagent.errors import RegistryError

from .ref import DOCKER_HUB, DOCKER_HUB_API

if TYPE_CHECKING:
    from collections.abc import Mapping

USERNAME_VAR: Final = "TRIOAGENT_REGISTRY_USERNAME"
PASSWORD_VAR: Final = "TRIOAGENT_REGISTRY_PASSWORD"
DOCKER_HUB_KEY: Final = "https://index.docker.io/v1/"
"""The key Docker Hub's credentials have in ``config.json`` and credential stores."""
_HUB_HOSTS: Final = frozenset({DOCKER_HUB, DOCKER_HUB_API, "docker.io"})
_HELPER_TIMEOUT: Final = 30.0


@attrs.frozen
class Credentials:
    """What to log in to a registry with; ``source`` says where it came from."""

    username: str = ""
    password: str = attrs.field(default="", repr=False)
    identity_token: str = attrs.field(default="", repr=False)
    """An OAuth2 refresh token (``docker login`` with single sign-on)."""
    source: str = ""


def find_credentials(registry: str, env: Mapping[str, str]) -> Credentials | None:
    """The credentials for ``registry``, or ``None`` when none are configured.

    Args:
        registry: the registry name, as in :class:`~trioagent.oci.ref.Reference`.
        env: the environment (for the variables, ``DOCKER_CONFIG``, ``HOME``, ``PATH``).

    Raises:
        RegistryError: only one of the two variables is set, ``config.json`` is not
            valid JSON, or a credential helper is missing or fails.
    """
    username, password = env.get(USERNAME_VAR, ""), env.get(PASSWORD_VAR, "")
    if username or password:
        if not (username and password):
            missing = PASSWORD_VAR if username else USERNAME_VAR
            raise RegistryError(
                f"{missing} is not set: set both {USERNAME_VAR} and {PASSWORD_VAR}, or neither"
            )
        return Credentials(username, password, source=f"{USERNAME_VAR}/{PASSWORD_VAR}")
    path = docker_config_path(env)
    config = _read_config(path)
    if config is None:
        return None
    hosts = _HUB_HOSTS if registry in _HUB_HOSTS else {registry}
    helpers = config.get("credHelpers")
    for key, helper in helpers.items() if isinstance(helpers, dict) else ():
        if _host_of(key) in hosts and isinstance(helper, str):
            return _from_helper(helper, key, env, f"credHelpers in {path}")
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        server = DOCKER_HUB_KEY if registry in _HUB_HOSTS else registry
        found = _from_helper(store, server, env, f"credsStore in {path}")
        if found is not None:
            return found
    auths = config.get("auths")
    for key, entry in auths.items() if isinstance(auths, dict) else ():
        if _host_of(key) in hosts and isinstance(entry, dict):
            found = _from_auth_entry(entry, f"auths[{key!r}] in {path}")
            if found is not None:
                return found
    return None


def docker_config_path(env: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    home = Path(env["HOME"]) if env.get("HOME") else Path.home()
    return home / ".docker" / "config.json"


def _read_config(path: Path) -> dict[str, Any] | None:
    try:
        config = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise RegistryError(f"{path} is not valid JSON ({exc}): fix or remove it") from None
    if not isinstance(config, dict):
        raise RegistryError(f"{path} is not a JSON object: fix or remove it")
    return config


def _host_of(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000`` (how Docker matches legacy keys)."""
    return key.partition("://")[2].partition("/")[0] if "://" in key else key.partition("/")[0]


def _from_auth_entry(entry: dict[str, Any], source: str) -> Credentials | None:
    auth, token = entry.get("auth"), entry.get("identitytoken")
    username, password = entry.get("username") or "", entry.get("password") or ""
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise RegistryError(f"{source}: 'auth' is not base64 of user:password") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise RegistryError(f"{source}: 'auth' is not base64 of user:password")
    if isinstance(token, str) and token:
        return Credentials(str(username), identity_token=token, source=source)
    if username and password:
        return Credentials(str(username), str(password), source=source)
    return None


def _from_helper(
    name: str, server: str, env: Mapping[str, str], configured: str
) -> Credentials | None:
    program = f"docker-credential-{name}"
    executable = shutil.which(program, path=env.get("PATH", os.defpath))
    if executable is None:
        raise RegistryError(
            f"credential helper {program} ({configured}) is not on PATH: "
            "install it, or remove it from the Docker config"
        )
    try:
        done = subprocess.run(
            [executable, "get"],
            input=server,
            capture_output=True,
            text=True,
            env=dict(env),
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper {program} failed: {exc}") from None
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        if "credentials not found" in output.lower():
            return None
        raise RegistryError(
            f"credential helper {program} failed for {server}: "
            f"{output or f'exit status {done.returncode}'}"
        )
    try:
        answer = json.loads(done.stdout)
        username, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise RegistryError(
            f'credential helper {program} did not print {{"Username": ..., "Secret": ...}}'
        ) from None
    source = f"{program} ({configured})"
    if username == "<token>":  # Docker's marker for an identity token
        return Credentials(identity_token=secret, source=source)
    return Credentials(username, secret, source=source)
