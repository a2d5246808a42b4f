"""Agent files in the docker-agent YAML format: types, loading, providers.

    file = load_agent_file("agent.yaml")
    check_api_keys(file, os.environ)
    file.model_of(file.default_agent)  # -> ModelConfig

Imports only ``trioagent.errors``: no network I/O. Agents by registry reference come
through the ``fetch`` the caller passes (``load_agent_file(path, fetch=agent_fetcher())``,
with ``trioagent.oci.agent_fetcher``).
"""

from .convert import converter as converter
from .env import expand as expand
from .env import read_env_file as read_env_file
from .load import FetchAgent as FetchAgent
from .load import load_agent_file as load_agent_file
from .load import parse_agent_file as parse_agent_file
from .refs import AUTO as AUTO
from .refs import PROVIDERS as PROVIDERS
from .refs import ProviderDefaults as ProviderDefaults
from .refs import apply_models_gateway as apply_models_gateway
from .refs import base_url_of as base_url_of
from .refs import check_api_keys as check_api_keys
from .refs import is_local_url as is_local_url
from .refs import parse_model_ref as parse_model_ref
from .refs import provider_defaults as provider_defaults
from .refs import resolve_auto as resolve_auto
from .refs import token_key_of as token_key_of
from .schema import DEFAULT_MAX_ITERATIONS as DEFAULT_MAX_ITERATIONS
from .schema import TOOLSET_TYPES as TOOLSET_TYPES
from .schema import AgentConfig as AgentConfig
from .schema import AgentFile as AgentFile
from .schema import Metadata as Metadata
from .schema import ModelConfig as ModelConfig
from .schema import RemoteConfig as RemoteConfig
from .schema import ToolsetConfig as ToolsetConfig
