"""A small synchronous client for the OCI distribution API (pull and push of one artifact).

Pulls run at startup, before the trio event loop, so this is plain ``httpx.Client``.

Authentication follows the registry's ``WWW-Authenticate`` challenge on a 401:
``Bearer realm=...,service=...`` -> a token from the realm for
``repository:<repo>:pull`` (or ``pull,push``), sent with Basic credentials when we
have some; ``Basic`` -> the credentials themselves. The resulting ``Authorization``
value is kept per (registry, scope) for the client's life. Credentials are looked up
only when a registry asks for them (:mod:`trioagent.oci.credentials`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from typing import TYPE_CHECKING, Final
from urllib.parse import urljoin

import attrs
import httpx

from trioagent.errors import RegistryError, RegistryUnreachable

from .artifact import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from .credentials import PASSWORD_VAR, USERNAME_VAR, Credentials, find_credentials
from .digest import sha256_digest
from .ref import DOCKER_HUB, DOCKER_HUB_API

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
"""Connect within 5 s; then each read or write may wait 30 s."""
MANIFEST_ACCEPT: Final = ", ".join([OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_MANIFEST_LIST])
_UNAVAILABLE: Final = frozenset({502, 503, 504})
_PARAM: Final = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


@attrs.frozen
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str
    """Lowercase: ``bearer`` or ``basic``."""
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``Bearer realm="...",service="...",scope="..."`` (or ``Basic realm=...``)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        m[1].lower(): (m[2].replace('\\"', '"') if m[2] is not None else m[3])
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme.lower(), params)


@attrs.define
class RegistryClient:
    """A connection to one registry, for pulls (``push=False``) or pushes.

    Use it as a context manager; it closes its HTTP connections on exit.
    """

    registry: str
    """The registry name, as in :class:`~trioagent.oci.ref.Reference`."""
    push: bool = False
    """Ask for ``pull,push`` access instead of ``pull``."""
    insecure: bool = False
    """Speak plain ``http://`` (a registry on loopback) instead of ``https://``."""
    env: Mapping[str, str] = attrs.field(factory=lambda: os.environ)
    _http: httpx.Client = attrs.field(init=False)
    _auth: dict[tuple[str, str], str] = attrs.field(init=False, factory=dict)
    _credentials: Credentials | None = attrs.field(init=False, default=None)
    _looked_up: bool = attrs.field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self._http = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": "trioagent"})

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    @property
    def base_url(self) -> str:
        host = DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry
        return f"{'http' if self.insecure else 'https'}://{host}"

    def get_manifest(self, repository: str, reference: str, *, limit: int) -> bytes:
        """The raw manifest for a tag or digest, checked against ``Docker-Content-Digest``.

        Raises:
            RegistryError: 404 (no such repository or tag), auth failures, a manifest
                over ``limit`` bytes; :class:`RegistryUnreachable` when unreachable.
        """
        url = f"/v2/{repository}/manifests/{reference}"
        shown = f"{self.registry}/{repository}{'@' if ':' in reference else ':'}{reference}"
        with self._stream("GET", url, repository, headers={"Accept": MANIFEST_ACCEPT}) as resp:
            if resp.status_code == 404:
                raise RegistryError(
                    f"no such agent: {self.registry}/{repository} has no tag or digest "
                    f"{reference!r} ({_error_text(resp)}); check the name and the tag"
                )
            self._check(resp, f"get manifest {shown}")
            data = _read_limited(resp, limit, f"manifest of {shown}")
        stated = resp.headers.get("Docker-Content-Digest", "")
        if stated.startswith("sha256:") and stated != sha256_digest(data):
            raise RegistryError(
                f"digest mismatch for the manifest of {shown}: "
                f"the registry says {stated}, the bytes are {sha256_digest(data)}; the data "
                "is corrupted or was tampered with"
            )
        return data

    def get_blob(self, repository: str, digest: str, *, limit: int) -> bytes:
        """A blob's bytes, following redirects to blob storage; not verified here."""
        url = f"/v2/{repository}/blobs/{digest}"
        with self._stream("GET", url, repository) as resp:
            if resp.status_code == 404:
                raise RegistryError(
                    f"{self.registry}/{repository}: blob {digest} is missing "
                    "from the registry; push the agent again"
                )
            self._check(resp, f"get blob {digest}")
            return _read_limited(resp, limit, f"blob {digest}")

    def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository already has this blob (so a push can skip it)."""
        resp = self._send("HEAD", f"/v2/{repository}/blobs/{digest}", repository)
        if resp.status_code == 404:
            return False
        self._check(resp, f"check blob {digest}")
        return True

    def upload_blob(self, repository: str, digest: str, data: bytes) -> None:
        """Upload a blob in one piece: ``POST`` an upload, then ``PUT`` the data."""
        resp = self._send("POST", f"/v2/{repository}/blobs/uploads/", repository)
        self._check(resp, "start a blob upload")
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(
                f"registry {self.registry} started an upload without a Location header"
            )
        # Location may be relative, and usually carries the upload state in its query.
        url = urljoin(str(resp.url), location)
        url += ("&" if "?" in url else "?") + "digest=" + digest.replace(":", "%3A")
        headers = {"Content-Type": "application/octet-stream"}
        resp = self._send("PUT", url, repository, headers=headers, content=data)
        self._check(resp, f"upload blob {digest}")

    def put_manifest(self, repository: str, tag: str, data: bytes, media_type: str) -> str | None:
        """Upload a manifest under ``tag``; returns the ``Docker-Content-Digest`` it gave."""
        resp = self._send(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            repository,
            headers={"Content-Type": media_type},
            content=data,
        )
        self._check(resp, f"put manifest {repository}:{tag}")
        digest: str | None = resp.headers.get("Docker-Content-Digest")
        return digest

    def _scope(self, repository: str) -> str:
        return f"repository:{repository}:{'pull,push' if self.push else 'pull'}"

    @contextlib.contextmanager
    def _stream(
        self, method: str, url: str, repository: str, *, headers: dict[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        resp = self._send(method, url, repository, headers=headers, stream=True)
        try:
            with self._transport_errors(url):
                yield resp
        finally:
            resp.close()

    def _send(
        self,
        method: str,
        url: str,
        repository: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request, answering one 401 challenge; transport errors are mapped."""
        scope = self._scope(repository)
        url = urljoin(self.base_url, url)
        for attempt in range(2):
            sent = dict(headers or {})
            if (auth := self._auth.get((self.registry, scope))) is not None:
                sent["Authorization"] = auth
            request = self._http.build_request(method, url, headers=sent, content=content)
            with self._transport_errors(url):
                resp = self._http.send(request, stream=stream, follow_redirects=True)
            if resp.status_code != 401:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.close()
            if attempt:
                break
            self._authenticate(challenge, scope)
        raise self._refused(scope)

    def _authenticate(self, header: str, scope: str) -> None:
        challenge = parse_challenge(header)
        if challenge is None:
            raise RegistryError(
                f"registry {self.registry} answered 401 without a WWW-Authenticate challenge"
            )
        creds = self._lookup_credentials()
        if challenge.scheme == "basic":
            if creds is None or not creds.password:
                raise self._refused(scope)
            pair = f"{creds.username}:{creds.password}".encode()
            value = "Basic " + base64.b64encode(pair).decode()
        elif challenge.scheme == "bearer":
            value = "Bearer " + self._fetch_token(challenge, scope, creds)
        else:
            raise RegistryError(
                f"registry {self.registry} asks for {challenge.scheme!r} "
                "authentication, which trioagent does not support"
            )
        self._auth[(self.registry, scope)] = value

    def _fetch_token(self, challenge: Challenge, scope: str, creds: Credentials | None) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.registry} sent a Bearer challenge without a realm")
        if creds is not None and realm.startswith("http:") and not self.insecure:
            raise RegistryError(
                f"registry {self.registry} sends logins to {realm}, over plain HTTP: "
                "refusing to send credentials there; pass --insecure if you trust it"
            )
        params = {"scope": scope}
        if "service" in challenge.params:
            params["service"] = challenge.params["service"]
        with self._transport_errors(realm):
            if creds is not None and creds.identity_token:  # OAuth2 refresh-token grant
                resp = self._http.post(
                    realm,
                    data={
                        **params,
                        "grant_type": "refresh_token",
                        "client_id": "trioagent",
                        "refresh_token": creds.identity_token,
                    },
                )
            else:
                auth = (creds.username, creds.password) if creds and creds.password else None
                resp = self._http.get(realm, params=params, auth=auth)
        if resp.status_code in (401, 403):
            raise self._refused(scope, token_service=realm)
        if resp.status_code in _UNAVAILABLE:
            raise RegistryUnreachable(
                f"the token service {realm} of registry "
                f"{self.registry} is unavailable ({resp.status_code})"
            )
        if resp.status_code != 200:
            raise RegistryError(
                f"the token service {realm} of registry {self.registry} answered {resp.status_code}"
            )
        try:
            answer = resp.json()
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"the token service {realm} of registry {self.registry} sent no token"
            )
        return token

    def _lookup_credentials(self) -> Credentials | None:
        if not self._looked_up:
            self._credentials = find_credentials(self.registry, self.env)
            self._looked_up = True
        return self._credentials

    def _refused(self, scope: str, *, token_service: str | None = None) -> RegistryError:
        action = "push to" if self.push else "pull from"
        creds = self._credentials
        login = f"docker login {self.registry}" if self.registry != DOCKER_HUB else "docker login"
        where = f" (token service {token_service})" if token_service else ""
        if creds is None:
            return RegistryError(
                f"registry {self.registry}{where} needs credentials to {action} "
                f"{scope.split(':')[1]}: set {USERNAME_VAR} and {PASSWORD_VAR}, or run "
                f"'{login}' (or the repository does not exist)"
            )
        return RegistryError(
            f"registry {self.registry}{where} refused the credentials from {creds.source} "
            f"to {action} {scope.split(':')[1]}: fix them ({USERNAME_VAR} and "
            f"{PASSWORD_VAR}, or '{login}'), or check that the account has access"
        )

    def _check(self, resp: httpx.Response, doing: str) -> None:
        status = resp.status_code
        if status < 400:
            return
        if status in _UNAVAILABLE:
            raise RegistryUnreachable(
                f"registry {self.registry} is unavailable ({status}) during {doing}"
            )
        if status == 403:
            raise RegistryError(
                f"registry {self.registry} denied access during {doing}: "
                f"{_error_text(resp)}; check that the account has access"
            )
        raise RegistryError(
            f"registry {self.registry} answered {status} to {doing}: {_error_text(resp)}"
        )

    @contextlib.contextmanager
    def _transport_errors(self, url: str) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            hint = "; check the address, and that the registry is running"
            if not self.insecure and url.startswith("https:"):
                hint += " (for a registry without TLS on this machine, pass --insecure)"
            if isinstance(exc, httpx.UnsupportedProtocol):
                raise RegistryError(f"registry {self.registry}: {url}: {exc}") from None
            reason = str(exc) or type(exc).__name__
            raise RegistryUnreachable(
                f"cannot reach registry {self.registry} at {url}: {reason}{hint}"
            ) from None


def _read_limited(resp: httpx.Response, limit: int, what: str) -> bytes:
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RegistryError(f"{what} is {declared} bytes, more than the {limit} allowed")
    chunks, size = [], 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise RegistryError(f"{what} is more than the {limit} bytes allowed")
        chunks.append(chunk)
    return b"".join(chunks)


def _error_text(resp: httpx.Response) -> str:
    """The registry's error messages (``{"errors": [{"code", "message"}]}``), briefly."""
    try:
        body = resp.content if resp.is_stream_consumed else _read_limited(resp, 65536, "")
        errors = json.loads(body).get("errors") or []
        text = "; ".join(
            f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
            for e in errors
            if isinstance(e, dict)
        )
    except (ValueError, AttributeError, RegistryError, httpx.HTTPError, httpx.StreamError):
        text = ""
    return text or f"HTTP {resp.status_code}"
