"""Model clients behind one protocol.

client = open_model_client(cfg, env=os.environ)
async with client.stream(messages, tools, Sampling()) as events:
    async for event in events:  # TextDelta | ToolCallDelta | UsageReport | Finished
        ...
await client.aclose()
"""

from .anthropic import AnthropicClient as AnthropicClient
from .base import Finished as Finished
from .base import ModelClient as ModelClient
from .base import ModelEvent as ModelEvent
from .base import ModelStream as ModelStream
from .base import TextDelta as TextDelta
from .base import ToolCallDelta as ToolCallDelta
from .base import UsageReport as UsageReport
from .base import coalesce as coalesce
from .local import LocalClient as LocalClient
from .openai_compat import OpenAICompatClient as OpenAICompatClient
from .providers import open_model_client as open_model_client
from .providers import sampling_of as sampling_of
from .retry import RetryPolicy as RetryPolicy
