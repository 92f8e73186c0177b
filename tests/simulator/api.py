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
from tests.simulator.answers import error_answer, pages

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
    requests = 0
    for body in pages(client, LEADS, params):
        requests += 1
        leads.extend(body["leads"])
    return leads, requests


def assert_error(response: httpx.Response, status: int, error_type: str) -> dict[str, Any]:
    error = error_answer(response, status, DEFAULT_TOKEN)["error"]
    assert set(error) == {"type", "code", "message"}
    assert error["type"] == error_type and error["code"] == status
    return dict(error)
