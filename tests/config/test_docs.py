"""The agent files shown in docs/configuration.md load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from trioagent.config import parse_agent_file

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"
EXAMPLES = [
    block for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    if block.startswith("agents:") or "\nagents:" in block
]


def test_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("text", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_doc_example_loads(text: str) -> None:
    file = parse_agent_file(text, source="docs/configuration.md", env={})
    for name in file.agents:
        assert file.model_of(name).model
