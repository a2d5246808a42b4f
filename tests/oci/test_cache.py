"""The on-disk cache: where it lives, content addressing, verification on read."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from trioagent.errors import RegistryError
from trioagent.oci import Cache, default_cache_dir


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TRIOAGENT_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/trioagent/oci"),
        ({"HOME": "/h"}, "/h/.cache/trioagent/oci"),
        (
            {"TRIOAGENT_CACHE_DIR": "", "XDG_CACHE_HOME": "", "HOME": "/h"},
            "/h/.cache/trioagent/oci",
        ),
    ],
    ids=["trioagent", "xdg", "home", "empty-vars"],
)
def test_default_cache_dir(env: dict[str, str], expected: str) -> None:
    assert default_cache_dir(env) == Path(expected)


def test_blobs_are_stored_by_digest_without_temporary_files(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    path = cache.write_blob(b"hello")
    digest = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert path == tmp_path / "cache" / "blobs" / "sha256" / digest.removeprefix("sha256:")
    assert cache.read_blob(digest, size=5) == b"hello"
    assert cache.write_blob(b"hello") == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_tampered_blob_is_refused_and_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = Cache(tmp_path)
    path = cache.write_blob(b"hello")
    digest = "sha256:" + path.name
    path.write_bytes(b"jello")
    with caplog.at_level(logging.WARNING, logger="trioagent.oci"):
        assert cache.read_blob(digest) is None
    assert not path.exists()
    assert "digest mismatch for cached blob" in caplog.text


def test_a_blob_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    path = cache.write_blob(b"hello")
    assert cache.read_blob("sha256:" + path.name, size=6) is None


def test_a_missing_blob_is_none(tmp_path: Path) -> None:
    assert Cache(tmp_path).read_blob("sha256:" + "0" * 64) is None


def test_references_are_remembered(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.lookup("r/a:1") is None
    cache.remember("r/a:1", "sha256:" + "1" * 64)
    cache.remember("r/a:2", "sha256:" + "2" * 64)
    cache.remember("r/a:1", "sha256:" + "3" * 64)
    assert Cache(tmp_path).lookup("r/a:1") == "sha256:" + "3" * 64
    assert Cache(tmp_path).lookup("r/a:2") == "sha256:" + "2" * 64


def test_a_corrupt_index_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "refs.json").write_text("{not json")
    cache = Cache(tmp_path)
    assert cache.lookup("r/a:1") is None
    cache.remember("r/a:1", "sha256:" + "1" * 64)
    assert cache.lookup("r/a:1") == "sha256:" + "1" * 64


def test_an_unwritable_cache_says_how_to_fix_it(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(RegistryError, match="set TRIOAGENT_CACHE_DIR to a writable directory"):
        Cache(tmp_path / "file").write_blob(b"x")
