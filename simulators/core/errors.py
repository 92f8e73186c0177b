"""API errors, rendered in each API's own JSON error shape.

Every simulated API has its own error body (MEGA: ``{"error": {"type", "code", "message"}}``);
the core only knows an error as (status, message, optional type) and asks the API's
:data:`ErrorShape` for the bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .messages import Response


class ErrorShape(Protocol):
    def __call__(self, status: int, message: str, error_type: str | None = None) -> bytes:
        """The API's error body; ``error_type=None`` lets the API pick the type for the status."""
        ...


class ApiError(Exception):
    """Raised by stores and request handling; rendered with the API's error shape."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def error_response(
    shape: ErrorShape,
    status: int,
    message: str,
    headers: Iterable[tuple[str, str]] = (),
    error_type: str | None = None,
) -> Response:
    return Response(status, shape(status, message, error_type), list(headers))


def api_error_response(
    shape: ErrorShape, exc: ApiError, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    return error_response(shape, exc.status, exc.message, headers, exc.error_type)
