"""Fakes shipped with trioagent, for tests, docs and benchmarks.

    async with open_fake_openai() as fake:
        fake.enqueue(text("Hello!"), error(429, retry_after=1), text("Again"))
        ...  # point a client at fake.base_url; inspect fake.requests

Both fakes are real HTTP/1.1 servers on 127.0.0.1 at a free port, scripted with the
reply helpers below and sharing one server core; so is the fake OpenTelemetry collector
(`open_fake_collector`), which receives OTLP/HTTP traces.
"""

from ._http import HTTPRequest as HTTPRequest
from .fake_anthropic import FakeAnthropic as FakeAnthropic
from .fake_anthropic import open_fake_anthropic as open_fake_anthropic
from .fake_openai import FakeOpenAI as FakeOpenAI
from .fake_openai import open_fake_openai as open_fake_openai
from .otlp import FakeCollector as FakeCollector
from .otlp import ReceivedSpan as ReceivedSpan
from .otlp import open_fake_collector as open_fake_collector
from .process import ServerProcess as ServerProcess
from .process import open_server_process as open_server_process
from .process import trioagent_command as trioagent_command
from .process import write_test_agent as write_test_agent
from .replies import DropReply as DropReply
from .replies import ErrorReply as ErrorReply
from .replies import HangReply as HangReply
from .replies import HeldReply as HeldReply
from .replies import MalformedReply as MalformedReply
from .replies import Reply as Reply
from .replies import ScriptedCall as ScriptedCall
from .replies import TextReply as TextReply
from .replies import ToolCallsReply as ToolCallsReply
from .replies import drop as drop
from .replies import error as error
from .replies import hang as hang
from .replies import held as held
from .replies import malformed as malformed
from .replies import text as text
from .replies import tool_calls as tool_calls
