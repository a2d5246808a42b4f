"""THE session codec: a `Session` as JSON text, for stores that persist conversations.

The document is ``{"format": 1, "messages": [...], "usage": {...}, "tool_state": {...}}``.
A message leaves out every field that has its default (no ``"tool_calls": []`` on each
user message); ``tool_state`` is written as it is, so it must hold plain JSON values.
Change the shape only together with `FORMAT`.
"""

from __future__ import annotations

import json
from typing import Any, Final

import cattrs
from cattrs.gen import make_dict_unstructure_fn
from cattrs.preconf.json import make_converter as _make_json_converter

from ..chat import Message
from ..errors import StoreUnavailable
from ..runtime.session import Session

FORMAT: Final = 1
"""The version of the document shape that `dumps_session` writes and `loads_session` reads."""


def make_converter() -> cattrs.Converter:
    """Build the session converter described in the module docstring."""
    conv = _make_json_converter()
    conv.register_unstructure_hook(
        Message, make_dict_unstructure_fn(Message, conv, _cattrs_omit_if_default=True)
    )
    return conv


converter: Final = make_converter()
"""The one session converter."""


def dumps_session(session: Session) -> str:
    """Encode a session as compact JSON text.

    Args:
        session: the session to encode; `tool_state` must hold plain JSON values.

    Returns:
        The JSON document, ``format`` first.

    Raises:
        TypeError: ``tool_state`` holds a value JSON cannot represent.
    """
    document = {"format": FORMAT, **converter.unstructure(session, Session)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def loads_session(text: str) -> Session:
    """Decode JSON text written by `dumps_session` into a new, independent session.

    Args:
        text: the stored document.

    Raises:
        StoreUnavailable: the text is not a session document of a known format.
    """
    try:
        document: Any = json.loads(text)
    except ValueError as exc:
        raise StoreUnavailable(f"stored session is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or "format" not in document:
        raise StoreUnavailable('stored session is not a session document (no "format" key)')
    if document["format"] != FORMAT:
        raise StoreUnavailable(
            f"stored session has format {document['format']!r}, but this trioagent reads only "
            f"format {FORMAT}: upgrade trioagent or use another sessions file"
        )
    try:
        return converter.structure(document, Session)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        reason = "; ".join(cattrs.transform_error(exc))
        raise StoreUnavailable(f"stored session is damaged: {reason}") from exc
