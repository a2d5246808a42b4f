"""Dependencies point one way: cli -> server -> store -> runtime -> models, tools ->
config, wire, chat -> errors (see shared/design.md), and no modules import each other."""

from __future__ import annotations

import ast
import graphlib
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trioagent"

LEAVES = {"errors", "chat", "logs", "paths", "_files"}
"""Modules that import nothing of ours, so that every layer may import them."""

ALLOWED: dict[str, set[str]] = {
    **{leaf: set() for leaf in LEAVES},
    # Values and parsing: `wire` and `config` import only errors, so they do no I/O of
    # ours (an agent by registry reference comes through the fetch the CLI passes).
    "wire": {"errors"},
    "config": {"errors", "paths"},
    "oci": {"errors", "paths", "_files"},
    "testing": {"wire"},
    # Tracing knows the values it describes (chat messages, model configs), as types only.
    "tracing": {"chat", "config"},
    "models": {"chat", "wire", "config", "errors", "paths", "_files", "tracing"},
    "tools": {"chat", "config", "errors", "_files", "tracing"},
    "runtime": {"models", "tools", "chat", "config", "errors", "tracing"},
    "store": {"runtime", "chat", "errors"},  # of runtime, only runtime.session: see below
    "server": {
        "store",
        "runtime",
        "tools",
        "wire",
        "config",
        "chat",
        "errors",
        "logs",
        "tracing",
    },
    # The commands, clients of the layers above; only the CLI imports them.
    "run": {"runtime", "tools", "config", "chat", "errors", "logs"},
    "oci_command": {"oci", "config", "errors"},
    "chat_client": {"wire", "errors"},
    "bench": {"wire", "errors"},
    "cli": {
        "run",
        "oci_command",
        "chat_client",
        "bench",
        "server",
        "store",
        "runtime",
        "models",
        "tools",
        "oci",
        "config",
        "wire",
        "chat",
        "errors",
        "logs",
        "paths",
        "tracing",
    },
    "__main__": {"cli"},
    # The public surface re-exports what a program embedding trioagent needs.
    "__init__": {"server", "config", "errors"},
}


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_layers(path: Path) -> set[str]:
    """The trioagent layers a module imports (relative or absolute), anywhere in it."""
    return {
        name.split(".")[1]
        for name in imported_modules(path, everywhere=True)
        if name != "trioagent"
    }


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


PATHS = sorted(PACKAGE.rglob("*.py"))
MODULE_NAMES = {module_name(p) for p in PATHS}


def imported_modules(path: Path, *, everywhere: bool) -> set[str]:
    """The trioagent modules ``path`` imports: with ``everywhere``, every import in it;
    otherwise those that run when it is imported (not in functions or under
    ``if TYPE_CHECKING:``). ``from pkg import sub`` counts as importing ``pkg.sub``."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )
    found = set()
    for node in ast.walk(tree) if everywhere else _executed(tree.body):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULE_NAMES else target)
    return {name for name in found if name.partition(".")[0] == "trioagent"}


def _executed(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run at import, nested blocks included."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _executed(node.orelse)
            continue
        yield node
        for block in ("body", "orelse", "finalbody"):
            yield from _executed(getattr(node, block, []))
        for handler in getattr(node, "handlers", []):
            yield from _executed(handler.body)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def test_every_module_has_a_layer() -> None:
    unknown = {layer_of(p) for p in PATHS} - set(ALLOWED)
    assert not unknown, f"add {sorted(unknown)} to ALLOWED"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    layer = layer_of(path)
    wrong = imported_layers(path) - ALLOWED[layer] - {layer}
    assert not wrong, f"{layer} may not import {sorted(wrong)}"


@pytest.mark.parametrize(
    "path",
    [p for p in PATHS if layer_of(p) == "store"],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_store_knows_only_the_session_of_the_runtime(path: Path) -> None:
    runtime = {
        m for m in imported_modules(path, everywhere=True) if m.startswith("trioagent.runtime")
    }
    assert runtime <= {"trioagent.runtime.session"}


def test_no_import_cycles() -> None:
    graph = {
        module_name(p): imported_modules(p, everywhere=False) - {module_name(p)} for p in PATHS
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail("import cycle: " + " -> ".join(exc.args[1]))
