"""MEGA's error model: ``{"error": {"type", "code", "message"}}``; ``ApiError`` is the core's."""

from __future__ import annotations

import orjson

from simulators.core.errors import ApiError

__all__ = ["ApiError", "bad_request", "error_body", "error_type_for"]

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "authorization_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type_for(status: int) -> str:
    return _TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str, error_type: str | None = None) -> bytes:
    """MEGA's :class:`~simulators.core.errors.ErrorShape`."""
    return orjson.dumps(
        {
            "error": {
                "type": error_type or error_type_for(status),
                "code": status,
                "message": message,
            }
        }
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error")
