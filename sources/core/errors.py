"""The connector's typed errors. Every message is one line and never carries a secret."""

from __future__ import annotations

from collections.abc import Iterable

_REDACTED = "***"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret (and its Bearer form) in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, _REDACTED)
    return text


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class ConnectorError(Exception):
    """Base of every error this connector raises on purpose."""


class ConfigurationError(ConnectorError):
    """A setting is missing or invalid; the message names it and where to put it. ``toml_file``
    names the file it belongs in; the caller, who knows which folder dlt reads, completes it."""

    def __init__(self, message: str, toml_file: str | None = None) -> None:
        super().__init__(message)
        self.toml_file = toml_file


class ApiError(ConnectorError):
    """An API answered with an error status: the type and message come from its error body, as
    the API package reads it (MEGA's, 001: ``{"error": {"type", "code", "message"}}``)."""

    label = "API error"

    def __init__(self, status: int, error_type: str, message: str, context: str = "") -> None:
        self.status = status
        self.error_type = error_type
        self.api_message = message
        where = f" [{context}]" if context else ""
        super().__init__(one_line(f"{self.label} ({status} {error_type}): {message}{where}"))


class InvalidRequestError(ApiError):
    label = "invalid request"


class AuthenticationError(ApiError):
    label = "authentication failed"


class AuthorizationError(ApiError):
    label = "not authorized"


class NotFoundError(ApiError):
    label = "not found"


class ConflictError(ApiError):
    label = "conflict"


class RateLimitedError(ApiError):
    label = "rate limited"


class ServerError(ApiError):
    label = "server error"


class TransportError(ConnectorError):
    """Connect/read failures or timeouts that outlived the retry budget."""


class FetchProcessError(ConnectorError):
    """The child process that fetches a long sweep stopped without an answer (fetch_process.py)."""


class MalformedResponseError(ConnectorError):
    """A 2xx answer that is not a page of the documented shape."""


class DestinationError(ConnectorError):
    """The warehouse cannot be opened or written (a locked or missing file, a full disk …)."""


class AccountConflict(ConnectorError):
    """A row another account's rows already hold, where several accounts share a dataset."""


class Interrupted(ConnectorError):
    """The run was stopped by Ctrl-C or SIGTERM; what it had received is committed first."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


def api_error_for(status: int, error_type: str, message: str, context: str = "") -> ApiError:
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    return cls(status, error_type, message, context)
