"""The Leads v1 error body: ``{"error": {"code": "<snake_case>", "message": "<text>"}}``.

ASSUMPTION: the vendor document (seed 004) specifies no error body or codes; this shape and
these codes are the simulator's choice, documented in the package docstring.
"""

from __future__ import annotations

import orjson

from simulators.core.errors import ApiError

__all__ = [
    "ApiError",
    "code_for",
    "error_body",
    "invalid_request",
    "not_found",
    "validation_error",
]

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "idempotency_conflict",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def code_for(status: int) -> str:
    return _CODE_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request")


def error_body(status: int, message: str, error_type: str | None = None) -> bytes:
    """The API's :class:`~simulators.core.errors.ErrorShape`; ``error_type`` is the code."""
    return orjson.dumps({"error": {"code": error_type or code_for(status), "message": message}})


def invalid_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request")


def validation_error(message: str) -> ApiError:
    return ApiError(422, message, "validation_error")


def not_found(message: str = "Lead not found.") -> ApiError:
    return ApiError(404, message, "not_found")
