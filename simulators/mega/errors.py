"""The API's error model: ``{"error": {"type", "code", "message"}}``."""

from __future__ import annotations

import orjson

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
    return orjson.dumps(
        {
            "error": {
                "type": error_type or error_type_for(status),
                "code": status,
                "message": message,
            }
        }
    )


class ApiError(Exception):
    """Raised by the store and the request handling; the server renders it with the model."""

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or error_type_for(status)

    def body(self) -> bytes:
        return error_body(self.status, self.message, self.error_type)


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request_error")
