"""Agents as OCI artifacts: pull, push and cache them (docker-agent's layout).

    agent = pull("agentcatalog/pirate")          # -> PulledAgent(yaml=..., path=...)
    digest = push(text, "localhost:5000/team/agent:1.0", version=__version__, insecure=True)

Runs before the trio event loop starts, so it is synchronous. Imports only
``trioagent.errors`` of our code.
"""

from .artifact import AUTHORS as AUTHORS
from .artifact import DESCRIPTION as DESCRIPTION
from .artifact import LICENSES as LICENSES
from .artifact import REVISION as REVISION
from .cache import Cache as Cache
from .cache import default_cache_dir as default_cache_dir
from .client import RegistryClient as RegistryClient
from .credentials import Credentials as Credentials
from .credentials import find_credentials as find_credentials
from .pull import PulledAgent as PulledAgent
from .pull import agent_fetcher as agent_fetcher
from .pull import pull as pull
from .push import push as push
from .ref import Reference as Reference
from .ref import looks_like_reference as looks_like_reference
from .ref import parse_reference as parse_reference
