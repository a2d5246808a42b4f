"""Real registries for the OCI tests: the CNCF distribution registry (Debian's
``docker-registry``) on 127.0.0.1, without auth, with htpasswd Basic auth, or with token
auth backed by a small token server that signs JWTs with a self-signed certificate."""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

USER, PASSWORD = "alice", "s3cret"
REFRESH_TOKEN = "refresh-token-of-alice"
SERVICE, ISSUER = "trioagent-test-registry", "trioagent-test-issuer"

AGENT_YAML = """\
version: "2"
metadata:
  author: Alice
agents:
  root:
    model: openai/gpt-4o
    instruction: You are a pirate. Arr.
"""


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or shutil.which("registry")


@attrs.define
class Registry:
    """A running registry process."""

    host: str
    """``127.0.0.1:PORT``"""
    storage: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, name: str) -> str:
        return f"{self.host}/{name}"

    def blob_file(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes on disk."""
        hex_ = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@attrs.define
class TokenServer:
    """Issues registry tokens: full access for alice, none for anonymous callers."""

    url: str
    requests: list[dict[str, Any]]
    server: ThreadingHTTPServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_registry(tmp_path: Path, auth: dict[str, Any] | None = None) -> Registry:
    binary = registry_binary()
    if binary is None:
        if os.environ.get("TRIOAGENT_REQUIRE_REGISTRY") == "1":
            pytest.fail("docker-registry is not installed (TRIOAGENT_REQUIRE_REGISTRY=1)")
        pytest.skip("docker-registry (the CNCF distribution registry) is not installed")
    storage = tmp_path / "registry-data"
    for _attempt in range(3):  # the free port may be taken before the registry binds it
        host = f"127.0.0.1:{free_port()}"
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": host, "secret": "trioagent-test-secret"},
        }
        if auth:
            config["auth"] = auth
        config_file = tmp_path / "registry.yml"
        config_file.write_text(json.dumps(config))  # JSON is YAML
        log = tmp_path / "registry.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [binary, "serve", str(config_file)], stdout=out, stderr=subprocess.STDOUT
            )
        registry = Registry(host, storage, process)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{registry.url}/v2/", timeout=1)
                return registry
            except httpx.TransportError:
                time.sleep(0.02)
        registry.stop()
    pytest.fail(f"the registry did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry without authentication."""
    started = start_registry(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants Basic credentials alice:s3cret (htpasswd, bcrypt)."""
    bcrypt = pytest.importorskip("bcrypt")
    htpasswd = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"{USER}:{hashed}\n")
    started = start_registry(tmp_path, {"htpasswd": {"realm": "test", "path": str(htpasswd)}})
    yield started
    started.stop()


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """A token server for ``token_registry``; its certificate is in tmp_path/token.pem."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ISSUER)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "token.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # Registry 2.8 checks the signature with the x5c chain, against rootcertbundle.
    x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            user = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                given = base64.b64decode(header[6:]).decode()
                if given != f"{USER}:{PASSWORD}":
                    self._answer(401, {"details": "wrong username or password"})
                    return
                user = USER
            self._issue(user, query, "GET", "token")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            if form.get("refresh_token") != [REFRESH_TOKEN]:
                self._answer(401, {"details": "invalid refresh token"})
                return
            self._issue(USER, form, "POST", "access_token")

        def _issue(
            self, user: str | None, query: dict[str, list[str]], method: str, field: str
        ) -> None:
            import jwt

            scopes = query.get("scope", [])
            requests.append(
                {"method": method, "user": user, "scope": scopes, "service": query.get("service")}
            )
            access = []
            for scope in scopes if user else []:
                kind, _, rest = scope.partition(":")
                repo, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
            issued = int(time.time())
            token = jwt.encode(
                {
                    "iss": ISSUER,
                    "sub": user or "",
                    "aud": SERVICE,
                    "exp": issued + 300,
                    "nbf": issued - 10,
                    "iat": issued,
                    "jti": f"{issued}-{len(requests)}",
                    "access": access,
                },
                key,
                algorithm="ES256",
                headers={"x5c": [x5c]},
            )
            self._answer(200, {field: token})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield TokenServer(f"http://127.0.0.1:{server.server_address[1]}/token", requests, server)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def token_registry(tmp_path: Path, token_server: TokenServer) -> Iterator[Registry]:
    """A registry with token auth: Bearer tokens from ``token_server``."""
    started = start_registry(
        tmp_path,
        {
            "token": {
                "realm": token_server.url,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(tmp_path / "token.pem"),
            }
        },
    )
    yield started
    started.stop()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment of our own: no credentials, an empty Docker config dir, a cache."""
    return {
        "HOME": str(tmp_path / "home"),
        "DOCKER_CONFIG": str(tmp_path / "docker"),
        "TRIOAGENT_CACHE_DIR": str(tmp_path / "cache"),
        "PATH": os.environ.get("PATH", os.defpath),
    }


@pytest.fixture
def docker_config(env: dict[str, str]) -> Callable[[dict[str, Any]], Path]:
    """Write ``$DOCKER_CONFIG/config.json``."""

    def write(config: dict[str, Any]) -> Path:
        path = Path(env["DOCKER_CONFIG"]) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config))
        return path

    return write


@pytest.fixture
def credential_helper(
    tmp_path: Path, env: dict[str, str]
) -> Callable[[str, dict[str, tuple[str, str]]], Path]:
    """Install ``docker-credential-NAME`` on the env's PATH; it answers for the given
    servers ({server: (username, secret)}) and logs each server it is asked about."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"

    def install(name: str, secrets: dict[str, tuple[str, str]]) -> Path:
        log = tmp_path / f"{name}.log"
        script = bin_dir / f"docker-credential-{name}"
        script.write_text(f"""#!{sys.executable}
import json, sys
secrets = {secrets!r}
server = sys.stdin.read().strip()
with open({str(log)!r}, "a") as f:
    f.write(sys.argv[1] + " " + server + "\\n")
if server not in secrets:
    print("credentials not found in native keychain")
    sys.exit(1)
user, secret = secrets[server]
print(json.dumps({{"ServerURL": server, "Username": user, "Secret": secret}}))
""")
        script.chmod(0o755)
        return log

    return install
