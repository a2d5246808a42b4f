"""Conversation stores."""

from __future__ import annotations

from .base import ConversationStore as ConversationStore
from .base import Turn as Turn
from .memory import MemoryStore as MemoryStore
from .open import StoreURL as StoreURL
from .open import open_store as open_store
from .sqlite import SQLiteStore as SQLiteStore
from .sqlite import open_sqlite_store as open_sqlite_store
