"""The Apollo error body, the doc's ``Error`` schema:
``{"error": {"code": "<stable id>", "message": "<text>", "request_id": "req_<hex>"}}``.

The doc gives ``code`` ("Identificador estável da família de erro") and ``request_id`` ("Cole
no chamado ao suporte") but no values: the codes below and the ``req_<24 hex>`` ids are
ASSUMPTIONS (the package docstring lists them). Every answer carries ``X-Request-Id``; an
error's equals the ``request_id`` in its body (:func:`stamp_request_id`).
"""

from __future__ import annotations

import secrets

import orjson

from simulators.core.errors import ApiError
from simulators.core.messages import Response

__all__ = [
    "REQUEST_ID_HEADER",
    "ApiError",
    "code_for",
    "error_body",
    "forbidden",
    "invalid_request",
    "new_request_id",
    "stamp_request_id",
    "unauthorized",
    "validation_error",
]

REQUEST_ID_HEADER = "X-Request-Id"

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def code_for(status: int) -> str:
    return _CODE_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request")


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def error_body(status: int, message: str, error_type: str | None = None) -> bytes:
    """The API's :class:`~simulators.core.errors.ErrorShape`; ``error_type`` is the code. The
    ``request_id`` is new here; :func:`stamp_request_id` copies it into the header."""
    error = {"code": error_type or code_for(status), "message": message}
    return orjson.dumps({"error": {**error, "request_id": new_request_id()}})


def stamp_request_id(response: Response) -> Response:
    """Add ``X-Request-Id`` (once): an error's own ``request_id``, else a new id."""
    if any(name == REQUEST_ID_HEADER for name, _ in response.headers):
        return response
    request_id = None
    if response.status >= 400:
        try:
            request_id = orjson.loads(response.body)["error"]["request_id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            request_id = None
    response.headers.append((REQUEST_ID_HEADER, str(request_id or new_request_id())))
    return response


def invalid_request(message: str) -> ApiError:
    return ApiError(400, message, "invalid_request")


def validation_error(message: str) -> ApiError:
    return ApiError(400, message, "validation_error")


def unauthorized(message: str, code: str = "unauthorized") -> ApiError:
    return ApiError(401, message, code)


def forbidden(message: str) -> ApiError:
    return ApiError(403, message, "forbidden")
