"""trioagent: serve LLM agents defined in YAML through OpenAI-compatible APIs, on trio."""

from __future__ import annotations

__version__ = "0.1.0"
