"""Environment for agent files: ``--env-from-file`` files and ``${NAME}`` placeholders."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Final

from trioagent.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `$${...}` is an escaped, literal `${...}`; `${env.NAME}` and `${NAME}` are placeholders.
_PLACEHOLDER: Final = re.compile(r"\$(\$)?\{(?:env\.)?([A-Za-z_][A-Za-z0-9_]*)\}")
_DOUBLE_QUOTED_ESCAPES: Final = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


class UnsetVariable(KeyError):
    """A placeholder names a variable that the environment does not have."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


def expand(text: str, env: Mapping[str, str]) -> str:
    """Replace ``${NAME}`` and ``${env.NAME}`` in ``text`` with values from ``env``.

    ``$${NAME}`` stands for a literal ``${NAME}``. A lone ``$`` or ``$NAME`` is left as
    written, so prices and shell snippets in instructions need no escaping.

    Raises:
        UnsetVariable: a placeholder names a variable not in ``env`` (an empty value
            counts as set).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        name = match.group(2)
        if name not in env:
            raise UnsetVariable(name)
        return env[name]

    return _PLACEHOLDER.sub(replace, text)


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a ``KEY=VALUE`` file, as ``--env-from-file`` takes.

    One assignment per line, optionally prefixed with ``export``. Blank lines and lines
    starting with ``#`` are skipped. Values may be quoted: ``'single'`` is taken as is,
    ``"double"`` understands ``\\n \\t \\" \\\\ \\$``. An unquoted value ends at `` #``.
    Later lines override earlier ones. Values are never expanded.

    Args:
        path: the file.

    Returns:
        The variables, in file order.

    Raises:
        ConfigError: the file cannot be read, or a line is not an assignment (the error
            names ``file:line`` but never shows the line, which may hold a secret).
    """
    shown = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env file: {_reason(exc)}", path=shown) from None
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise ConfigError(
                "expected KEY=VALUE, with KEY made of letters, digits and '_'",
                path=shown,
                line=number,
            )
        parsed = _parse_value(value.strip())
        if parsed is None:
            raise ConfigError(
                f"{key}: unterminated quote, or text after the closing quote",
                path=shown,
                line=number,
            )
        values[key] = parsed
    return values


def _parse_value(value: str) -> str | None:
    """The value of an assignment, or ``None`` if its quoting is broken."""
    if not value or value[0] not in "'\"":
        comment = value.find(" #")
        return (value[:comment] if comment >= 0 else value).rstrip()
    quote = value[0]
    out: list[str] = []
    index = 1
    while index < len(value):
        char = value[index]
        if char == quote:
            rest = value[index + 1 :].strip()
            return "".join(out) if not rest or rest.startswith("#") else None
        if char == "\\" and quote == '"' and index + 1 < len(value):
            nxt = value[index + 1]
            out.append(_DOUBLE_QUOTED_ESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        out.append(char)
        index += 1
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
