"""The agent runtime: sessions, the loop, runtimes and their pool."""

from __future__ import annotations

from .agent import Runtime as Runtime
from .agent import Team as Team
from .agent import open_runtime as open_runtime
from .agent import open_team as open_team
from .events import AnswerDelta as AnswerDelta
from .events import RuntimeEvent as RuntimeEvent
from .events import ToolFinished as ToolFinished
from .events import ToolStarted as ToolStarted
from .events import TurnFinished as TurnFinished
from .events import UsageUpdate as UsageUpdate
from .loop import run_agent as run_agent
from .loop import run_turn as run_turn
from .pool import RuntimePool as RuntimePool
from .pool import open_pool as open_pool
from .session import Session as Session
