"""Content digests: compute, check the form of, and verify ``sha256:<hex>`` digests.

Only sha256 is supported: it is what registries, docker-agent and go-containerregistry
write. A digest with another algorithm is refused with a message that says so.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from trioagent.errors import RegistryError

_DIGEST: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_SHA256: Final = re.compile(r"sha256:[0-9a-f]{64}")


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, *, what: str) -> str:
    """Return ``digest`` if it is a well-formed sha256 digest.

    Args:
        digest: the text to check.
        what: what the digest belongs to, for the message (``"reference 'x@...'"``).

    Raises:
        RegistryError: it is not a digest, or uses another algorithm than sha256.
    """
    if _SHA256.fullmatch(digest):
        return digest
    if digest.startswith("sha256:"):
        raise RegistryError(
            f"{what}: invalid sha256 digest {digest!r}: it needs 64 lowercase hex digits"
        )
    if _DIGEST.fullmatch(digest):
        algorithm = digest.partition(":")[0]
        raise RegistryError(
            f"{what}: digest algorithm {algorithm!r} is not supported: only sha256 is"
        )
    raise RegistryError(f"{what}: invalid digest {digest!r}: expected sha256:<64 hex digits>")


def verify_content(data: bytes, *, digest: str, size: int | None, what: str) -> None:
    """Check that ``data`` has the expected size and sha256 digest.

    Args:
        data: the bytes received or read back.
        digest: the expected ``sha256:<hex>`` digest.
        size: the expected length in bytes, if known.
        what: what the bytes are, for the message (``"layer sha256:ab12... of x:1"``).

    Raises:
        RegistryError: the size or the digest differs, or the digest is not sha256.
    """
    check_digest(digest, what=what)
    if size is not None and len(data) != size:
        raise RegistryError(
            f"size mismatch for {what}: expected {size} bytes, got {len(data)}; "
            "the data is corrupted or was tampered with"
        )
    actual = sha256_digest(data)
    if actual != digest:
        raise RegistryError(
            f"digest mismatch for {what}: expected {digest}, got {actual}; "
            "the data is corrupted or was tampered with"
        )
