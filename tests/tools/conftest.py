from __future__ import annotations

from pathlib import Path

import pytest

from trioagent.tools import ToolContext


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def ctx(work_dir: Path) -> ToolContext:
    return ToolContext(working_dir=work_dir, state={})
