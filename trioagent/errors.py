"""The trioagent exception tree.

Inside the package, failures are typed exceptions; the servers map each class to the
API's error shape and status in one table (``trioagent.server.errors``).

    TrioagentError
    ├── ConfigError              an agent file is wrong (file:line: key: what to fix)
    │   └── MissingAPIKey        a model's key variable is not set
    ├── AuthError                the bearer token is missing or wrong (401)
    ├── RequestError             a client sent something we cannot run (400)
    │   └── UnknownModel         no exposed agent has that name (404)
    ├── SessionNotFound          no stored session has that id (404)
    ├── UnknownResponse          no stored response has that id (404)
    ├── ConversationBusy         a turn on this conversation id is running (409)
    ├── ConversationConflict     a turn outlived its lease and was not saved (409)
    ├── RateLimitExceeded        the caller sent more than --rate-limit allows (429)
    ├── TurnTimeout              the request timeout expired (504)
    ├── StoreUnavailable         the conversation store cannot be reached (503)
    ├── ChatConnectionError      `trioagent chat` could not connect, or lost the server
    ├── RegistryError            an OCI registry refused, failed, or sent a bad artifact
    │   └── RegistryUnreachable  it could not be reached (a pull may use its cache)
    └── ModelError               the model provider failed (502)
        ├── UpstreamHTTPError    it answered with an error status
        │   ├── UpstreamAuthError         401/403: the key is wrong
        │   ├── UpstreamModelNotFound     404: the provider has no such model
        │   └── UpstreamRateLimited       429, after our retries
        ├── UpstreamConnectError could not connect, or the connection dropped
        ├── UpstreamTimeout      the provider stopped answering
        └── UpstreamProtocolError the provider sent something that is not its protocol

This module imports nothing of ours: every layer may import it.
"""

from __future__ import annotations

import math

import trio


class TrioagentError(Exception):
    """Base of every error trioagent raises on purpose."""


class ConfigError(TrioagentError):
    """An agent configuration is invalid.

    Args:
        message: what is wrong and how to fix it.
        path: the file it came from, if any.
        line: the 1-based line in that file, if known.
        key: the dotted key path, for example ``agents.root.toolsets[0].type``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        key = f"{self.key}: " if self.key else ""
        return f"{where}{key}{self.message}"


class MissingAPIKey(ConfigError):
    """A model needs an API key and its environment variable is not set."""

    def __init__(self, variable: str, *, model: str) -> None:
        self.variable = variable
        super().__init__(
            f"model {model!r} needs an API key: set the environment variable {variable} "
            "(or pass --env-from-file)"
        )


class AuthError(TrioagentError):
    """The request's bearer token is missing, malformed or none of the server's keys.

    Args:
        message: what is wrong and how to send the key.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class RequestError(TrioagentError):
    """A client request is invalid; maps to 400 unless a subclass says otherwise.

    Args:
        message: what is wrong, phrased so the client can fix it.
        param: the offending request field (``messages[3].role``), if any.
        code: a short machine code such as ``invalid_value`` or ``missing_field``.
    """

    def __init__(
        self, message: str, *, param: str | None = None, code: str | None = "invalid_value"
    ) -> None:
        self.message = message
        self.param = param
        self.code = code
        super().__init__(message)


class UnknownModel(RequestError):
    """The request names an agent that this server does not expose."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"The model {name!r} does not exist: GET /v1/models lists the agents served here.",
            param="model",
            code="model_not_found",
        )


class SessionNotFound(TrioagentError):
    """No stored session has this id (for this API key)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"No session {session_id!r}: it never existed, or was deleted.")


class UnknownResponse(TrioagentError):
    """No stored response has this id (for this API key): never made, not stored, failed,
    expired or deleted.

    Args:
        response_id: the id the client sent.
        param: the request field that named it (``previous_response_id``), if any.
    """

    def __init__(self, response_id: str, *, param: str | None = None) -> None:
        self.response_id = response_id
        self.param = param
        super().__init__(
            f"No response {response_id!r}: it was never stored (store: false, or it failed), "
            "or it expired or was deleted."
        )


class ConversationBusy(TrioagentError):
    """A turn on this conversation is already running.

    Args:
        conversation_id: the id the client sent.
        param: where the client sent it (``X-Conversation-Id``, ``previous_response_id``).
    """

    def __init__(self, conversation_id: str, *, param: str = "X-Conversation-Id") -> None:
        self.conversation_id = conversation_id
        self.param = param
        what = "Response" if param == "previous_response_id" else "Conversation"
        super().__init__(
            f"{what} {conversation_id!r} is busy with another request; retry when it ends."
        )


class ConversationConflict(TrioagentError):
    """A turn ran past its lease on the conversation, another turn took it meanwhile, and
    so this turn's result was not saved (it ran; its tools may have had effects)."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        super().__init__(
            f"Conversation {conversation_id!r} was taken by another request while this turn "
            "ran past its lease, so this turn was not saved."
        )


class RateLimitExceeded(TrioagentError):
    """The caller is over the server's rate limit; the request was not run.

    Args:
        retry_after: seconds until the caller may send again.
    """

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"Rate limit exceeded: retry in {max(1, math.ceil(retry_after))} s.")


class TurnTimeout(TrioagentError):
    """The turn ran past the request timeout and was cancelled."""


class StoreUnavailable(TrioagentError):
    """The conversation store cannot be reached."""


class ChatConnectionError(TrioagentError):
    """``trioagent chat`` could not connect, was refused, or the server ended the chat.

    The message says what to do (check the URL, pass --api-key, resume with --conversation).
    """


class RegistryError(TrioagentError):
    """Pulling or pushing an agent artifact failed; the message says what to fix."""


class RegistryUnreachable(RegistryError):
    """The registry or its token service could not be reached (connection, DNS, TLS,
    timeout) or said it is unavailable (502/503/504); a pull may use its cached copy."""


class ModelError(TrioagentError):
    """The model provider failed.

    The message never names the provider's address (the servers show it to callers);
    ``where`` does, for logs and the terminal.
    """

    def __init__(self, *args: object, where: str | None = None) -> None:
        super().__init__(*args)
        self.where = where


class UpstreamHTTPError(ModelError):
    """The provider answered with an error status.

    Args:
        status: the HTTP status the provider sent.
        message: a short description; never the provider's raw body.
    """

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"model provider answered {status}: {message}")


class UpstreamAuthError(UpstreamHTTPError):
    """The provider refused our API key (401/403)."""


class UpstreamModelNotFound(UpstreamHTTPError):
    """The provider does not know the configured model (404)."""


class UpstreamRateLimited(UpstreamHTTPError):
    """The provider kept answering 429 after our retries."""


class UpstreamConnectError(ModelError):
    """We could not connect to the provider, or the connection dropped mid-answer."""


class UpstreamTimeout(ModelError):
    """The provider stopped answering."""


class UpstreamProtocolError(ModelError):
    """The provider sent something that does not follow its protocol."""


def describe(exc: BaseException) -> str:
    """``exc`` for the terminal: its message, and the model provider's address if known."""
    where = exc.where if isinstance(exc, ModelError) else None
    return f"{exc} ({where})" if where else str(exc)


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The exception a group wraps when it wraps just one (a nursery or task group around
    one failure), else None."""
    if len(group.exceptions) == 1 and not isinstance(group.exceptions[0], BaseExceptionGroup):
        return group.exceptions[0]
    return None


def unwrap(exc: BaseException) -> BaseException:
    """The exception that matters inside nested ExceptionGroups (nurseries, cattrs): the
    first that is not a `trio.Cancelled`, else the first."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, trio.Cancelled)]
        exc = (inner or list(exc.exceptions))[0]
    return exc
