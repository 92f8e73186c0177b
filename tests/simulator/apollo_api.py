"""Helpers of the Apollo simulator's tests: the create path, credentials, a manual clock
start, a valid create body, and the shape of an error answer."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx

from simulators.apollo import DEFAULT_ORGANIZATION_ID, DEFAULT_PIPELINE_ID, DEFAULT_TOKEN
from simulators.core.clock import UTC
from tests.simulator.answers import error_answer

# Relative to ``sim.url``, which ends in the doc's ``/v1``: the client posts to {url}/leads.
LEADS = "/leads"
START = datetime(2026, 5, 4, 12, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "X-Organization-Id": DEFAULT_ORGANIZATION_ID}
REQUEST_ID = re.compile(r"^req_[0-9a-f]{24}$")

__all__ = ["AUTH", "LEADS", "START", "as_token", "assert_error", "lead_body"]


def lead_body(**fields: Any) -> dict[str, Any]:
    """A valid create body of the default pipeline, with ``fields`` on top."""
    return {"contact_name": "Ana Souza", "pipeline_id": DEFAULT_PIPELINE_ID, **fields}


def as_token(token: str, organization_id: str = DEFAULT_ORGANIZATION_ID) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Organization-Id": organization_id}


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The error body's message, after checking the doc's Error shape and that its
    ``request_id`` is the ``X-Request-Id`` header."""
    body = error_answer(response, status, DEFAULT_TOKEN)
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code, error
    assert REQUEST_ID.match(error["request_id"])
    assert response.headers["X-Request-Id"] == error["request_id"]
    return str(error["message"])
