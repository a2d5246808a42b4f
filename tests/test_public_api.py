"""The public surface: what ``import trioagent`` offers a program that embeds it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import trioagent

PUBLIC = [
    "AgentFile",
    "ConfigError",
    "MissingAPIKey",
    "ModelError",
    "RegistryError",
    "ServeOptions",
    "StoreUnavailable",
    "TrioagentError",
    "__version__",
    "load_agent_file",
    "parse_agent_file",
    "serve_a2a",
    "serve_api",
    "serve_chat",
    "serve_mcp",
]


def test_the_public_names_are_pinned() -> None:
    assert sorted(trioagent.__all__) == PUBLIC
    assert trioagent.__all__ == PUBLIC, "keep __all__ sorted"


@pytest.mark.parametrize("name", [n for n in PUBLIC if not n.startswith("__")])
def test_each_public_name_is_importable_and_documented(name: str) -> None:
    value = getattr(trioagent, name)
    assert value.__module__.startswith("trioagent.")
    assert (value.__doc__ or "").strip(), f"{name} has no docstring"


def test_version_is_the_installed_one() -> None:
    assert trioagent.__version__ == importlib.metadata.version("trioagent")


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        trioagent.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_import_trioagent_leaves_the_server_unimported() -> None:
    """``import trioagent`` runs before any submodule import, so it stays fast: the
    loader and the server come on first use of their names."""
    code = (
        "import sys, trioagent; print(sorted(m for m in sys.modules if m.startswith('trioagent.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "['trioagent.errors']"
