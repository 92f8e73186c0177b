"""Helpers of the simulator's own tests: its API's paths and credentials, a store on a
manual clock, paging to the end, and the shape of an error answer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from simulators.mega import (
    DEFAULT_CUSTOMER_ID,
    DEFAULT_TOKEN,
    LeadStore,
    ManualClock,
    generate_leads,
)
from simulators.mega.clock import UTC

LEADS = "/api/agents/crm/leads"
START = datetime(2026, 1, 1, 1, tzinfo=UTC)  # after all generated timestamps
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "x-customer-id": DEFAULT_CUSTOMER_ID}
OTHER_CUSTOMER = "00000000-0000-4000-8000-000000000002"
READ_ONLY_TOKEN = "mega_" + "ab" * 32
OTHER_TOKEN = "mega_" + "cd" * 32


def make_store(n: int, seed: int = 7, step: timedelta = timedelta(milliseconds=1)) -> LeadStore:
    store = LeadStore(ManualClock(START, step), DEFAULT_CUSTOMER_ID)
    store.add_many(generate_leads(n, seed=seed))
    return store


def page_all(client: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; return all leads and the number of requests."""
    leads: list[dict[str, Any]] = []
    cursor: str | None = None
    requests = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get(LEADS, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        requests += 1
        leads.extend(body["leads"])
        cursor = body["next_cursor"]
        if cursor is None:
            return leads, requests
        assert requests < 10_000


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"type", "code", "message"}
    assert error["type"] == error_type and error["code"] == status
    assert DEFAULT_TOKEN not in response.text
    return dict(error)
