"""The agent files shown in README.md and docs/*.md load.

Every ```yaml block with a top-level ``agents:`` is parsed as an agent file. A sub-agent
given by registry reference (``agentcatalog/pirate``) is served by a local stand-in file
of that name, as the loader reads a reference that names an existing file as that file:
the test needs no registry, and still checks that every other name in the example is
defined. The commands of the docs are checked in ``tests/test_docs_examples.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from trioagent.config import parse_agent_file
from trioagent.oci import looks_like_reference

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.S | re.M)
STAND_IN = "agents:\n  root:\n    model: openai/gpt-4o-mini\n    description: A stand-in\n"


def agent_files() -> list[tuple[str, str]]:
    """``(where, text)`` of every agent file in the docs; ``where`` is ``doc:line``."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            if re.search(r"^agents:", match[1], re.M):
                line = text.count("\n", 0, match.start()) + 2
                found.append((f"{doc.relative_to(ROOT)}:{line}", match[1]))
    return found


EXAMPLES = agent_files()


def test_the_docs_have_agent_files() -> None:
    docs = {where.split(":")[0] for where, _ in EXAMPLES}
    assert len(EXAMPLES) >= 6
    assert {"docs/configuration.md", "docs/registry.md", "docs/serve-chat.md"} <= docs


@pytest.mark.parametrize(("where", "text"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_doc_example_loads(
    where: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = yaml.safe_load(text)["agents"]
    for agent in agents.values():
        for entry in agent.get("sub_agents") or []:
            if entry not in agents and looks_like_reference(entry):
                (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / entry).write_text(STAND_IN)
    monkeypatch.chdir(tmp_path)
    file = parse_agent_file(text, source=where, env={})
    for name in file.agents:
        assert file.model_of(name).model
