"""The MEGA simulator, exercised over real loopback HTTP the way the connector will see it."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from simulators.mega import (
    DEFAULT_CUSTOMER_ID,
    DEFAULT_TOKEN,
    READ_SCOPE,
    STAGES,
    LeadStore,
    ManualClock,
    SimulatorServer,
    faults,
    format_ts,
    generate_leads,
)
from simulators.mega.__main__ import main as cli_main
from simulators.mega.clock import UTC, since_bound

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


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(store=make_store(1500)) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=AUTH, timeout=10) as c:
        yield c


@pytest.fixture()
def fresh() -> Iterator[tuple[SimulatorServer, httpx.Client]]:
    """A small private server for tests that mutate data or arm faults."""
    tokens = {
        DEFAULT_TOKEN: {"customer_id": DEFAULT_CUSTOMER_ID},
        READ_ONLY_TOKEN: {"customer_id": DEFAULT_CUSTOMER_ID, "scopes": [READ_SCOPE]},
        OTHER_TOKEN: {"customer_id": OTHER_CUSTOMER},
    }
    with (
        SimulatorServer(store=make_store(300, seed=3), tokens=tokens) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c,
    ):
        yield server, c


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


# ----- paging ------------------------------------------------------------------------------


@pytest.mark.parametrize("sort_by", ["updated_at", "created_at"])
@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_keyset_paging_returns_every_lead_once_in_order(
    sim: SimulatorServer, client: httpx.Client, sort_by: str, sort_dir: str
) -> None:
    leads, requests = page_all(client, sort_by=sort_by, sort_dir=sort_dir, limit=100)
    truth = sorted((lead[sort_by], lead["id"]) for lead in sim.store.snapshot())
    if sort_dir == "desc":
        truth.reverse()
    assert [(lead[sort_by], lead["id"]) for lead in leads] == truth
    assert requests == 15


def test_ties_larger_than_a_page_cross_page_boundaries() -> None:
    store = make_store(120, seed=11, step=timedelta(0))  # frozen clock: every touch ties
    tied = set(store.touch(110, seed=1))
    store.add_many(
        {**lead, "id": f"tie-{i:04d}", "created_at": "2025-06-01T00:00:00.000Z"}
        for i, lead in enumerate(generate_leads(150, seed=12))
    )
    with (
        SimulatorServer(store=store) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as c,
    ):
        for sort_by in ("updated_at", "created_at"):
            for limit in (7, 100):
                leads, _ = page_all(c, sort_by=sort_by, limit=limit)
                keys = [(lead[sort_by], lead["id"]) for lead in leads]
                assert keys == sorted(keys) and len(set(keys)) == len(store) == 270
    assert len({(store.get(i) or {})["updated_at"] for i in tied}) == 1


def test_lead_updated_mid_paging_moves_to_the_end(
    fresh: tuple[SimulatorServer, httpx.Client],
) -> None:
    server, c = fresh
    first = c.get(LEADS, params={"limit": 50}).json()
    moved = first["leads"][0]["id"]
    server.faults.add(faults.callback(lambda store: store.update(moved, status="won")))
    rest, _ = page_all(c, limit=50, cursor=first["next_cursor"])
    ids = [lead["id"] for lead in first["leads"] + rest]
    assert ids.count(moved) == 2 and rest[-1]["id"] == moved and rest[-1]["status"] == "won"
    assert len(set(ids)) == 300


def test_cursor_rules(client: httpx.Client) -> None:
    cursor = client.get(LEADS, params={"limit": 5}).json()["next_cursor"]
    assert cursor.startswith("eyJ")
    decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    assert decoded["sort_by"] == "updated_at" and decoded["sort_dir"] == "asc"
    for other in ({"sort_by": "created_at"}, {"sort_dir": "desc"}):
        assert_error(
            client.get(LEADS, params={"cursor": cursor, **other}), 400, "invalid_request_error"
        )
    for bad in ("garbage!!", "eyJmb28iOiAxfQ", base64.urlsafe_b64encode(b"[1]").decode()):
        assert_error(client.get(LEADS, params={"cursor": bad}), 400, "invalid_request_error")
    lia = {"sort_by": "last_interaction_at", "cursor": cursor}
    assert_error(client.get(LEADS, params=lia), 400, "invalid_request_error")


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "abc"},
        {"limit": "1.5"},
        {"offset": "-1"},
        {"sort_by": "name"},
        {"sort_dir": "up"},
        {"lead_line": "renter"},
        {"include_custom_fields": "maybe"},
        {"stageId": "not-a-uuid"},
        {"updated_since": "yesterday"},
        {"created_since": "2026-13-01"},
    ],
)
def test_invalid_params_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    assert_error(client.get(LEADS, params=params), 400, "invalid_request_error")


def test_defaults_limits_and_offset(sim: SimulatorServer, client: httpx.Client) -> None:
    body = client.get(LEADS).json()
    assert (body["limit"], body["offset"], body["total"], len(body["leads"])) == (20, 0, 1500, 20)
    assert set(body) == {"leads", "total", "limit", "offset", "next_cursor"}
    assert len(client.get(LEADS, params={"limit": 100}).json()["leads"]) == 100
    shifted = client.get(LEADS, params={"limit": 10, "offset": 15}).json()["leads"]
    assert [lead["id"] for lead in shifted] == [lead["id"] for lead in body["leads"][15:20]] + [
        lead["id"] for lead in client.get(LEADS, params={"offset": 20, "limit": 5}).json()["leads"]
    ]
    tail = client.get(LEADS, params={"limit": 100, "offset": 1450}).json()
    assert len(tail["leads"]) == 50 and tail["next_cursor"] is None and tail["total"] == 1500


@pytest.mark.parametrize("sort_dir", ["asc", "desc"])
def test_last_interaction_sort_uses_offset_paging(
    sim: SimulatorServer, client: httpx.Client, sort_dir: str
) -> None:
    leads: list[dict[str, Any]] = []
    for offset in range(0, 1500, 100):
        body = client.get(
            LEADS,
            params={
                "sort_by": "last_interaction_at",
                "sort_dir": sort_dir,
                "limit": 100,
                "offset": offset,
            },
        ).json()
        assert body["next_cursor"] is None
        leads.extend(body["leads"])
    snapshot = sim.store.snapshot()
    present = sorted(
        (x["last_interaction_at"], x["id"]) for x in snapshot if x["last_interaction_at"]
    )
    missing = sorted(x["id"] for x in snapshot if not x["last_interaction_at"])
    expected = [lead_id for _, lead_id in present] + missing  # nulls last ascending
    if sort_dir == "desc":
        expected.reverse()
    assert [lead["id"] for lead in leads] == expected


# ----- filters -----------------------------------------------------------------------------


def _ids(client: httpx.Client, **params: Any) -> tuple[list[str], int]:
    leads, _ = page_all(client, limit=100, include_custom_fields="true", **params)
    total = client.get(LEADS, params={**params, "limit": 1}).json()["total"]
    return [lead["id"] for lead in leads], total


def test_filters_and_total(sim: SimulatorServer, client: httpx.Client) -> None:
    snapshot = sim.store.snapshot()
    some = snapshot[700]
    cut = sorted(lead["updated_at"] for lead in snapshot)[900]
    cases: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        ({"status": "won"}, [x for x in snapshot if x["status"] == "won"]),
        ({"status": "no-such"}, []),
        (
            {"stageId": STAGES[2]["id"]},
            [
                x
                for x in snapshot
                if x["current_stage"] and x["current_stage"]["id"] == STAGES[2]["id"]
            ],
        ),
        (
            {"lead_line": "seller"},
            [x for x in snapshot if x["custom_fields"].get("lead_line") == "seller"],
        ),
        ({"updated_since": cut}, [x for x in snapshot if x["updated_at"] >= cut]),
        ({"created_since": cut}, [x for x in snapshot if x["created_at"] >= cut]),
        (
            {"status": "active", "lead_line": "buyer", "created_since": "2025-06-01T00:00:00Z"},
            [
                x
                for x in snapshot
                if x["status"] == "active"
                and x["custom_fields"].get("lead_line") == "buyer"
                and x["created_at"] >= "2025-06-01T00:00:00.000Z"
            ],
        ),
        (
            {"search": "MÜLLER"},
            [x for x in snapshot if "müller" in (x["contact_name"] or "").lower()],
        ),
        (
            {"search": some["contact_email"].upper()},
            [x for x in snapshot if x["contact_email"] == some["contact_email"]],
        ),
    ]
    for params, expected in cases:
        for sort_by in ("updated_at", "created_at"):
            ids, total = _ids(client, sort_by=sort_by, **params)
            want = [x["id"] for x in sorted(expected, key=lambda x: (x[sort_by], x["id"]))]
            assert ids == want, params
            assert total == len(expected), params
    assert len(cases[0][1]) > 10 and len(cases[7][1]) > 10


def test_search_matches_phone_digits_in_any_format(
    sim: SimulatorServer, client: httpx.Client
) -> None:
    lead = next(x for x in sim.store.snapshot() if x["contact_phone"])
    digits = "".join(ch for ch in lead["contact_phone"] if ch.isdigit())[-10:]
    for query in (
        f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
        f"{digits[:3]}.{digits[3:6]}.{digits[6:]}",
        digits[-7:],
    ):
        ids, _ = _ids(client, search=query)
        assert lead["id"] in ids, query
    assert _ids(client, search=f"+1 {digits}")[0] == [lead["id"]]


def test_since_is_inclusive_and_iso_flexible(sim: SimulatorServer, client: httpx.Client) -> None:
    lead = sim.store.snapshot()[10]
    ts = lead["updated_at"]
    plus_two = datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(
        datetime.now().astimezone().tzinfo
    )
    for since in (ts, ts.replace("Z", "+00:00"), plus_two.isoformat()):
        ids, total = _ids(client, updated_since=since)
        assert lead["id"] in ids and total == len(ids)
    assert since_bound("2026-01-01T00:00:00.0005Z") == "2026-01-01T00:00:00.001Z"


def test_include_custom_fields(client: httpx.Client) -> None:
    without = client.get(LEADS, params={"limit": 50}).json()["leads"]
    assert all("custom_fields" not in lead for lead in without)
    with_cf = client.get(LEADS, params={"limit": 50, "include_custom_fields": "true"}).json()
    assert all(isinstance(lead["custom_fields"], dict) for lead in with_cf["leads"])
    assert [
        {k: v for k, v in x.items() if k != "custom_fields"} for x in with_cf["leads"]
    ] == without
    false = client.get(LEADS, params={"limit": 50, "include_custom_fields": "false"}).json()
    assert false["leads"] == without


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


# ----- faults ------------------------------------------------------------------------------


def test_status_and_rate_limited_faults(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    server.faults.add(faults.status(503, retry_after=2), times=2)
    server.faults.add(faults.status(500, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"))
    server.faults.add(faults.rate_limited(retry_after=5))
    first, second = c.get(LEADS), c.get(LEADS)
    assert assert_error(first, 503, "api_error") and second.status_code == 503
    assert first.headers["Retry-After"] == "2"
    third = c.get(LEADS)
    assert_error(third, 500, "api_error")
    assert third.headers["Retry-After"] == "Wed, 21 Oct 2026 07:28:00 GMT"
    limited = c.get(LEADS)
    assert_error(limited, 429, "rate_limit_error")
    assert limited.headers["Retry-After"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    assert c.get(LEADS).status_code == 200
    server.faults.add(faults.status(401))
    server.faults.add(faults.status(400), method="POST")
    assert_error(c.get(LEADS), 401, "authentication_error")
    assert_error(c.post(LEADS, json={"contact_name": "x"}), 400, "invalid_request_error")


def test_after_skips_matching_requests(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    server.faults.add(faults.status(502), after=2)
    assert [c.get(LEADS).status_code for _ in range(4)] == [200, 200, 502, 200]
    assert server.faults.pending() == 0


def test_connection_faults(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    server.faults.add(faults.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        c.get(LEADS)
    assert server.requests[-1].status is None
    server.faults.add(faults.truncate())
    with pytest.raises(httpx.RemoteProtocolError):
        c.get(LEADS)
    server.faults.add(faults.hang(1.0))
    with pytest.raises(httpx.ReadTimeout):
        c.get(LEADS, timeout=httpx.Timeout(5, read=0.2))
    server.faults.add(faults.slow(0.3))
    assert c.get(LEADS, timeout=2).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        server.faults.add(faults.slow(0.5))
        c.get(LEADS, timeout=httpx.Timeout(5, read=0.1))
    assert c.get(LEADS).status_code == 200


def test_body_faults(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    server.faults.add(faults.html_200())
    html = c.get(LEADS)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    server.faults.add(faults.non_json_200())
    broken = c.get(LEADS)
    assert broken.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        broken.json()
    for key in ("leads", "next_cursor"):
        server.faults.add(faults.missing_key(key))
        body = c.get(LEADS).json()
        assert key not in body and "total" in body
    server.faults.add(faults.bad_lead("no_id"))
    assert "id" not in c.get(LEADS).json()["leads"][0]
    server.faults.add(faults.bad_lead("no_updated_at"))
    assert "updated_at" not in c.get(LEADS).json()["leads"][0]
    server.faults.add(faults.bad_lead("wrong_types"))
    bad = c.get(LEADS).json()["leads"][0]
    assert isinstance(bad["id"], int) and isinstance(bad["updated_at"], int)
    with pytest.raises(ValueError):
        faults.bad_lead("nope")


def test_repeat_cursor_fault(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    first = c.get(LEADS, params={"limit": 10}).json()
    server.faults.add(faults.repeat_cursor())
    looped = c.get(LEADS, params={"limit": 10, "cursor": first["next_cursor"]}).json()
    assert looped["next_cursor"] == first["next_cursor"]
    assert looped["leads"][0]["id"] != first["leads"][0]["id"]


def test_latency_option() -> None:
    with SimulatorServer(store=make_store(5), latency_ms=150) as server:
        response = httpx.get(server.url + LEADS, headers=AUTH)
        assert response.status_code == 200 and response.elapsed >= timedelta(milliseconds=140)


# ----- admin, logging, clock, data ---------------------------------------------------------


def test_admin_endpoints_and_request_log(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    c.get(LEADS, params={"limit": "5", "status": "won", "search": "a b"})
    record = server.requests[-1]
    assert record.query == {"limit": "5", "status": "won", "search": "a b"}
    assert record["status"] == 200 and record.customer_id == DEFAULT_CUSTOMER_ID
    before = c.get(LEADS, params={"sort_dir": "desc", "limit": 1}).json()["leads"][0]["updated_at"]
    touched = c.post("/_sim/touch", params={"n": 5, "seed": 1}).json()["ids"]
    assert len(set(touched)) == 5
    newest = c.get(LEADS, params={"sort_dir": "desc", "limit": 5}).json()["leads"]
    assert {lead["id"] for lead in newest} == set(touched)
    assert all(lead["updated_at"] > before for lead in newest)
    stats = c.get("/_sim/stats").json()
    assert stats["leads"] == 300 and stats["requests_served"] == len(server.requests) == 3
    assert c.post("/_sim/reset_requests").status_code == 200 and server.requests == []
    assert c.get("/_sim/nope").status_code == 404
    assert_error(c.get("/api/agents/crm/nope"), 404, "not_found_error")
    assert c.delete(LEADS).status_code == 405


def test_manual_clock() -> None:
    clock = ManualClock(START)
    assert [format_ts(clock.now()) for _ in range(2)] == [
        "2026-01-01T01:00:00.000Z",
        "2026-01-01T01:00:00.001Z",
    ]
    frozen = ManualClock(START, step=timedelta(0))
    assert frozen.now() == frozen.now() == START
    frozen.advance(timedelta(seconds=1.5))
    assert format_ts(frozen.now()) == "2026-01-01T01:00:01.500Z"
    frozen.set(datetime(2026, 2, 3, 4, 5, 6, 789_999, tzinfo=UTC))
    assert format_ts(frozen.now()) == "2026-02-03T04:05:06.789Z"


def test_store_is_deterministic_under_manual_clock() -> None:
    def run() -> list[dict[str, Any]]:
        store = make_store(400, seed=5)
        store.touch(50, seed=2)
        lead_id = store.snapshot()[0]["id"]
        store.set_custom_field(lead_id, "budget", 450000.5)
        store.remove_custom_field(lead_id, "budget")
        store.update(lead_id, status="nurture", stage_slug="showing")
        store.delete(store.snapshot()[1]["id"])
        return store.snapshot()

    first = run()
    assert first == run() and len(first) == 399
    assert sum(lead["updated_at"] >= format_ts(START) for lead in first) in (50, 51)


def test_generated_data_is_realistic() -> None:
    leads = generate_leads(20_000, seed=1)
    assert leads == generate_leads(20_000, seed=1) and leads != generate_leads(20_000, seed=2)
    budgets = {type(x["custom_fields"]["budget"]) for x in leads if "budget" in x["custom_fields"]}
    assert budgets == {str, int, float}
    approved = {type(x["custom_fields"].get("pre_approved")) for x in leads}
    assert {bool, str} <= approved
    assert any(x["custom_fields"] == {} for x in leads)
    assert 4.8 < sum(len(x["custom_fields"]) for x in leads) / len(leads) < 5.8
    assert any(x["current_stage"] is None for x in leads) and any(x["owner"] is None for x in leads)
    assert any(x["owner"] and x["owner"]["role_name"] is None for x in leads)
    assert any(x["score"] is None for x in leads) and any(x["qualified"] is None for x in leads)
    assert all(x["created_at"] <= x["updated_at"] <= "2026-01-01T00:00:00.000Z" for x in leads)
    assert all(len(x["updated_at"]) == 24 and x["updated_at"].endswith("Z") for x in leads)
    counts: dict[str, int] = {}
    for x in leads:
        counts[x["updated_at"]] = counts.get(x["updated_at"], 0) + 1
    assert max(counts.values()) > 100
    names = {x["contact_name"] for x in leads}
    assert any(name and not name.isascii() for name in names) and None in names
    assert len({x["id"] for x in leads}) == len(leads)


def test_concurrent_clients(sim: SimulatorServer) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with httpx.Client(base_url=sim.url, headers=AUTH) as c:
                leads, _ = page_all(c, limit=100, sort_by="created_at")
                assert len(leads) == 1500
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_cli_refuses_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["serve", "--host", "0.0.0.0", "--leads", "1"]) == 2
    assert "non-loopback" in capsys.readouterr().err
    with pytest.raises(ValueError):
        SimulatorServer(host="10.1.2.3")
