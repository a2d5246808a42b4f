"""Every JSON trioagent reads or writes, as attrs classes, and the one converter for them.

This package imports nothing of ours but `trioagent.errors`.
"""

from __future__ import annotations

from .api import SESSION_ID as SESSION_ID
from .api import ApiError as ApiError
from .api import ChatReply as ChatReply
from .api import ChatRequest as ChatRequest
from .api import HistoryMessage as HistoryMessage
from .api import HistoryToolCall as HistoryToolCall
from .api import SessionHistory as SessionHistory
from .api import StreamDelta as StreamDelta
from .api import StreamDone as StreamDone
from .api import StreamError as StreamError
from .convert import MAX_DEPTH as MAX_DEPTH
from .convert import converter as converter
from .convert import dumps as dumps
from .convert import loads as loads
from .convert import make_converter as make_converter
from .convert import parse_api_chat_request as parse_api_chat_request
from .convert import parse_chat_request as parse_chat_request
from .convert import structure as structure
from .openai import OMIT as OMIT
from .openai import AssistantMessage as AssistantMessage
from .openai import ChatCompletion as ChatCompletion
from .openai import ChatCompletionChunk as ChatCompletionChunk
from .openai import ChatCompletionRequest as ChatCompletionRequest
from .openai import ChatMessage as ChatMessage
from .openai import Choice as Choice
from .openai import ChunkChoice as ChunkChoice
from .openai import CompletionUsage as CompletionUsage
from .openai import ContentPart as ContentPart
from .openai import Delta as Delta
from .openai import DeltaFunction as DeltaFunction
from .openai import DeltaToolCall as DeltaToolCall
from .openai import DeveloperMessage as DeveloperMessage
from .openai import ErrorBody as ErrorBody
from .openai import ErrorEnvelope as ErrorEnvelope
from .openai import FinishReason as FinishReason
from .openai import FunctionCall as FunctionCall
from .openai import FunctionDef as FunctionDef
from .openai import FunctionName as FunctionName
from .openai import ImagePart as ImagePart
from .openai import ImageURL as ImageURL
from .openai import Model as Model
from .openai import ModelList as ModelList
from .openai import NamedToolChoice as NamedToolChoice
from .openai import Omit as Omit
from .openai import ResponseToolCall as ResponseToolCall
from .openai import StreamOptions as StreamOptions
from .openai import SystemMessage as SystemMessage
from .openai import TextPart as TextPart
from .openai import ToolChoice as ToolChoice
from .openai import ToolDef as ToolDef
from .openai import ToolMessage as ToolMessage
from .openai import UserMessage as UserMessage
from .sse import DONE as DONE
from .sse import KEEP_ALIVE as KEEP_ALIVE
from .sse import encode_error as encode_error
from .sse import encode_event as encode_event
