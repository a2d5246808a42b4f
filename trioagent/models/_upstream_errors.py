"""The errors of a model call, as the rest of trioagent sees them.

Foreign errors are translated here, at the edge (httpcore's ``map_exceptions`` habit): the
h11 client's, httpx's and the SSE decoder's become :mod:`trioagent.errors`, retryable ones
wrapped in :class:`~trioagent.models.retry.Retryable`. Messages name the provider's host
and status, never its raw body or our key.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx

from trioagent.errors import (
    UpstreamAuthError,
    UpstreamConnectError,
    UpstreamHTTPError,
    UpstreamModelNotFound,
    UpstreamProtocolError,
    UpstreamRateLimited,
    UpstreamTimeout,
)

from ._http11 import (
    ConnectFailed,
    ConnectionDropped,
    ConnectTimeout,
    InvalidRequest,
    ProtocolBroken,
    ReadTimeout,
    TimedOut,
)
from ._sse import SSEDecodeError
from .retry import classify

if TYPE_CHECKING:
    from collections.abc import Iterator

_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def error_for_status(status: int, *, model: str, code: str | None = None) -> UpstreamHTTPError:
    """The typed error for an HTTP error status.

    Args:
        status: the provider's status.
        model: the model we asked for, named in a 404.
        code: the provider's short error code or type, if it sent a readable one.
    """
    detail = f" ({code})" if code else ""
    if status in (401, 403):
        return UpstreamAuthError(status, f"the provider refused the API key{detail}")
    if status == 404:
        return UpstreamModelNotFound(status, f"the provider has no model {model!r}{detail}")
    if status == 429:
        return UpstreamRateLimited(status, f"rate limited by the provider{detail}")
    if status >= 500:
        return UpstreamHTTPError(status, f"the provider failed{detail}")
    return UpstreamHTTPError(status, f"the provider refused the request{detail}")


def error_code(body: bytes) -> str | None:
    """The short error code of a provider's JSON error body, if it has a sane one.

    Both OpenAI (``{"error": {"code", "type"}}``) and Anthropic
    (``{"type": "error", "error": {"type"}}``) shapes are read. Only an identifier-like
    string is kept, so nothing the provider wrote in prose reaches our messages.
    """
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return error_code_of(document)


def error_code_of(document: Any) -> str | None:
    """:func:`error_code` for an already parsed document."""
    error = document.get("error") if isinstance(document, dict) else None
    if not isinstance(error, dict):
        return None
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and _CODE.fullmatch(value):
            return value
    return None


@contextmanager
def map_transport_errors(where: str) -> Iterator[None]:
    """Translate the errors of both HTTP clients (h11's, httpx's) and of decoding into
    ``ModelError``\\ s, retryable ones wrapped in :class:`~trioagent.models.retry.Retryable`.

    Args:
        where: ``scheme://host[:port]`` of the provider, for logs.
    """
    try:
        yield
    except (ConnectTimeout, httpx.ConnectTimeout) as exc:
        raise classify(
            UpstreamConnectError("timed out connecting to the model provider", where=where)
        ) from exc
    except (ConnectFailed, httpx.ConnectError) as exc:
        raise classify(
            UpstreamConnectError("could not connect to the model provider", where=where)
        ) from exc
    except (ReadTimeout, httpx.ReadTimeout) as exc:
        raise UpstreamTimeout("the model provider stopped sending the answer", where=where) from exc
    except (TimedOut, httpx.TimeoutException) as exc:
        raise UpstreamTimeout("timed out talking to the model provider", where=where) from exc
    except InvalidRequest as exc:
        raise UpstreamConnectError(
            "cannot send a request to this URL or with these headers", where=where
        ) from exc
    except httpx.UnsupportedProtocol as exc:
        scheme = where.partition(":")[0]
        raise UpstreamConnectError(f"cannot speak to {scheme!r} URLs", where=where) from exc
    except (
        ConnectionDropped,
        ProtocolBroken,
        httpx.RemoteProtocolError,
        httpx.ReadError,
        httpx.WriteError,
    ) as exc:
        raise classify(
            UpstreamConnectError("the connection to the model provider dropped", where=where)
        ) from exc
    except httpx.DecodingError as exc:
        raise UpstreamProtocolError(
            "the model provider sent a body we cannot decode", where=where
        ) from exc
    except httpx.TransportError as exc:
        raise classify(
            UpstreamConnectError("could not talk to the model provider", where=where)
        ) from exc
    except SSEDecodeError as exc:
        raise UpstreamProtocolError(
            f"the model provider sent a broken event stream: {exc}", where=where
        ) from exc
