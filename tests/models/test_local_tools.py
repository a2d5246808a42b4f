"""llama.cpp's own tool-call path, on a model whose chat template knows tools.

SmolLM2's template knows none, so these tests give a copy of its file a ChatML template
with tools in the Hermes / Qwen 2.5 convention: llama.cpp then renders the tools, the
calls and their results in that format, not trioagent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
from local_model import require_local_model

require_local_model()

from trioagent.chat import Message, Sampling, ToolCall, ToolSpec  # noqa: E402
from trioagent.config.schema import ModelConfig  # noqa: E402
from trioagent.models import Finished, ModelEvent, UsageReport  # noqa: E402
from trioagent.models.local import LocalClient  # noqa: E402

from .gguf_edit import replace_string  # noqa: E402

TOOLS_TEMPLATE = """\
{%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}\
{%- set rest = messages[1:] %}{%- else %}{%- set system = 'You are a helpful assistant.' %}\
{%- set rest = messages %}{%- endif %}
{{- '<|im_start|>system\\n' + system }}
{%- if tools %}
{{- '\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\
\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}
{{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and \
arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{"name": <function-name>, \
"arguments": <args-json-object>}\\n</tool_call>' }}
{%- endif %}
{{- '<|im_end|>\\n' }}
{%- for message in rest %}
{%- if message.role == 'assistant' and message.tool_calls %}
{{- '<|im_start|>assistant' }}{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}
{%- for tool_call in message.tool_calls %}{%- set f = tool_call.function %}
{{- '\\n<tool_call>\\n{"name": "' + f.name + '", "arguments": ' }}\
{%- if f.arguments is string %}{{- f.arguments }}{%- else %}{{- f.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}{%- endfor %}{{- '<|im_end|>\\n' }}
{%- elif message.role == 'tool' %}
{{- '<|im_start|>user\\n<tool_response>\\n' + message.content }}\
{{- '\\n</tool_response><|im_end|>\\n' }}
{%- else %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""

WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather in a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
ASK = [
    Message.system("You report the weather. Use the tools."),
    Message.user("What is the weather in Paris?"),
]


@pytest.fixture(scope="session")
def tools_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = LocalClient(ModelConfig(provider="local", model="smollm2")).path
    target = tmp_path_factory.mktemp("gguf") / "smollm2-tools.gguf"
    replace_string(source, target, "tokenizer.chat_template", TOOLS_TEMPLATE)
    return target


@pytest.fixture
def client(tools_gguf: Path) -> LocalClient:
    return LocalClient(
        ModelConfig(
            provider="local", model=str(tools_gguf), provider_opts={"parallel": 2, "n_ctx": 2048}
        )
    )


async def collect(
    client: LocalClient, messages: list[Message], sampling: Sampling, tools: list[ToolSpec]
) -> list[ModelEvent]:
    with trio.fail_after(120):
        async with client.stream(messages, tools, sampling) as events:
            return [event async for event in events]


def test_the_edited_file_has_a_template_that_knows_tools(client: LocalClient) -> None:
    assert client.native_tools
    assert not LocalClient(ModelConfig(provider="local", model="smollm2")).native_tools


async def test_the_tools_are_offered_through_the_template(client: LocalClient) -> None:
    def prompt_tokens(events: list[ModelEvent]) -> int:
        usage = events[-2]
        assert isinstance(usage, UsageReport)
        return usage.usage.prompt_tokens

    bare = await collect(client, ASK, Sampling(max_tokens=1), [])
    offered = await collect(client, ASK, Sampling(max_tokens=1), [WEATHER])
    # The template's own tool preamble plus the tool's JSON: dozens of tokens.
    assert prompt_tokens(offered) - prompt_tokens(bare) > 60
    smollm2 = LocalClient(ModelConfig(provider="local", model="smollm2"))
    ours = await collect(smollm2, ASK, Sampling(max_tokens=1), [WEATHER])
    assert prompt_tokens(ours) != prompt_tokens(offered)  # not our own tool section


async def test_a_call_and_its_result_in_the_history_reach_the_template(
    client: LocalClient,
) -> None:
    history = [
        *ASK,
        Message.assistant("", (ToolCall("call_1", "get_weather", '{"city": "Paris"}'),)),
        Message.tool("call_1", "Sunny, 21 degrees."),
    ]
    events = await collect(client, history, Sampling(max_tokens=24, seed=1), [WEATHER])
    assert isinstance(events[-1], Finished)
    assert events[-1].reason in ("stop", "length", "tool_calls")
