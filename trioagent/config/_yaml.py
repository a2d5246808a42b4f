"""Read a YAML document into plain data plus the line of every key.

PyYAML's ``safe_load`` forgets where things were. We ``yaml.compose`` the document
instead and build the data ourselves from the node tree, recording for every key path
the line of its key (mapping entries) or of the item (list entries), so that errors can
say ``agent.yaml:7: agents.root.toolsets[0].type: ...``.

Same results as ``yaml.safe_load`` (YAML 1.1 scalars, anchors, aliases, ``<<`` merges),
plus: duplicate keys and non-string keys are errors.
"""

from __future__ import annotations

from typing import Any, Final

import attrs
import yaml
from yaml.constructor import SafeConstructor

from trioagent.errors import ConfigError

from .convert import KeyPath, describe, format_path

_MAX_DEPTH: Final = 64
_MAX_NODES: Final = 200_000  # aliases can make a small file expand enormously


@attrs.define
class Document:
    """A parsed YAML document and where each of its keys stands."""

    data: Any
    """The document as plain data (dicts, lists, strings, numbers, booleans, None)."""
    lines: dict[KeyPath, int]
    """1-based line of each key path that occurs in the document."""
    source: str
    """The file name shown in errors."""

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that occurs in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None

    def error(self, path: KeyPath, message: str) -> ConfigError:
        """A ``file:line: key: message`` error for ``path``."""
        return ConfigError(
            message, path=self.source, line=self.line_of(path), key=format_path(path) or None
        )


def parse_document(text: str, source: str) -> Document:
    """Parse one YAML document.

    Args:
        text: the YAML text.
        source: the file name to show in errors.

    Raises:
        ConfigError: invalid YAML, several documents, a duplicate or non-string key.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        text = ", ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        if "'\\t'" in text:
            text += " (indent with spaces, not tabs)"
        raise ConfigError(
            f"invalid YAML: {text}",
            path=source,
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", path=source) from None
    doc = Document(data=None, lines={}, source=source)
    if root is not None:
        doc.lines[()] = root.start_mark.line + 1
        doc.data = _Builder(doc).build(root, ())
    return doc


@attrs.define
class _Builder:
    doc: Document
    constructor: SafeConstructor = attrs.Factory(SafeConstructor)
    nodes: int = 0

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.nodes += 1
        if len(path) > _MAX_DEPTH or self.nodes > _MAX_NODES:
            raise self.doc.error(path[:1], "the document is nested too deeply or is too large")
        if isinstance(node, yaml.MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.doc.lines.setdefault((*path, index), item.start_mark.line + 1)
                items.append(self.build(item, (*path, index)))
            return items
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.doc.error(path, f"invalid YAML value: {problem}") from None

    def build_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.key_of(key_node, path)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise ConfigError(
                    f"duplicate key (first defined on line {first_line[key]})",
                    path=self.doc.source,
                    line=line,
                    key=format_path((*path, key)),
                )
            first_line[key] = line
        try:
            self.constructor.flatten_mapping(node)  # resolve `<<: *anchor` merges
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise self.doc.error(path, f"invalid YAML merge: {problem}") from None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.key_of(key_node, path)
            child = (*path, key)
            # A merged key keeps the line of the key it came from, unless overridden here.
            self.doc.lines[child] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, child)
        return out

    def key_of(self, node: yaml.Node, path: KeyPath) -> str:
        key = self.constructor.construct_object(node) if isinstance(node, yaml.ScalarNode) else node
        if not isinstance(key, str):
            shown = describe(key) if not isinstance(key, yaml.Node) else "a collection"
            raise ConfigError(
                f"keys must be strings, got {shown} (quote it)",
                path=self.doc.source,
                line=node.start_mark.line + 1,
                key=format_path(path) or None,
            )
        return key
