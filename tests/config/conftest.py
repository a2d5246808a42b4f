"""Helpers for config tests: agent files written to a temporary working directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Write dedented text to a file in a fresh working directory; return its relative
    name, so that error messages read ``agent.yaml:3: ...`` exactly."""
    monkeypatch.chdir(tmp_path)

    def write_file(text: str, name: str = "agent.yaml") -> str:
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return name

    return write_file
