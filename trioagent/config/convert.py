"""THE config converter: plain YAML data -> ``config.schema`` classes, strictly.

The wire converter is tolerant; this one is not, because a config typo should fail at
load time, not silently change behaviour:

- unknown keys are errors (``forbid_extra_keys=True``), with a "did you mean" hint;
- types are exact: a string where an integer is expected fails (no ``int("10")``),
  booleans are YAML booleans, integers are accepted where a float is expected;
- lists become tuples, but a string is never taken for a list;
- a key whose value is ``null`` counts as absent, as in docker-agent (Go zero values).

:func:`structure_file` raises :class:`InvalidConfig` holding every problem as a
(key path, message) pair; ``config.load`` turns the first one into a ``file:line``
``ConfigError``.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Final, get_args, get_origin

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.pyyaml import make_converter as _make_yaml_converter

from .schema import TOOLSET_TYPES, AgentFile, Metadata

if typing.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import cattrs

KeyPath = tuple[str | int, ...]
"""A path into the YAML document: mapping keys are strings, list indices integers."""

# docker-agent keys that parse there but that trioagent does not implement. Saying so
# beats "unknown key" for someone bringing a docker-agent file.
_DOCKER_AGENT_ONLY: Final[dict[str, frozenset[str]]] = {
    "AgentFile": frozenset({"providers", "mcps", "rag", "permissions"}),
    "AgentConfig": frozenset(
        {
            "fallback",
            "handoffs",
            "rag",
            "code_mode_tools",
            "add_description_parameter",
            "num_history_items",
            "add_prompt_files",
            "commands",
            "structured_output",
            "skills",
            "hooks",
        }
    ),
    "ModelConfig": frozenset({"track_usage", "thinking_budget", "routing"}),
    "ToolsetConfig": frozenset(
        {
            "toon",
            "model",
            "defer",
            "config",
            "version",
            "name",
            "url",
            "headers",
            "shell",
            "post_edit",
            "api_config",
            "ignore_vcs",
            "file_types",
            "models",
        }
    ),
}

_DOCKER_AGENT_TOOLSET_TYPES: Final = frozenset(
    {
        "tasks",
        "script",
        "fetch",
        "api",
        "a2a",
        "lsp",
        "user_prompt",
        "openapi",
        "model_picker",
        "background_agents",
    }
)


@attrs.frozen
class ConfigProblem:
    """One thing wrong with a config document."""

    path: KeyPath
    """Where: ``("agents", "root", "toolsets", 0, "type")``."""
    message: str
    """What, phrased so the user can fix it: ``expected an integer, got 'ten'``."""


class InvalidConfig(Exception):
    """The data does not fit the schema; ``problems`` says where and why (never empty)."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{format_path(p.path)}: {p.message}" for p in problems))


class _WrongValue(TypeError):
    """Raised by our hooks; its text is the final user-facing message."""


def format_path(path: KeyPath) -> str:
    """Render a key path the way users write it: ``agents.root.toolsets[0].type``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def describe(value: object) -> str:
    """Render a YAML value for an error message: ``'ten'``, ``3``, ``true``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:37] + "...")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return str(value)


def suggest(word: str, choices: typing.Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _wrong(expected: str, value: object) -> _WrongValue:
    return _WrongValue(f"expected {expected}, got {describe(value)}")


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _wrong("a string", value)
    return value


def _structure_version(value: object, _: object) -> str:
    # `version: 2` is how docker-agent files usually spell it; keep it as text.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _structure_str(value, str)


def _structure_int(value: object, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong("an integer", value)
    return value


def _structure_float(value: object, _: type) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _wrong("a number", value)
    return float(value)


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _wrong("true or false", value)
    return value


def _structure_literal(value: object, cl: Any) -> Any:
    choices = get_args(cl)
    if value in choices and type(value) is type(choices[0]):
        return value
    if choices == TOOLSET_TYPES:
        if value in _DOCKER_AGENT_TOOLSET_TYPES:
            raise _WrongValue(
                f"toolset type {describe(value)} is a docker-agent type that trioagent does "
                f"not support; valid types: {', '.join(choices)}"
            )
        raise _WrongValue(
            f"unknown toolset type {describe(value)}"
            f"{suggest(value, choices) if isinstance(value, str) else ''}; "
            f"valid types: {', '.join(choices)}"
        )
    raise _wrong("one of " + ", ".join(repr(c) for c in choices), value)


def _is_literal(cl: Any) -> bool:
    return get_origin(cl) is typing.Literal


def _is_tuple_of(cl: Any) -> bool:
    args = get_args(cl)
    return get_origin(cl) is tuple and len(args) == 2 and args[1] is Ellipsis


def _is_dict_of(cl: Any) -> bool:
    return get_origin(cl) is dict


def _unknown_key_message(class_name: str, key: str, fields: list[str]) -> str:
    if key in _DOCKER_AGENT_ONLY.get(class_name, ()):
        return "a docker-agent key that trioagent does not support; remove it"
    return f"unknown key{suggest(key, fields)}"


def make_converter() -> cattrs.Converter:
    """Build the strict converter described in the module docstring."""
    conv = _make_yaml_converter(forbid_extra_keys=True, detailed_validation=True)

    for cl, hook in (
        (str, _structure_str),
        (int, _structure_int),
        (float, _structure_float),
        (bool, _structure_bool),
    ):
        conv.register_structure_hook(cl, hook)
    conv.register_structure_hook_func(_is_literal, _structure_literal)

    def structure_tuple(value: object, cl: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _wrong("a list", value)
        item_type = get_args(cl)[0]
        items: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                items.append(conv.structure(item, item_type))
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"@ index {index}", index, item_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {cl!r}", errors, cl)
        return tuple(items)

    def structure_dict(value: object, cl: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong("a mapping", value)
        value_type = get_args(cl)[1] if get_args(cl) else Any
        out: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                if not isinstance(key, str):
                    raise _wrong("a string key", key)
                out[key] = conv.structure(item, value_type)
            except Exception as exc:
                exc.add_note(IterableValidationNote(f"@ key {key!r}", str(key), value_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError(f"While structuring {cl!r}", errors, cl)
        return out

    conv.register_structure_hook_func(_is_tuple_of, structure_tuple)
    conv.register_structure_hook_func(_is_dict_of, structure_dict)

    def attrs_hook(cl: Any) -> Callable[[object, Any], Any]:
        overrides = {}
        if cl is AgentFile:
            overrides["source"] = override(omit=True)
        if cl in (AgentFile, Metadata):
            overrides["version"] = override(struct_hook=_structure_version)
        generated = make_dict_structure_fn(cl, conv, **overrides)  # type: ignore[arg-type]

        def structure_class(value: object, _: Any) -> Any:
            if not isinstance(value, dict):
                raise _wrong("a mapping", value)
            return generated({k: v for k, v in value.items() if v is not None}, cl)

        return structure_class

    conv.register_structure_hook_factory(attrs.has, attrs_hook)
    return conv


converter: Final = make_converter()
"""The one config converter."""


def structure_file(data: Mapping[str, Any]) -> AgentFile:
    """Structure a whole agent file, as parsed from YAML, into an :class:`AgentFile`.

    Args:
        data: the document's top-level mapping (strings, numbers, lists, dicts).

    Returns:
        The agent file, exactly as written (models not yet resolved, ``source`` empty).

    Raises:
        InvalidConfig: with one :class:`ConfigProblem` per mistake found.
    """
    try:
        return converter.structure(data, AgentFile)
    except (ClassValidationError, IterableValidationError, _WrongValue) as exc:
        raise InvalidConfig(problems_of(exc)) from None


def problems_of(exc: BaseException, path: KeyPath = ()) -> list[ConfigProblem]:
    """Flatten a cattrs validation error (an ExceptionGroup tree) into problems.

    Args:
        exc: what ``converter.structure`` raised.
        path: the key path of the value it was structuring.
    """
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found = [p for sub, note in with_notes for p in problems_of(sub, (*path, note.index))]
        return found + [p for sub in without for p in problems_of(sub, path)]
    if isinstance(exc, ClassValidationError):
        attr_notes, others = exc.group_exceptions()
        found = [
            p for sub, attr_note in attr_notes for p in problems_of(sub, (*path, attr_note.name))
        ]
        return found + [p for sub in others for p in _leaf_problems(sub, path)]
    return _leaf_problems(exc, path)


def _leaf_problems(exc: BaseException, path: KeyPath) -> list[ConfigProblem]:
    if isinstance(exc, ForbiddenExtraKeysError):
        fields = [a.name for a in attrs.fields(exc.cl) if a.name != "source"]
        return [
            ConfigProblem((*path, key), _unknown_key_message(exc.cl.__name__, key, fields))
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError) and _has_attribute_note(exc):
        return [ConfigProblem(path, "required")]
    if isinstance(exc, _WrongValue):
        return [ConfigProblem(path, str(exc))]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        return problems_of(exc, path)
    return [ConfigProblem(path, f"invalid value ({exc})")]


def _has_attribute_note(exc: BaseException) -> bool:
    return any(isinstance(n, AttributeValidationNote) for n in getattr(exc, "__notes__", ()))
