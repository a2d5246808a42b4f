"""Dependencies point one way: cli -> server -> store -> runtime -> models, tools ->
config, wire, chat -> errors (see shared/design.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "trioagent"

ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "chat": set(),
    "logs": set(),
    "paths": set(),
    "wire": {"errors"},
    "oci": {"errors", "paths"},
    "config": {"errors", "oci"},
    "testing": {"wire", "errors"},
    "models": {"chat", "wire", "config", "errors", "paths"},
    "tools": {"chat", "config", "errors"},
    "runtime": {"models", "tools", "chat", "config", "errors"},
    "store": {"runtime", "chat", "errors"},
    "server": {"store", "runtime", "models", "tools", "wire", "config", "chat", "errors",
               "logs"},
    "chat_client": {"wire", "errors"},
    "bench": {"wire", "errors"},
    "oci_command": {"oci", "config", "errors"},
}


def layer_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_layers(path: Path) -> set[str]:
    """The trioagent layers a module imports (relative or absolute)."""
    tree = ast.parse(path.read_text())
    depth = len(path.relative_to(PACKAGE).parts) - 1
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module and node.module.startswith("trioagent."):
                found.add(node.module.split(".")[1])
            elif node.level > depth and node.module:
                found.add(node.module.split(".")[0])
            elif node.level > depth:
                found.update(a.name for a in node.names if not a.name.startswith("__"))
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names
                         if a.name.startswith("trioagent."))
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    layer = layer_of(path)
    wrong = imported_layers(path) - ALLOWED[layer] - {layer, "__init__"}
    assert not wrong, f"{layer} may not import {sorted(wrong)}"
