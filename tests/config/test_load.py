"""Loading agent files: valid files, and one exact ``file:line: key: message`` per error."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from trioagent.config import (
    DEFAULT_MAX_ITERATIONS,
    AgentFile,
    ModelConfig,
    RemoteConfig,
    ToolsetConfig,
    load_agent_file,
    parse_agent_file,
)
from trioagent.errors import ConfigError

Write = Callable[..., str]


def load(text: str, env: dict[str, str] | None = None) -> AgentFile:
    return parse_agent_file(textwrap.dedent(text).lstrip("\n"), source="agent.yaml", env=env or {})


# --- valid files -------------------------------------------------------------------------


def test_single_agent_with_inline_ref(write: Write) -> None:
    path = write("""
        #!/usr/bin/env docker agent run
        agents:
          root:
            model: openai/gpt-4o
            description: A helpful assistant
            instruction: |
              Be concise.
    """)
    file = load_agent_file(path, env={})
    assert file.source == "agent.yaml"
    assert file.default_agent == "root"
    root = file.agents["root"]
    assert root.description == "A helpful assistant"
    assert root.instruction == "Be concise.\n"
    assert root.max_iterations == DEFAULT_MAX_ITERATIONS
    assert root.toolsets == ()
    assert file.models == {"openai/gpt-4o": ModelConfig(provider="openai", model="gpt-4o")}
    assert file.model_of("root") == ModelConfig(provider="openai", model="gpt-4o")


def test_team_with_models_section_and_sub_agents(write: Write) -> None:
    path = write("""
        version: "2"
        metadata:
          author: Ann
          version: 1.0
        models:
          claude:
            provider: anthropic
            model: claude-sonnet-4-5
            max_tokens: 64000
            temperature: 1
            provider_opts: {thinking: {budget: 1024}}
          fast:
            provider: openai
            model: gpt-4o-mini
            parallel_tool_calls: false
        agents:
          lead:
            model: claude
            description: Leads the team
            sub_agents: [designer, engineer]
            max_iterations: 5
            add_date: true
            toolsets:
              - type: think
              - type: todo
                shared: true
              - type: memory
                path: ./dev_memory.db
          designer:
            model: fast
            welcome_message: Hi!
            toolsets:
              - type: filesystem
                tools: [read_file, list_directory]
          engineer:
            model: claude
            toolsets:
              - type: shell
                timeout: 60
                env: {CI: "1"}
              - type: mcp
                command: uvx
                args: [mcp-server-fetch]
              - type: mcp
                remote:
                  url: https://mcp.example.com/mcp
                  transport_type: streamable
    """)
    file = load_agent_file(path, env={})
    assert list(file.agents) == ["lead", "designer", "engineer"]
    assert file.default_agent == "lead"
    assert file.version == "2"
    assert file.metadata.author == "Ann"
    assert file.metadata.version == "1.0"
    lead = file.agents["lead"]
    assert lead.sub_agents == ("designer", "engineer")
    assert lead.max_iterations == 5
    assert lead.add_date is True
    assert lead.toolsets == (
        ToolsetConfig(type="think"),
        ToolsetConfig(type="todo", shared=True),
        ToolsetConfig(type="memory", path="./dev_memory.db"),
    )
    assert file.agents["designer"].toolsets[0].tools == ("read_file", "list_directory")
    assert file.agents["engineer"].toolsets == (
        ToolsetConfig(type="shell", timeout=60, env={"CI": "1"}),
        ToolsetConfig(type="mcp", command="uvx", args=("mcp-server-fetch",)),
        ToolsetConfig(
            type="mcp",
            remote=RemoteConfig(url="https://mcp.example.com/mcp", transport_type="streamable"),
        ),
    )
    claude = file.model_of("lead")
    assert claude == ModelConfig(
        provider="anthropic",
        model="claude-sonnet-4-5",
        max_tokens=64000,
        temperature=1.0,
        provider_opts={"thinking": {"budget": 1024}},
    )
    assert isinstance(claude.temperature, float)
    assert file.model_of("designer").parallel_tool_calls is False
    assert set(file.models) == {"claude", "fast"}


@pytest.mark.parametrize(
    ("ref", "provider", "model"),
    [
        ("openai/gpt-4o", "openai", "gpt-4o"),
        ("anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5"),
        ("ollama/llama3.2", "ollama", "llama3.2"),
        ("ollama/hf.co/org/model:Q4", "ollama", "hf.co/org/model:Q4"),
        ("local/smollm2", "local", "smollm2"),
    ],
    ids=["openai", "anthropic", "ollama", "slash-in-model", "local"],
)
def test_inline_refs_become_models_entries(ref: str, provider: str, model: str) -> None:
    file = load(f"agents: {{root: {{model: '{ref}'}}}}")
    assert file.models == {ref: ModelConfig(provider=provider, model=model)}
    assert file.model_of("root") == ModelConfig(provider=provider, model=model)


def test_models_key_wins_over_inline_ref() -> None:
    file = load("""
        models:
          openai/gpt-4o: {provider: openai, model: gpt-4o, temperature: 0.2}
        agents:
          root: {model: openai/gpt-4o}
    """)
    assert file.model_of("root").temperature == 0.2


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ModelConfig(provider="local", model="smollm2")),
        ({"OPENAI_API_KEY": ""}, ModelConfig(provider="local", model="smollm2")),
        (
            {"ANTHROPIC_API_KEY": "sk-a"},
            ModelConfig(provider="anthropic", model="claude-sonnet-4-5"),
        ),
        (
            {"ANTHROPIC_API_KEY": "sk-a", "OPENAI_API_KEY": "sk-o"},
            ModelConfig(provider="openai", model="gpt-4o-mini"),
        ),
    ],
    ids=["no-keys", "empty-key", "anthropic", "openai-first"],
)
def test_auto_model_depends_on_keys_in_env(env: dict[str, str], expected: ModelConfig) -> None:
    file = load("agents: {root: {model: auto}, helper: {model: auto}}", env=env)
    assert file.models == {"auto": expected}
    assert file.model_of("helper") == expected


def test_env_defaults_to_process_environment(write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "m")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("WHO", "Ada")
    path = write("agents: {root: {model: auto, instruction: 'Hi ${WHO}'}}")
    file = load_agent_file(path)
    assert file.model_of("root") == ModelConfig(provider="mistral", model="mistral-small-latest")
    assert file.agents["root"].instruction == "Hi Ada"


def test_placeholders_expand_in_documented_keys() -> None:
    file = load(
        """
        models:
          gw:
            provider: my-gateway
            model: m
            base_url: ${env.GATEWAY}/v1
        agents:
          root:
            model: gw
            description: Team ${TEAM}
            welcome_message: Welcome to ${env.TEAM}
            instruction: |
              User ${USER_NAME}. A pizza costs $5; $HOME stays; $${LITERAL} is escaped.
            toolsets:
              - type: mcp
                instruction: not expanded ${TEAM}
                remote:
                  url: https://${HOST}/mcp
                  headers:
                    Authorization: Bearer ${env.TOKEN}
                env:
                  DEBUG: ${EMPTY}
    """,
        env={
            "GATEWAY": "http://gw:4000",
            "TEAM": "blue",
            "USER_NAME": "Ada",
            "HOST": "mcp.example",
            "TOKEN": "t0k",
            "EMPTY": "",
        },
    )
    root = file.agents["root"]
    assert root.description == "Team blue"
    assert root.welcome_message == "Welcome to blue"
    assert root.instruction == ("User Ada. A pizza costs $5; $HOME stays; ${LITERAL} is escaped.\n")
    mcp = root.toolsets[0]
    assert mcp.instruction == "not expanded ${TEAM}"
    assert mcp.remote == RemoteConfig(
        url="https://mcp.example/mcp", headers={"Authorization": "Bearer t0k"}
    )
    assert mcp.env == {"DEBUG": ""}
    assert file.model_of("root").base_url == "http://gw:4000/v1"


def test_unknown_provider_with_base_url_is_accepted() -> None:
    file = load("""
        models:
          mine: {provider: my_gateway, model: gpt-4o, base_url: 'https://gw.example/v1'}
        agents:
          root: {model: mine}
    """)
    assert file.model_of("root").provider == "my_gateway"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", DEFAULT_MAX_ITERATIONS), ("1", 1), ("50", 50), ("null", DEFAULT_MAX_ITERATIONS)],
    ids=["zero-means-default", "one", "fifty", "null-means-default"],
)
def test_max_iterations(value: str, expected: int) -> None:
    file = load(f"agents: {{root: {{model: auto, max_iterations: {value}}}}}")
    assert file.agents["root"].max_iterations == expected


def test_null_values_count_as_absent() -> None:
    file = load("""
        agents:
          root:
            model: auto
            description:
            toolsets:
    """)
    assert file.agents["root"].description == ""
    assert file.agents["root"].toolsets == ()


def test_anchors_and_merge_keys() -> None:
    file = load("""
        models:
          base: &base {provider: openai, model: gpt-4o, temperature: 0.1}
          hot:
            <<: *base
            temperature: 0.9
        agents:
          a: &agent {model: hot, description: shared}
          b: *agent
    """)
    assert file.models["hot"] == ModelConfig(provider="openai", model="gpt-4o", temperature=0.9)
    assert file.agents["b"] == file.agents["a"]


def test_docker_agent_mcp_ref_is_accepted() -> None:
    file = load("""
        agents:
          root:
            model: anthropic/claude-sonnet-4-0
            toolsets:
              - type: mcp
                ref: docker:context7
    """)
    assert file.agents["root"].toolsets[0].ref == "docker:context7"


def test_utf8_bom_and_non_ascii(write: Write) -> None:
    path = write("\ufeffagents: {root: {model: auto, instruction: 'Réponds en français'}}")
    assert load_agent_file(path, env={}).agents["root"].instruction == "Réponds en français"


# --- errors ------------------------------------------------------------------------------

ERRORS = [
    pytest.param(
        """
        agents:
          root:
            model: auto
              instruction: x
        """,
        "agent.yaml:4: invalid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        "agents:\n\troot: {model: auto}\n",
        "agent.yaml:2: invalid YAML: while scanning for the next token, found character "
        "'\\t' that cannot start any token (indent with spaces, not tabs)",
        id="yaml-tab",
    ),
    pytest.param(
        "- root\n- helper\n",
        "agent.yaml:1: the top level must be a mapping with an 'agents:' key, got a list",
        id="top-level-list",
    ),
    pytest.param(
        "# nothing here\n",
        "agent.yaml: the file is empty: it needs an 'agents:' mapping",
        id="empty-file",
    ),
    pytest.param(
        """
        version: "2"
        agents:
        """,
        "agent.yaml:2: agents: no agents defined: add at least one, for example 'root:'",
        id="empty-agents",
    ),
    pytest.param(
        "agents: {}\n",
        "agent.yaml:1: agents: no agents defined: add at least one, for example 'root:'",
        id="empty-agents-mapping",
    ),
    pytest.param(
        "models: {}\n",
        "agent.yaml:1: agents: required",
        id="missing-agents",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            instructions: Be nice.
        """,
        "agent.yaml:4: agents.root.instructions: unknown key (did you mean 'instruction'?)",
        id="unknown-key-suggestion",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
        colour: blue
        """,
        "agent.yaml:4: colour: unknown key",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            commands:
              greet: Say hi
        """,
        "agent.yaml:4: agents.root.commands: a docker-agent key that trioagent does not "
        "support; remove it",
        id="docker-agent-only-key",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: filesystem
                read_only: true
        """,
        "agent.yaml:6: agents.root.toolsets[0].read_only: unknown key",
        id="unknown-toolset-key",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            max_iterations: ten
        """,
        "agent.yaml:4: agents.root.max_iterations: expected an integer, got 'ten'",
        id="string-for-int",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            max_iterations: 2.5
        """,
        "agent.yaml:4: agents.root.max_iterations: expected an integer, got 2.5",
        id="float-for-int",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            add_date: "true"
        """,
        "agent.yaml:4: agents.root.add_date: expected true or false, got 'true'",
        id="string-for-bool",
    ),
    pytest.param(
        """
        agents:
          root:
            model: 4
        """,
        "agent.yaml:3: agents.root.model: expected a string, got 4",
        id="int-for-string",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            sub_agents: helper
          helper:
            model: auto
        """,
        "agent.yaml:4: agents.root.sub_agents: expected a list, got 'helper'",
        id="string-for-list",
    ),
    pytest.param(
        """
        models:
          m:
            provider: openai
            model: gpt-4o
            temperature: hot
        agents:
          root: {model: m}
        """,
        "agent.yaml:5: models.m.temperature: expected a number, got 'hot'",
        id="string-for-float",
    ),
    pytest.param(
        """
        agents:
          root: auto
        """,
        "agent.yaml:2: agents.root: expected a mapping, got 'auto'",
        id="string-for-agent",
    ),
    pytest.param(
        """
        agents:
          root:
            description: no model
        """,
        "agent.yaml:2: agents.root.model: required",
        id="missing-model",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: filesystm
        """,
        "agent.yaml:5: agents.root.toolsets[0].type: unknown toolset type 'filesystm' "
        "(did you mean 'filesystem'?); valid types: filesystem, shell, think, todo, memory, mcp",
        id="unknown-toolset-type",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - tools: [read_file]
        """,
        "agent.yaml:5: agents.root.toolsets[0].type: required",
        id="missing-toolset-type",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: shell
                path: x.db
        """,
        "agent.yaml:6: agents.root.toolsets[0].path: only valid for toolsets of type memory",
        id="toolset-key-for-other-type",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: mcp
        """,
        "agent.yaml:5: agents.root.toolsets[0]: an mcp toolset needs one of command, remote or ref",
        id="mcp-without-server",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: mcp
                command: uvx
                ref: docker:fetch
        """,
        "agent.yaml:7: agents.root.toolsets[0].ref: an mcp toolset takes only one of "
        "command, remote or ref, got command too",
        id="mcp-with-two-servers",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            toolsets:
              - type: shell
                timeout: 0
        """,
        "agent.yaml:6: agents.root.toolsets[0].timeout: must be at least 1 (seconds)",
        id="shell-timeout-zero",
    ),
    pytest.param(
        """
        models:
          fast: {provider: openai, model: gpt-4o-mini}
        agents:
          root:
            model: fsat
        """,
        "agent.yaml:5: agents.root.model: unknown model 'fsat' (did you mean 'fast'?): "
        "use a key of 'models:', an inline ref such as 'openai/gpt-4o', or 'auto'",
        id="unknown-model",
    ),
    pytest.param(
        """
        agents:
          root:
            model: opnai/gpt-4o
        """,
        "agent.yaml:3: agents.root.model: unknown provider 'opnai' in 'opnai/gpt-4o' "
        "(did you mean 'openai'?): use one of openai, anthropic, mistral, xai, ollama, vllm, "
        "llamacpp, lmstudio, local, or define the model under 'models:' with a base_url",
        id="unknown-inline-provider",
    ),
    pytest.param(
        """
        agents:
          root:
            model: openai/
        """,
        "agent.yaml:3: agents.root.model: invalid model reference 'openai/': expected "
        "'provider/model', for example 'openai/gpt-4o'",
        id="bad-inline-ref",
    ),
    pytest.param(
        """
        models:
          m:
            provider: acme
            model: big
        agents:
          root: {model: m}
        """,
        "agent.yaml:3: models.m.provider: unknown provider 'acme': use one of openai, "
        "anthropic, mistral, xai, ollama, vllm, llamacpp, lmstudio, local, or set base_url "
        "to use an OpenAI-compatible server",
        id="unknown-provider-without-base-url",
    ),
    pytest.param(
        """
        models:
          m:
            model: gpt-4o
        agents:
          root: {model: m}
        """,
        "agent.yaml:2: models.m.provider: required",
        id="model-missing-provider",
    ),
    pytest.param(
        """
        models:
          m:
            provider: openai
        agents:
          root: {model: m}
        """,
        "agent.yaml:2: models.m.model: required",
        id="model-missing-model",
    ),
    pytest.param(
        """
        models:
          m:
            provider: openai
            model: ""
        agents:
          root: {model: m}
        """,
        "agent.yaml:4: models.m.model: must not be empty",
        id="model-empty-model",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            sub_agents: [helper, writter]
          helper: {model: auto}
          writer: {model: auto}
        """,
        "agent.yaml:4: agents.root.sub_agents[1]: unknown agent 'writter' "
        "(did you mean 'writer'?); agents in this file: root, helper, writer",
        id="unknown-sub-agent",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            sub_agents:
              - root
        """,
        "agent.yaml:5: agents.root.sub_agents[0]: an agent cannot be its own sub-agent",
        id="self-sub-agent",
    ),
    pytest.param(
        """
        agents:
          my agent:
            model: auto
        """,
        "agent.yaml:2: agents.my agent: invalid agent name: use only letters, digits, "
        "'.', '_' and '-' (it is the API's model id)",
        id="bad-agent-name",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            max_iterations: -1
        """,
        "agent.yaml:4: agents.root.max_iterations: must be at least 1 (0 means the default, 20)",
        id="negative-max-iterations",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            instruction: |
              You help ${TEAM_NAME}.
        """,
        "agent.yaml:4: agents.root.instruction: environment variable TEAM_NAME is not set "
        "(used as ${TEAM_NAME}); set it, pass --env-from-file, or write $${...} for a "
        "literal ${...}",
        id="unset-variable",
    ),
    pytest.param(
        """
        models:
          m: {provider: x, model: y, base_url: "${env.X_URL}"}
        agents:
          root: {model: m}
        """,
        "agent.yaml:2: models.m.base_url: environment variable X_URL is not set "
        "(used as ${X_URL}); set it, pass --env-from-file, or write $${...} for a "
        "literal ${...}",
        id="unset-variable-base-url",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
          root:
            model: openai/gpt-4o
        """,
        "agent.yaml:4: agents.root: duplicate key (first defined on line 2)",
        id="duplicate-key",
    ),
    pytest.param(
        """
        agents:
          yes: {model: auto}
        """,
        "agent.yaml:2: agents: keys must be strings, got true (quote it)",
        id="non-string-key",
    ),
    pytest.param(
        """
        agents:
          root:
            model: auto
            max_iterations: ten
            instructions: x
            toolsets:
              - type: nope
        """,
        "agent.yaml:4: agents.root.max_iterations: expected an integer, got 'ten'",
        id="first-problem-in-file-order",
    ),
]


@pytest.mark.parametrize(("text", "message"), ERRORS)
def test_errors_name_file_line_and_key(write: Write, text: str, message: str) -> None:
    path = write(text)
    with pytest.raises(ConfigError) as info:
        load_agent_file(path, env={})
    assert str(info.value) == message


def test_error_carries_path_line_and_key(write: Write) -> None:
    path = write("""
        agents:
          root:
            model: auto
            max_iterations: ten
    """)
    with pytest.raises(ConfigError) as info:
        load_agent_file(path, env={})
    assert (info.value.path, info.value.line, info.value.key) == (
        "agent.yaml",
        4,
        "agents.root.max_iterations",
    )
    assert info.value.message == "expected an integer, got 'ten'"


def test_error_shows_the_path_as_given(write: Write) -> None:
    write("agents: {root: {model: nope}}\n", name="team.yaml")
    with pytest.raises(ConfigError, match=r"^\./team\.yaml:1: agents\.root\.model: "):
        load_agent_file("./team.yaml", env={})


def test_missing_file_is_a_config_error(write: Write) -> None:
    write("agents: {}\n")
    with pytest.raises(ConfigError) as info:
        load_agent_file("missing.yaml", env={})
    assert str(info.value) == "missing.yaml: cannot read agent file: No such file or directory"


def test_binary_file_is_a_config_error(write: Write) -> None:
    write("")
    with open("bin.yaml", "wb") as f:
        f.write(b"\xff\xfe\x00agents")
    with pytest.raises(ConfigError) as info:
        load_agent_file("bin.yaml", env={})
    assert str(info.value) == "bin.yaml: cannot read agent file: not UTF-8 text"


def test_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n"
        for p, n in zip("abcdef", "bcdefg", strict=True)
    )
    with pytest.raises(ConfigError, match="nested too deeply or is too large"):
        load(bomb)


def test_docker_agent_toolset_type_is_named_as_such() -> None:
    with pytest.raises(ConfigError) as info:
        load("""
            agents:
              root:
                model: auto
                toolsets:
                  - type: fetch
        """)
    assert str(info.value) == (
        "agent.yaml:5: agents.root.toolsets[0].type: toolset type 'fetch' is a docker-agent "
        "type that trioagent does not support; valid types: filesystem, shell, think, todo, "
        "memory, mcp"
    )
