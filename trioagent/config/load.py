"""Load an agent file: YAML text -> a checked, resolved :class:`AgentFile`.

The steps, each of which reports ``file:line: key: message`` as a ``ConfigError``:

1. parse the YAML, keeping the line of every key (``config._yaml``);
2. expand ``${NAME}`` / ``${env.NAME}`` in the keys listed in :data:`EXPANDED_KEYS`;
3. structure it with the strict converter (``config.convert``): unknown keys, wrong
   types and missing keys;
4. load the agent files that ``sub_agents`` entries reference (``config.external``),
   through the caller's ``fetch``, and merge their agents in;
5. check what types cannot say: agent names, ``max_iterations``, which toolset keys go
   with which type, sub-agents, providers;
6. resolve each agent's ``model``: a key of ``models:``, an inline ref
   (``openai/gpt-4o``) or ``auto``; refs and ``auto`` are added to ``models`` under
   that string, so ``file.model_of(agent)`` always works.

API keys are not checked here: call ``refs.check_api_keys`` once the CLI has applied
``--env-from-file`` and ``--models-gateway``.

The loader reads local files only. Agents by registry reference come through a
:class:`FetchAgent` the caller passes (the CLI passes ``trioagent.oci.agent_fetcher``),
so ``config`` does no network I/O and imports nothing of ``oci``.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any, Final, Protocol

import attrs

from trioagent.errors import ConfigError, RegistryError, TrioagentError

from ._yaml import Document, parse_document
from .convert import ConfigProblem, InvalidConfig, KeyPath, structure_file, suggest
from .env import UnsetVariable, expand
from .env import read_env_file as read_env_file
from .external import MAX_DEPTH, is_agent_reference, merge_external, replace_sub_agent
from .refs import AUTO, PROVIDERS, parse_model_ref, provider_defaults, resolve_auto
from .schema import DEFAULT_MAX_ITERATIONS, AgentConfig, AgentFile, ModelConfig, ToolsetConfig

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

AGENT_NAME: Final = re.compile(r"[A-Za-z0-9._-]+")
"""Agent names become OpenAI model ids, so they are restricted to these characters."""

EXPANDED_KEYS: Final[tuple[str, ...]] = (
    "agents.*.instruction",
    "agents.*.description",
    "agents.*.welcome_message",
    "agents.*.toolsets[*].env.*",
    "agents.*.toolsets[*].remote.url",
    "agents.*.toolsets[*].remote.headers.*",
    "models.*.base_url",
)
"""The keys whose string values get ``${NAME}`` expansion (``*``: any key or index)."""

# Toolset keys that only mean something for some toolset types (docker-agent's rules).
_TOOLSET_KEY_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "path": ("memory",),
    "timeout": ("shell",),
    "shared": ("todo",),
    "env": ("shell", "mcp"),
    "command": ("mcp",),
    "args": ("mcp",),
    "remote": ("mcp",),
    "ref": ("mcp",),
    "allow_when_restricted": ("shell", "filesystem"),
}


class FetchAgent(Protocol):
    """Gets an agent file that is not on disk, such as an agent in an OCI registry.

    The loader calls it with a ``source`` (the file argument, or a ``sub_agents`` entry
    that names no agent of the file) when no local file has that name.
    :func:`trioagent.oci.agent_fetcher` makes one that pulls registry references.
    """

    def __call__(self, source: str, /) -> str | None:
        """The YAML text of ``source``, or ``None`` when it names nothing this fetches
        (it is then read as a local file, whose absence is the error).

        Raises:
            RegistryError: ``source`` names an agent that cannot be fetched.
        """
        ...


def load_agent_file(
    source: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    fetch: FetchAgent | None = None,
) -> AgentFile:
    """Load and check an agent file, or an agent that ``fetch`` gets (from an OCI registry).

    Args:
        source: the YAML file, or what ``fetch`` takes when no such file exists (a
            registry reference: ``agentcatalog/pirate``,
            ``registry.example.com/team/agent:1.2``, ``...@sha256:...``). Errors show it
            as given.
        env: where ``${NAME}`` placeholders and ``model: auto`` look; ``os.environ``
            when ``None``.
        fetch: gets ``source`` and the agent files ``sub_agents`` entries reference
            when they are not local files (``trioagent.oci.agent_fetcher(...)``);
            ``None``: local files only.

    Returns:
        The agent file, with ``source`` set and every agent's model resolved.

    Raises:
        ConfigError: the file cannot be read or is invalid; the message is
            ``file:line: key: what to fix``.
        RegistryError: ``source`` is a reference that ``fetch`` cannot pull.
    """
    return _load(os.fspath(source), env, fetch, depth=0)


def _load(
    shown: str, env: Mapping[str, str] | None, fetch: FetchAgent | None, depth: int
) -> AgentFile:
    text = None
    if fetch is not None and not os.path.exists(shown):
        try:
            text = fetch(shown)
        except RegistryError as exc:
            raise RegistryError(
                f"{shown} is not a local file, and pulling it from a registry failed: {exc}"
            ) from None
    if text is None:
        try:
            with open(shown, encoding="utf-8-sig") as f:
                text = f.read()
        except UnicodeDecodeError:
            raise ConfigError("cannot read agent file: not UTF-8 text", path=shown) from None
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(f"cannot read agent file: {reason}", path=shown) from None
    return _parse(text, shown, env, fetch, depth)


def parse_agent_file(
    text: str,
    *,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    fetch: FetchAgent | None = None,
) -> AgentFile:
    """Like :func:`load_agent_file`, for YAML text already in memory.

    Args:
        text: the YAML document.
        source: the name errors and ``AgentFile.source`` show.
        env, fetch: as for :func:`load_agent_file` (``fetch`` gets the sub-agents
            referenced by ``sub_agents`` entries).
    """
    return _parse(text, source, env, fetch, depth=0)


def _parse(
    text: str,
    source: str,
    env: Mapping[str, str] | None,
    fetch: FetchAgent | None,
    depth: int,
) -> AgentFile:
    env = os.environ if env is None else env
    doc = parse_document(text, source)
    if doc.data is None:
        raise ConfigError("the file is empty: it needs an 'agents:' mapping", path=source)
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else "a single value"
        raise doc.error((), f"the top level must be a mapping with an 'agents:' key, got {kind}")
    agents = doc.data.get("agents", ...)
    if agents is None or agents == {}:
        raise doc.error(("agents",), "no agents defined: add at least one, for example 'root:'")
    _expand_placeholders(doc, env)
    try:
        file = structure_file(doc.data)
    except InvalidConfig as exc:
        raise _first_error(doc, exc.problems) from None
    file = _include_sub_agent_refs(doc, file, env, fetch, depth)
    return _resolve(doc, file, env)


def _include_sub_agent_refs(
    doc: Document,
    file: AgentFile,
    env: Mapping[str, str],
    fetch: FetchAgent | None,
    depth: int,
) -> AgentFile:
    """Load the agent files that ``sub_agents`` entries reference and merge them in."""
    names: dict[str, str] = {}  # reference -> the name its agent got
    for agent, config in list(file.agents.items()):
        for index, entry in enumerate(config.sub_agents):
            if not is_agent_reference(entry, file) or entry in names:
                continue
            here: KeyPath = ("agents", agent, "sub_agents", index)
            if depth + 1 >= MAX_DEPTH:
                raise doc.error(
                    here,
                    f"sub-agent references nest deeper than {MAX_DEPTH} files: is there a cycle?",
                )
            try:
                external = _load(entry, env, fetch, depth + 1)
            except TrioagentError as exc:
                raise doc.error(here, f"cannot load sub-agent {entry!r}: {exc}") from None
            file, names[entry] = merge_external(file, entry, external)
    if not names:
        return file
    agents = dict(file.agents)
    for agent, config in agents.items():
        for ref, name in names.items():
            config = replace_sub_agent(config, ref, name)
        agents[agent] = config
    return attrs.evolve(file, agents=agents)


def _first_error(doc: Document, problems: list[ConfigProblem]) -> ConfigError:
    """The error for the problem that comes first in the file (cattrs goes by schema)."""
    first = min(problems, key=lambda p: doc.line_of(p.path) or 0)
    return doc.error(first.path, first.message)


def _expand_placeholders(doc: Document, env: Mapping[str, str]) -> None:
    for pattern in EXPANDED_KEYS:
        parts = re.findall(r"\[\*\]|[^.\[\]]+", pattern)
        for path, parent, key in _matches(doc.data, parts, ()):
            value = parent[key]
            if not isinstance(value, str):
                continue  # the converter reports the wrong type
            try:
                parent[key] = expand(value, env)
            except UnsetVariable as exc:
                raise doc.error(
                    path,
                    f"environment variable {exc.name} is not set (used as ${{{exc.name}}}); "
                    "set it, pass --env-from-file, or write $${...} for a literal ${...}",
                ) from None


def _matches(node: Any, parts: list[str], path: KeyPath) -> Iterator[tuple[KeyPath, Any, Any]]:
    """(path, container, key) of every value ``parts`` selects, skipping wrong shapes."""
    head, rest = parts[0], parts[1:]
    if head == "[*]":
        keys: list[Any] = list(range(len(node))) if isinstance(node, list) else []
    elif not isinstance(node, dict):
        keys = []
    elif head == "*":
        keys = [k for k in node if isinstance(k, str)]
    else:
        keys = [head] if head in node else []
    for key in keys:
        if rest:
            yield from _matches(node[key], rest, (*path, key))
        else:
            yield (*path, key), node, key


def _resolve(doc: Document, file: AgentFile, env: Mapping[str, str]) -> AgentFile:
    problems: list[ConfigProblem] = []
    agents: dict[str, AgentConfig] = {}
    for name, agent in file.agents.items():
        here: KeyPath = ("agents", name)
        if not AGENT_NAME.fullmatch(name):
            problems.append(
                ConfigProblem(
                    here,
                    "invalid agent name: use only letters, digits, "
                    "'.', '_' and '-' (it is the API's model id)",
                )
            )
        if agent.max_iterations < 0:
            problems.append(
                ConfigProblem(
                    (*here, "max_iterations"),
                    f"must be at least 1 (0 means the default, {DEFAULT_MAX_ITERATIONS})",
                )
            )
        elif agent.max_iterations == 0:
            agent = attrs.evolve(agent, max_iterations=DEFAULT_MAX_ITERATIONS)
        for index, toolset in enumerate(agent.toolsets):
            problems.extend(_check_toolset(toolset, (*here, "toolsets", index)))
        problems.extend(_check_sub_agents(file, name, agent))
        agents[name] = agent

    models = dict(file.models)
    for name, model in file.models.items():
        problems.extend(_check_model(model, ("models", name)))
    for name, agent in file.agents.items():
        problems.extend(_resolve_model(agent.model, models, ("agents", name, "model"), env))
    if problems:
        raise _first_error(doc, problems)
    return attrs.evolve(file, agents=agents, models=models, source=doc.source)


def _check_toolset(toolset: ToolsetConfig, here: KeyPath) -> list[ConfigProblem]:
    problems = []
    defaults = ToolsetConfig(type=toolset.type)
    for key, types in _TOOLSET_KEY_TYPES.items():
        if toolset.type not in types and getattr(toolset, key) != getattr(defaults, key):
            problems.append(
                ConfigProblem((*here, key), f"only valid for toolsets of type {' or '.join(types)}")
            )
    if toolset.timeout is not None and toolset.timeout < 1:
        problems.append(ConfigProblem((*here, "timeout"), "must be at least 1 (seconds)"))
    if toolset.type == "mcp":
        sources = [k for k in ("command", "remote", "ref") if getattr(toolset, k) is not None]
        if not sources:
            problems.append(
                ConfigProblem(here, "an mcp toolset needs one of command, remote or ref")
            )
        elif len(sources) > 1:
            problems.append(
                ConfigProblem(
                    (*here, sources[1]),
                    f"an mcp toolset takes only one of command, remote or ref, "
                    f"got {sources[0]} too",
                )
            )
    return problems


def _check_sub_agents(file: AgentFile, name: str, agent: AgentConfig) -> list[ConfigProblem]:
    problems = []
    for index, sub in enumerate(agent.sub_agents):
        here: KeyPath = ("agents", name, "sub_agents", index)
        if sub == name:
            problems.append(ConfigProblem(here, "an agent cannot be its own sub-agent"))
        elif sub not in file.agents:
            problems.append(
                ConfigProblem(
                    here,
                    f"unknown agent {sub!r}{suggest(sub, file.agents)}; "
                    f"agents in this file: {', '.join(file.agents)}",
                )
            )
    return problems


def _check_model(model: ModelConfig, here: KeyPath) -> list[ConfigProblem]:
    for key in ("provider", "model"):
        if not getattr(model, key).strip():
            return [ConfigProblem((*here, key), "must not be empty")]
    try:
        provider_defaults(model)
    except ConfigError as exc:
        return [ConfigProblem((*here, "provider"), exc.message)]
    return []


def _resolve_model(
    ref: str, models: dict[str, ModelConfig], here: KeyPath, env: Mapping[str, str]
) -> list[ConfigProblem]:
    """Make ``models[ref]`` exist, or say why it cannot."""
    if ref in models:
        return []
    if ref == AUTO:
        models[ref] = resolve_auto(env)
        return []
    if "/" not in ref:
        return [
            ConfigProblem(
                here,
                (
                    f"unknown model {ref!r}{suggest(ref, models)}: use a key of 'models:', "
                    f"an inline ref such as 'openai/gpt-4o', or '{AUTO}'"
                ),
            )
        ]
    try:
        model = parse_model_ref(ref)
    except ConfigError as exc:
        return [ConfigProblem(here, exc.message)]
    if model.provider not in PROVIDERS:
        return [
            ConfigProblem(
                here,
                (
                    f"unknown provider {model.provider!r} in {ref!r}"
                    f"{suggest(model.provider, PROVIDERS)}"
                    f": use one of {', '.join(PROVIDERS)}, or define the model under 'models:' "
                    "with a base_url"
                ),
            )
        ]
    models[ref] = model
    return []
