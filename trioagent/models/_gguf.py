"""Read the few facts we need from a GGUF file's header, without loading the model.

A GGUF file starts with ``GGUF``, a version, two counts and then its metadata as typed
key/value pairs (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Reading them
lets start-up refuse a file that is not a model, with one line naming it, before
llama.cpp loads anything, and tells whether the model's chat template knows tools.
"""

from __future__ import annotations

import struct
from typing import IO, TYPE_CHECKING, Final

import attrs

from trioagent.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

MAGIC: Final = b"GGUF"
_SCALARS: Final = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING: Final = 8
_ARRAY: Final = 9


@attrs.frozen
class GGUFInfo:
    """What start-up needs to know about a GGUF model."""

    architecture: str
    chat_template: str | None
    """The Jinja chat template the file carries, if any."""
    context_length: int | None
    """The context the model was trained for, in tokens."""

    @property
    def template_knows_tools(self) -> bool:
        """Whether the chat template renders a ``tools`` list (so llama.cpp can offer
        tools and parse the model's calls), as llama.cpp's own capability probe finds."""
        return self.chat_template is not None and "tools" in self.chat_template


class _Invalid(Exception):
    pass


def read_gguf_info(path: Path) -> GGUFInfo:
    """The architecture, chat template and trained context of the GGUF file at ``path``.

    Raises:
        ConfigError: the file is missing, unreadable or not a GGUF model; the message is
            one line and names the path.
    """
    try:
        with path.open("rb") as file:
            values = _read_metadata(file)
    except FileNotFoundError:
        raise ConfigError(f"local model file not found: {path}", key="model") from None
    except (OSError, _Invalid, struct.error, UnicodeDecodeError) as exc:
        reason = str(exc) or "the file ends too soon"
        raise ConfigError(f"{path} is not a GGUF model file: {reason}", key="model") from None
    architecture = values.get("general.architecture")
    if not isinstance(architecture, str):
        raise ConfigError(f"{path} is not a GGUF model file: it names no architecture", key="model")
    template = values.get("tokenizer.chat_template")
    context = values.get(f"{architecture}.context_length")
    return GGUFInfo(
        architecture,
        template if isinstance(template, str) else None,
        context if isinstance(context, int) else None,
    )


def _read_metadata(file: IO[bytes]) -> dict[str, object]:
    if file.read(4) != MAGIC:
        raise _Invalid("it does not start with 'GGUF'")
    version, _tensors, count = struct.unpack("<IQQ", _exactly(file, 20))
    if version < 2:
        raise _Invalid(f"GGUF version {version} is too old")
    values: dict[str, object] = {}
    for _ in range(count):
        key = _string(file)
        (kind,) = struct.unpack("<I", _exactly(file, 4))
        values[key] = _value(file, kind)
    return values


def _value(file: IO[bytes], kind: int) -> object:
    if kind == _STRING:
        return _string(file)
    if kind == _ARRAY:
        item_kind, length = struct.unpack("<IQ", _exactly(file, 12))
        if item_kind in _SCALARS:  # skipped: no array is needed, and some are huge
            file.seek(length * struct.calcsize(_SCALARS[item_kind]), 1)
        else:
            for _ in range(length):
                _value(file, item_kind)
        return None
    if kind not in _SCALARS:
        raise _Invalid(f"unknown metadata type {kind}")
    fmt = _SCALARS[kind]
    return struct.unpack(fmt, _exactly(file, struct.calcsize(fmt)))[0]


def _string(file: IO[bytes]) -> str:
    (length,) = struct.unpack("<Q", _exactly(file, 8))
    if length > 1 << 24:
        raise _Invalid("a metadata string is implausibly long")
    return _exactly(file, length).decode()


def _exactly(file: IO[bytes], size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise _Invalid("the file ends too soon")
    return data
