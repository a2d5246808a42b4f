"""The on-disk cache of pulled agents, by digest.

    <root>/blobs/sha256/<hex>   manifests and layers, named by their sha256
    <root>/refs.json            {"registry/repository:tag": "sha256:<manifest digest>"}

The root is ``$TRIOAGENT_CACHE_DIR``, else ``$XDG_CACHE_HOME/trioagent/oci``, else
``~/.cache/trioagent/oci``. Every file is written to a temporary name and renamed, so
a reader never sees half a file; every blob is verified when read, and one that does
not match its name is deleted and reported as missing.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from trioagent._files import write_atomically
from trioagent.errors import RegistryError
from trioagent.paths import user_cache_dir

from .digest import check_digest, sha256_digest, verify_content

if TYPE_CHECKING:
    from collections.abc import Mapping

logger = logging.getLogger(__name__)


def default_cache_dir(env: Mapping[str, str]) -> Path:
    """Where the cache lives, given the environment (see the module docstring)."""
    if env.get("TRIOAGENT_CACHE_DIR"):
        return Path(env["TRIOAGENT_CACHE_DIR"])
    return user_cache_dir(env) / "oci"


@attrs.define
class Cache:
    """Content-addressed blobs plus an index of references; see the module docstring."""

    root: Path

    def blob_path(self, digest: str) -> Path:
        """The file that holds (or would hold) the blob with this digest."""
        check_digest(digest, what="cache lookup")
        return self.root / "blobs" / "sha256" / digest.removeprefix("sha256:")

    def read_blob(self, digest: str, *, size: int | None = None) -> bytes | None:
        """The blob's bytes, or ``None`` when it is missing or fails verification.

        A blob that does not match its digest (or ``size``) is deleted, so the next
        pull fetches it again.
        """
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cannot read cached blob %s: %s", path, exc)
            return None
        try:
            verify_content(data, digest=digest, size=size, what=f"cached blob {path}")
        except RegistryError as exc:
            logger.warning("%s: removing it", exc)
            path.unlink(missing_ok=True)
            return None
        return data

    def write_blob(self, data: bytes) -> Path:
        """Store ``data`` under its own sha256 digest; returns the file."""
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if self.read_blob(digest, size=len(data)) is None:
            _write_atomic(path, data)
        return path

    def lookup(self, ref: str) -> str | None:
        """The manifest digest last pulled for ``ref`` (a canonical reference string)."""
        return self._refs().get(ref)

    def remember(self, ref: str, digest: str) -> None:
        """Record that ``ref`` resolved to the manifest ``digest``."""
        refs = self._refs()
        if refs.get(ref) != digest:
            refs[ref] = digest
            text = json.dumps(dict(sorted(refs.items())), indent=2) + "\n"
            _write_atomic(self.root / "refs.json", text.encode())

    def _refs(self) -> dict[str, str]:
        path = self.root / "refs.json"
        try:
            refs = json.loads(path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable cache index %s: %s", path, exc)
            return {}
        if not isinstance(refs, dict):
            logger.warning("ignoring cache index %s: not a JSON object", path)
            return {}
        return {str(k): v for k, v in refs.items() if isinstance(v, str)}


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` through a temporary file in the same directory and a rename.

    Raises:
        RegistryError: the cache directory is not writable.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _unwritable(path: Path, exc: OSError) -> RegistryError:
    return RegistryError(
        f"cannot write the agent cache ({path}): {exc.strerror or exc}; set "
        "TRIOAGENT_CACHE_DIR to a writable directory"
    )
