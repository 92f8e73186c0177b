"""Helpers of the Leads v1 simulator's tests: paths, credentials, a manual clock start,
paging to the end, and the shape of an error answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from simulators.leads_v1 import DEFAULT_TOKEN, LEAD_PATH, LEADS_PATH
from simulators.leads_v1.clock import UTC
from tests.simulator.answers import error_answer, pages

LEADS = LEADS_PATH
START = datetime(2026, 4, 28, 12, tzinfo=UTC)  # the manual clock's now: after all generated leads
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}

__all__ = ["AUTH", "LEADS", "LEAD_PATH", "START", "assert_error", "lead_url", "page_all"]


def lead_url(lead_id: str) -> str:
    return f"{LEADS}/{lead_id}"


def page_all(client: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; return all rows and the number of requests."""
    rows: list[dict[str, Any]] = []
    requests = 0
    for body in pages(client, LEADS, params):
        assert set(body) == {"data", "next_cursor"}
        requests += 1
        rows.extend(body["data"])
        assert body["data"] or body["next_cursor"] is None, "a cursor after an empty page"
    return rows, requests


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The error body's message, after checking the simulator's error shape."""
    body = error_answer(response, status, DEFAULT_TOKEN)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    return str(body["error"]["message"])
