"""Conversation stores."""

from __future__ import annotations

from .base import ConversationStore as ConversationStore
from .base import Turn as Turn
from .memory import MemoryStore as MemoryStore
