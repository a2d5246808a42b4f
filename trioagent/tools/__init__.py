"""Toolsets: the tools an agent can call, behind one protocol.

``build_toolset`` makes a toolset from a ``toolsets:`` config entry; a ``ToolBox`` routes
a model's tool calls to the opened toolsets by name.
"""

from __future__ import annotations

from .base import ToolContext as ToolContext
from .base import Toolset as Toolset
from .filesystem import FilesystemToolset as FilesystemToolset
from .memory import MemoryToolset as MemoryToolset
from .policy import SAFETY_LEVELS as SAFETY_LEVELS
from .policy import GuardedToolset as GuardedToolset
from .policy import Safety as Safety
from .registry import FilteredToolset as FilteredToolset
from .registry import ToolBox as ToolBox
from .registry import build_toolset as build_toolset
from .shell import ShellToolset as ShellToolset
from .think import ThinkToolset as ThinkToolset
from .todo import TodoToolset as TodoToolset
from .transfer import TransferToolset as TransferToolset
