"""The strict config converter, on its own."""

from __future__ import annotations

from typing import Any

import pytest

from trioagent.config import AgentConfig, ModelConfig, ToolsetConfig, converter
from trioagent.config.convert import InvalidConfig, describe, format_path, structure_file


@pytest.mark.parametrize(
    ("data", "cl", "expected"),
    [
        ({"model": "m", "add_date": True}, AgentConfig, AgentConfig(model="m", add_date=True)),
        (
            {"provider": "p", "model": "m", "temperature": 1},
            ModelConfig,
            ModelConfig(provider="p", model="m", temperature=1.0),
        ),
        (
            {"type": "mcp", "args": ["-y", "x"]},
            ToolsetConfig,
            ToolsetConfig(type="mcp", args=("-y", "x")),
        ),
    ],
    ids=["bool", "int-as-float", "list-as-tuple"],
)
def test_structures_exact_types(data: dict[str, Any], cl: type, expected: object) -> None:
    assert converter.structure(data, cl) == expected


def test_collects_every_problem_with_its_path() -> None:
    with pytest.raises(InvalidConfig) as info:
        structure_file(
            {
                "agents": {"root": {"model": 1, "toolsets": [{"type": "x"}], "bogus": 1}},
                "source": "no",
            }
        )
    found = {(format_path(p.path), p.message) for p in info.value.problems}
    assert found == {
        ("agents.root.model", "expected a string, got 1"),
        (
            "agents.root.toolsets[0].type",
            "unknown toolset type 'x'; valid types: filesystem, shell, think, todo, memory, mcp",
        ),
        ("agents.root.bogus", "unknown key"),
        ("source", "unknown key"),
    }


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        ("x", "'x'"),
        (3, "3"),
        (2.5, "2.5"),
        ([1], "a list"),
        ({"a": 1}, "a mapping"),
        ("y" * 50, repr("y" * 37 + "...")),
    ],
)
def test_describe(value: object, text: str) -> None:
    assert describe(value) == text


def test_format_path() -> None:
    assert format_path(("agents", "root", "toolsets", 0, "type")) == "agents.root.toolsets[0].type"
    assert format_path(()) == ""
