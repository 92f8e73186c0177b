"""The MEGA simulator, exercised over real loopback HTTP the way the connector will see it:
armed faults, admin endpoints, the clock, generated data."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from simulators.core import faults
from simulators.core.clock import format_ts
from simulators.mega import (
    DEFAULT_CUSTOMER_ID,
    ManualClock,
    SimulatorServer,
    generate_leads,
)
from simulators.mega.__main__ import main as cli_main
from simulators.mega.clock import UTC
from simulators.mega.faults import bad_lead, repeat_cursor
from tests.simulator.api import (
    AUTH,
    LEADS,
    START,
    assert_error,
    make_store,
    page_all,
)

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
    server.faults.add(bad_lead("no_id"))
    assert "id" not in c.get(LEADS).json()["leads"][0]
    server.faults.add(bad_lead("no_updated_at"))
    assert "updated_at" not in c.get(LEADS).json()["leads"][0]
    server.faults.add(bad_lead("wrong_types"))
    bad = c.get(LEADS).json()["leads"][0]
    assert isinstance(bad["id"], int) and isinstance(bad["updated_at"], int)
    with pytest.raises(ValueError):
        bad_lead("nope")


def test_repeat_cursor_fault(fresh: tuple[SimulatorServer, httpx.Client]) -> None:
    server, c = fresh
    first = c.get(LEADS, params={"limit": 10}).json()
    server.faults.add(repeat_cursor())
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
