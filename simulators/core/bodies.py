"""A write's request body: a JSON object, or a 400 raised with the API's own error type."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .errors import ApiError


def json_object(body: bytes, bad_request: Callable[[str], ApiError]) -> dict[str, Any]:
    """``body`` parsed; ``bad_request(message)`` is raised when it is not a JSON object."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        raise bad_request("Request body must be valid JSON.") from None
    if not isinstance(payload, dict):
        raise bad_request("Request body must be a JSON object.")
    return payload
