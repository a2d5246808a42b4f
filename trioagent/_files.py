"""Writing a file so that a reader never sees half of it.

The data goes to a temporary file in the same directory, is flushed to disk, and the
temporary file is renamed over the target (``os.replace``, atomic on POSIX and Windows).
A failure, or an exception in the ``with`` block, removes the temporary file and leaves
the target as it was.

This module imports nothing of ours: every layer may import it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@contextlib.contextmanager
def open_atomically(path: Path, *, mode: int | None = None) -> Iterator[IO[bytes]]:
    """A binary file to write that replaces ``path`` when the ``with`` block ends cleanly.

    Args:
        path: the file to replace; its directory must exist.
        mode: permission bits for the file (``mkstemp`` creates it with 0o600).

    Raises:
        OSError: the temporary file could not be created, written or renamed.
    """
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the error to report is the first one
            os.unlink(temp)
        raise


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (see `open_atomically`).

    Raises:
        OSError: the file could not be written.
    """
    with open_atomically(path) as file:
        file.write(data)
