"""Sub-agents from other agent files: how their agents and models are merged in."""

from __future__ import annotations

import pytest

from trioagent.config import parse_agent_file
from trioagent.config.external import is_agent_reference, merge_external

MAIN = """\
agents:
  root:
    model: openai/gpt-4o
    sub_agents: [helper, registry.example.com/team/pirate:1.2]
  helper:
    model: openai/gpt-4o
"""
PIRATE = """\
agents:
  captain:
    model: fast
    instruction: Arr.
    sub_agents: [parrot]
  parrot:
    model: anthropic/claude-sonnet-4-0
models:
  fast: {provider: openai, model: gpt-4o-mini}
"""


def test_a_reference_is_an_entry_with_a_slash_that_is_no_agent() -> None:
    file = parse_agent_file("agents:\n  root: {model: openai/gpt-4o}\n", env={})
    assert is_agent_reference("agentcatalog/pirate", file)
    assert is_agent_reference("localhost:5000/a/b@sha256:" + "0" * 64, file)
    assert not is_agent_reference("root", file)
    assert not is_agent_reference("helper", file)


def test_merged_agents_are_renamed_after_the_repository() -> None:
    main = parse_agent_file(MAIN.replace(", registry.example.com/team/pirate:1.2", ""), env={})
    pirate = parse_agent_file(PIRATE, env={})
    merged, name = merge_external(main, "registry.example.com/team/pirate:1.2", pirate)
    assert name == "pirate"
    assert list(merged.agents) == ["root", "helper", "pirate", "pirate.parrot"]
    assert merged.agents["pirate"].instruction == "Arr."
    assert merged.agents["pirate"].sub_agents == ("pirate.parrot",)
    assert merged.model_of("pirate").model == "gpt-4o-mini"
    assert merged.model_of("pirate.parrot").provider == "anthropic"
    assert merged.default_agent == "root"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("agentcatalog/root", "root-2"),
        ("x/helper@sha256:" + "a" * 64, "helper-2"),
        ("localhost:5000/Some_Team/my.agent:latest", "my.agent"),
    ],
)
def test_a_taken_name_gets_a_number(ref: str, expected: str) -> None:
    main = parse_agent_file(
        "agents:\n  root: {model: openai/gpt-4o}\n  helper: {model: openai/gpt-4o}\n", env={}
    )
    pirate = parse_agent_file(PIRATE, env={})
    _, name = merge_external(main, ref, pirate)
    assert name == expected
