"""The MEGA simulator, exercised over real loopback HTTP the way the connector will see it:
authentication, rate limits, creating and merging leads."""

from __future__ import annotations

import httpx
import orjson

from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.simulator.api import (
    AUTH,
    LEADS,
    OTHER_CUSTOMER,
    OTHER_TOKEN,
    READ_ONLY_TOKEN,
    assert_error,
    make_store,
)

# ----- auth and rate limits ----------------------------------------------------------------


def test_authentication_and_authorization(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, _ = fresh
    url = server.url + LEADS
    bearer, cust = f"Bearer {DEFAULT_TOKEN}", DEFAULT_CUSTOMER_ID
    authn, authz = "authentication_error", "authorization_error"
    cases = [
        ({}, 401, authn),
        ({"x-customer-id": cust}, 401, authn),
        ({"Authorization": "Bearer mega_" + "0" * 64, "x-customer-id": cust}, 401, authn),
        ({"Authorization": DEFAULT_TOKEN, "x-customer-id": cust}, 401, authn),  # no scheme
        ({"Authorization": bearer}, 401, authn),
        ({"Authorization": bearer, "x-customer-id": OTHER_CUSTOMER}, 403, authz),
        ({"Authorization": f"Bearer {OTHER_TOKEN}", "x-customer-id": cust}, 403, authz),
    ]
    for headers, status, error_type in cases:
        response = httpx.get(url, headers=headers)
        error = assert_error(response, status, error_type)
        assert "mega_" not in error["message"]
        assert "RateLimit-Limit" in response.headers
    read_only = {"Authorization": f"Bearer {READ_ONLY_TOKEN}", "x-customer-id": DEFAULT_CUSTOMER_ID}
    assert httpx.get(url, headers=read_only).status_code == 200
    post = httpx.post(url, headers=read_only, json={"contact_name": "Ana"})
    assert_error(post, 403, "authorization_error")
    other = {"Authorization": f"Bearer {OTHER_TOKEN}", "x-customer-id": OTHER_CUSTOMER}
    assert httpx.get(url, headers=other).json()["total"] == 0  # another account: no leads
    logged = [orjson.dumps(record.__dict__).decode() for record in server.requests]
    assert logged and all(DEFAULT_TOKEN not in line and "mega_" not in line for line in logged)


def test_rate_limit_headers_and_429() -> None:
    with (
        SimulatorServer(store=make_store(10), rate_limit=3, rate_window_s=30) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as c,
    ):
        remaining = [c.get(LEADS).headers["RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        limited = c.get(LEADS)
        assert_error(limited, 429, "rate_limit_error")
        assert limited.headers["RateLimit-Limit"] == "3"
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert 1 <= int(limited.headers["RateLimit-Reset"]) <= 30
        server.limiter.reset()
        assert c.get(LEADS).status_code == 200


def test_unlimited_server_still_sends_headers(client: httpx.Client) -> None:
    headers = client.get(LEADS, params={"limit": 1}).headers
    assert int(headers["RateLimit-Limit"]) >= 1_000_000 and int(headers["RateLimit-Reset"]) >= 1


# ----- POST --------------------------------------------------------------------------------


def test_create_merge_and_validation(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    payload = {
        "contact_name": "Zoë O'Brien",
        "contact_email": "Zoe.OBrien@Example.com",
        "contact_phone": "+1 (206) 555-0199",
        "source_platform": "referral",
        "source_type": "form",
        "stage_slug": "qualified",
        "custom_fields": {"lead_line": "buyer", "budget": "500000"},
    }
    created = c.post(LEADS, json=payload)
    assert created.status_code == 201, created.text
    lead = created.json()["lead"]
    assert lead["status"] == "active" and lead["customer_id"] == DEFAULT_CUSTOMER_ID
    assert lead["created_at"] == lead["updated_at"] and lead["current_stage"]["slug"] == "qualified"
    assert lead["custom_fields"] == {"lead_line": "buyer", "budget": "500000"}
    assert len(server.store) == 301
    by_email = c.post(
        LEADS, json={"contact_email": "zoe.obrien@example.COM", "custom_fields": {"bedrooms": 3}}
    )
    merged = by_email.json()["lead"]
    assert by_email.status_code == 201 and merged["id"] == lead["id"]
    assert merged["custom_fields"] == {"lead_line": "buyer", "budget": "500000", "bedrooms": 3}
    assert merged["updated_at"] > lead["updated_at"] and merged["created_at"] == lead["created_at"]
    by_phone = c.post(
        LEADS, json={"contact_phone": "206.555.0199", "contact_name": "Zoë B."}
    ).json()
    assert by_phone["lead"]["id"] == lead["id"] and by_phone["lead"]["contact_name"] == "Zoë B."
    assert len(server.store) == 301
    listed = c.get(LEADS, params={"sort_dir": "desc", "limit": 1}).json()["leads"][0]
    assert listed["id"] == lead["id"]
    invalid = [
        {},
        {"contact_name": "  "},
        {"contact_email": "not-an-email"},
        {"contact_name": "A", "source_platform": "myspace"},
        {"contact_name": "A", "source_type": "fax"},
        {"contact_name": "A", "stage_slug": "nope"},
        {"contact_name": "A", "custom_fields": {"x": {"nested": 1}}},
        {"contact_name": 5},
    ]
    for body in invalid:
        assert_error(c.post(LEADS, json=body), 400, "invalid_request_error")
    assert_error(c.post(LEADS, content=b"{not json"), 400, "invalid_request_error")
    assert len(server.store) == 301


def test_idempotency_key(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    body = {"contact_name": "Ngozi Okafor", "contact_email": "ngozi@example.org"}
    key = {"Idempotency-Key": "key-1"}
    first = c.post(LEADS, json=body, headers=key)
    version = server.store.version
    replay = c.post(LEADS, content=orjson.dumps(body, option=orjson.OPT_INDENT_2), headers=key)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert server.store.version == version and len(server.store) == 301
    conflict = c.post(LEADS, json={**body, "contact_name": "Other"}, headers=key)
    assert_error(conflict, 409, "invalid_request_error")
    other_key = c.post(LEADS, json=body, headers={"Idempotency-Key": "key-2"})
    assert other_key.status_code == 201 and server.store.version == version + 1  # a merge
    assert_error(
        c.post(LEADS, json={}, headers={"Idempotency-Key": "key-3"}), 400, "invalid_request_error"
    )
    assert c.post(LEADS, json=body, headers={"Idempotency-Key": "key-3"}).status_code == 201
    assert [r.idempotency_key for r in server.requests if r.method == "POST"][-1] == "key-3"
