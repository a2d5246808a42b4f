"""What the model sees of an MCP tool result: the text of its parts, bounded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from trioagent.chat import ToolResult

from .._common import clip

if TYPE_CHECKING:
    from mcp.types import CallToolResult, ContentBlock


def to_tool_result(result: CallToolResult, limit: int) -> ToolResult:
    """An MCP tool result as the model sees it: the text of its parts, bounded.

    Images, audio and binary resources become a short placeholder; ``structuredContent``
    is shown as compact JSON when there is no text.
    """
    text = "\n".join(filter(None, map(_block_text, result.content)))
    if not text and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
    text = clip(text or "<no output>", limit)
    return ToolResult.error(text) if result.is_error else ToolResult(text)


def _block_text(block: ContentBlock) -> str:
    from mcp.types import (
        AudioContent,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    if isinstance(block, TextContent):
        return block.text
    if isinstance(block, ImageContent | AudioContent):
        return f"[{block.type}: {block.mime_type}, {_decoded_size(block.data)} bytes]"
    if isinstance(block, EmbeddedResource):
        resource = block.resource
        if isinstance(resource, TextResourceContents):
            return f"[resource: {resource.uri}]\n{resource.text}"
        mime = resource.mime_type or "binary"
        return f"[resource: {resource.uri}, {mime}, {_decoded_size(resource.blob)} bytes]"
    if isinstance(block, ResourceLink):
        return f"[resource link: {block.uri}]"
    return f"[{getattr(block, 'type', 'unknown')} content]"


def _decoded_size(data: str) -> int:
    """Bytes of base64 ``data`` once decoded."""
    return len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))
