"""The OpenAPI document of ``serve chat`` (filled in below)."""

from __future__ import annotations

from typing import Any


def openapi_document(agents: list[str]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "trioagent", "version": "0.1.0"}, "paths": {}}
