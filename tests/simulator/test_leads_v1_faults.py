"""Faults, rate limiting and latency on the Leads v1 simulator, over real loopback HTTP:
each armed at the list path, the single-lead path or a write, as the connector's retry and
validation code will meet them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from simulators.core.faults import (
    commit_then_drop,
    drop,
    html_200,
    missing_key,
    non_json_200,
    path_matches,
    rate_limited,
    slow,
    status,
    truncate,
)
from simulators.leads_v1 import (
    LEAD_PATH,
    LeadsV1Server,
    bad_lead,
)
from tests.simulator.leads_v1_api import AUTH, LEADS, assert_error, lead_url

Fresh = tuple[LeadsV1Server, httpx.Client]


def test_status_faults_with_retry_after(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    server.faults.add(status(503, retry_after=2), times=2)
    server.faults.add(rate_limited(retry_after=5))
    for _ in range(2):
        unavailable = c.get(LEADS)
        assert_error(unavailable, 503, "service_unavailable")
        assert unavailable.headers["Retry-After"] == "2"
    limited = c.get(LEADS)
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    assert c.get(LEADS).status_code == 200
    server.faults.add(status(500), after=1)
    assert [c.get(LEADS).status_code for _ in range(3)] == [200, 500, 200]
    assert server.faults.pending() == 0


def test_faults_target_the_list_or_the_single_lead_path(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    ids = [lead["id"] for lead in server.store.leads()[:3]]
    server.faults.add(status(404), path=LEAD_PATH, times=2)
    server.faults.add(status(503), path=lead_url(ids[2]))  # one lead only
    assert c.get(LEADS).status_code == 200  # the list is untouched
    assert [c.get(lead_url(i)).status_code for i in ids] == [404, 404, 503]
    assert [c.get(lead_url(i)).status_code for i in ids] == [200, 200, 200]
    # A list fault (the default path) leaves single-lead requests alone.
    server.faults.add(status(502))
    assert c.get(lead_url(ids[0])).status_code == 200
    assert_error(c.get(LEADS), 502, "bad_gateway")
    # Methods: GET by default, "*" for any.
    server.faults.add(status(500), method="*", path=LEAD_PATH, times=2)
    assert c.patch(lead_url(ids[0]), json={"lead_score": 1}).status_code == 500
    assert c.get(lead_url(ids[0])).status_code == 500
    assert c.patch(lead_url(ids[0]), json={"lead_score": 1}).status_code == 200


def test_path_patterns() -> None:
    assert path_matches(LEAD_PATH, "/api/v1/leads/abc")
    assert not path_matches(LEAD_PATH, "/api/v1/leads")
    assert not path_matches(LEAD_PATH, "/api/v1/leads/")
    assert not path_matches(LEAD_PATH, "/api/v1/leads/abc/score")
    assert path_matches(LEADS, LEADS) and not path_matches(LEADS, LEADS + "/abc")


def test_connection_faults(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    lead_id = server.store.leads()[0]["id"]
    server.faults.add(drop())
    with pytest.raises(httpx.RemoteProtocolError):
        c.get(LEADS)
    assert server.requests[-1].status is None
    server.faults.add(truncate(), path=LEAD_PATH)
    with pytest.raises(httpx.RemoteProtocolError):
        c.get(lead_url(lead_id))
    server.faults.add(slow(0.5), path=LEAD_PATH)
    with pytest.raises(httpx.ReadTimeout):
        c.get(lead_url(lead_id), timeout=httpx.Timeout(5, read=0.1))
    assert c.get(LEADS).status_code == 200


def test_body_faults(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    lead_id = server.store.leads()[0]["id"]
    server.faults.add(html_200(), path=LEAD_PATH)
    html = c.get(lead_url(lead_id))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    server.faults.add(non_json_200())
    broken = c.get(LEADS)
    assert broken.status_code == 200 and broken.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        broken.json()
    for key, kept in (("data", "next_cursor"), ("next_cursor", "data")):
        server.faults.add(missing_key(key))
        body = c.get(LEADS).json()
        assert key not in body and kept in body
    server.faults.add(bad_lead())
    rows = c.get(LEADS).json()["data"]
    assert "id" not in rows[0] and "id" in rows[1]
    server.faults.add(bad_lead("not_object"))
    assert isinstance(c.get(LEADS).json()["data"][0], str)
    server.faults.add(bad_lead("wrong_types"))
    row = c.get(LEADS).json()["data"][0]
    assert isinstance(row["id"], int) and isinstance(row["created_at"], int)
    server.faults.add(bad_lead(), path=LEAD_PATH)
    assert "id" not in c.get(lead_url(lead_id)).json()
    with pytest.raises(ValueError):
        bad_lead("nope")


def test_commit_then_drop_on_create_then_an_idempotent_retry(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    before = len(server.store)
    key = {"Idempotency-Key": "lost-answer"}
    server.faults.add(commit_then_drop(), method="POST")
    with pytest.raises(httpx.RemoteProtocolError):
        c.post(LEADS, json={"email": "lost@example.com"}, headers=key)
    assert len(server.store) == before + 1  # committed, though the client never heard
    assert server.requests[-1].status is None
    created = server.store.leads()[-1]
    assert created["email"] == "lost@example.com"

    retried = c.post(LEADS, json={"email": "lost@example.com"}, headers=key)

    assert retried.status_code == 201 and retried.json()["id"] == created["id"]
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert len(server.store) == before + 1


def test_rate_limit_headers_and_429() -> None:
    with (
        LeadsV1Server(n_leads=10, rate_limit=3, rate_window_s=30) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as c,
    ):
        remaining = [c.get(LEADS).headers["RateLimit-Remaining"] for _ in range(3)]
        assert remaining == ["2", "1", "0"]
        limited = c.get(LEADS)
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert limited.headers["RateLimit-Limit"] == "3"


def test_latency_does_not_serialise_concurrent_requests() -> None:
    with (
        LeadsV1Server(n_leads=20, latency_s=0.1) as server,
        httpx.Client(
            base_url=server.url, headers=AUTH, limits=httpx.Limits(max_connections=16)
        ) as c,
    ):
        ids = [lead["id"] for lead in server.store.leads()[:8]]
        assert c.get(LEADS).elapsed.total_seconds() >= 0.1  # also warms a connection

        def get(lead_id: str) -> float:
            response = c.get(lead_url(lead_id))
            assert response.status_code == 200
            return response.elapsed.total_seconds()

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            elapsed = list(pool.map(get, ids))
        wall = time.perf_counter() - started

    assert all(e >= 0.095 for e in elapsed)
    assert wall < 0.5, f"8 requests of 0.1 s took {wall:.2f} s: served one at a time?"
