"""Protocol corners a real registry 2.8 does not show: a scripted registry over real
sockets answers relative upload Locations, wrong digests, 503s and bare 401s."""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest

from trioagent.errors import RegistryError, RegistryUnreachable
from trioagent.oci import pull, push
from trioagent.oci.artifact import build_artifact

from .conftest import AGENT_YAML, free_port

Answer = tuple[int, dict[str, str], bytes]


@attrs.define
class ScriptedRegistry:
    """Answers ``(method, path)`` from ``routes``; anything else is 404. Records requests."""

    host: str
    routes: dict[tuple[str, str], Answer] = attrs.Factory(dict)
    requests: list[tuple[str, str, bytes]] = attrs.Factory(list)

    def ref(self, name: str) -> str:
        return f"{self.host}/{name}"


@pytest.fixture
def scripted() -> Iterator[ScriptedRegistry]:
    registry = ScriptedRegistry("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            registry.requests.append((self.command, self.path, body))
            path = urllib.parse.urlparse(self.path).path
            status, headers, data = registry.routes.get((self.command, path), (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_HEAD = do_POST = do_PUT = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    registry.host = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield registry
    server.shutdown()
    server.server_close()
    thread.join()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def serve_agent(registry: ScriptedRegistry, tag: str = "1.0") -> bytes:
    artifact = build_artifact(AGENT_YAML.encode(), {"io.docker.agent.version": "v1"})
    registry.routes[("GET", f"/v2/team/pirate/manifests/{tag}")] = (200, {}, artifact.manifest)
    for digest, data in artifact.blobs:
        registry.routes[("GET", f"/v2/team/pirate/blobs/{digest}")] = (200, {}, data)
    return artifact.manifest


def test_a_manifest_that_does_not_match_the_reference_digest_is_refused(
    scripted: ScriptedRegistry, env: dict[str, str]
) -> None:
    manifest = serve_agent(scripted)
    wanted = "sha256:" + "1" * 64
    scripted.routes[("GET", f"/v2/team/pirate/manifests/{wanted}")] = (200, {}, manifest)
    with pytest.raises(
        RegistryError,
        match=f"digest mismatch for .*@{wanted}: the registry "
        f"sent a manifest with digest {sha(manifest)}",
    ):
        pull(scripted.ref(f"team/pirate@{wanted}"), insecure=True, env=env)


def test_a_blob_redirect_is_followed(scripted: ScriptedRegistry, env: dict[str, str]) -> None:
    serve_agent(scripted)
    layer = sha(AGENT_YAML.encode())
    scripted.routes[("GET", "/storage/layer")] = scripted.routes[
        ("GET", f"/v2/team/pirate/blobs/{layer}")
    ]
    scripted.routes[("GET", f"/v2/team/pirate/blobs/{layer}")] = (
        307,
        {"Location": "/storage/layer"},
        b"",
    )
    assert pull(scripted.ref("team/pirate:1.0"), insecure=True, env=env).yaml == AGENT_YAML


def test_a_503_counts_as_unreachable_and_the_cache_is_used(
    scripted: ScriptedRegistry, env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    serve_agent(scripted)
    pull(scripted.ref("team/pirate:1.0"), insecure=True, env=env)
    scripted.routes[("GET", "/v2/team/pirate/manifests/1.0")] = (503, {}, b"")
    with caplog.at_level(logging.WARNING, logger="trioagent.oci"):
        agent = pull(scripted.ref("team/pirate:1.0"), insecure=True, env=env)
    assert agent.from_cache
    assert "unavailable (503)" in caplog.text


def test_a_401_without_a_challenge_is_explained(
    scripted: ScriptedRegistry, env: dict[str, str]
) -> None:
    scripted.routes[("GET", "/v2/team/pirate/manifests/1.0")] = (401, {}, b"")
    with pytest.raises(RegistryError, match="answered 401 without a WWW-Authenticate"):
        pull(scripted.ref("team/pirate:1.0"), insecure=True, env=env)


def test_an_unknown_auth_scheme_is_explained(
    scripted: ScriptedRegistry, env: dict[str, str]
) -> None:
    scripted.routes[("GET", "/v2/team/pirate/manifests/1.0")] = (
        401,
        {"WWW-Authenticate": 'Negotiate realm="x"'},
        b"",
    )
    with pytest.raises(
        RegistryError, match="'negotiate' authentication, which trioagent does not support"
    ):
        pull(scripted.ref("team/pirate:1.0"), insecure=True, env=env)


def push_routes(registry: ScriptedRegistry, *, location: str, stored: str | None) -> None:
    registry.routes[("POST", "/v2/team/pirate/blobs/uploads/")] = (202, {"Location": location}, b"")
    registry.routes[("PUT", urllib.parse.urlparse(location).path)] = (201, {}, b"")
    headers = {"Docker-Content-Digest": stored} if stored else {}
    registry.routes[("PUT", "/v2/team/pirate/manifests/1.0")] = (201, headers, b"")


def test_a_relative_upload_location_with_a_query_gets_the_digest_appended(
    scripted: ScriptedRegistry, env: dict[str, str]
) -> None:
    push_routes(scripted, location="/uploads/abc?_state=x%3D%3D", stored=None)
    digest = push(AGENT_YAML, scripted.ref("team/pirate:1.0"), version="v1", insecure=True, env=env)
    uploads = [
        (path, body)
        for method, path, body in scripted.requests
        if method == "PUT" and path.startswith("/uploads/")
    ]
    layer = sha(AGENT_YAML.encode())
    assert (
        f"/uploads/abc?_state=x%3D%3D&digest={layer.replace(':', '%3A')}",
        AGENT_YAML.encode(),
    ) in uploads
    assert len(uploads) == 2  # config and layer
    [(_, _, manifest)] = [r for r in scripted.requests if r[1] == "/v2/team/pirate/manifests/1.0"]
    assert sha(manifest) == digest


def test_a_manifest_stored_under_another_digest_is_an_error(
    scripted: ScriptedRegistry, env: dict[str, str]
) -> None:
    push_routes(
        scripted, location=f"http://{scripted.host}/uploads/abc", stored="sha256:" + "2" * 64
    )
    with pytest.raises(RegistryError, match=r"stored the manifest .* as sha256:2222"):
        push(AGENT_YAML, scripted.ref("team/pirate:1.0"), version="v1", insecure=True, env=env)


def test_an_unreachable_registry_fails_a_push_clearly(env: dict[str, str]) -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(RegistryUnreachable, match=f"cannot reach registry {re.escape(host)}"):
        push(AGENT_YAML, f"{host}/team/pirate:1.0", version="v1", insecure=True, env=env)
