"""Faults, rate limiting, latency and the admin endpoints of the Apollo simulator, over real
loopback HTTP, as the destination's retry code will meet them on POST /v1/leads."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from simulators.apollo import (
    DEFAULT_PIPELINE_ID,
    ApolloServer,
)
from simulators.core.faults import (
    callback,
    commit_then_drop,
    drop,
    missing_key,
    rate_limited,
    slow,
    status,
    truncate,
)
from tests.simulator.apollo_api import AUTH, LEADS, assert_error, lead_body

Fresh = tuple[ApolloServer, httpx.Client]


def test_commit_then_drop_then_a_retry_with_the_same_key(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    key = {"Idempotency-Key": "9b2f4c1d-7e3a-4b5c-8d6e-0f1a2b3c4d5e"}
    body = lead_body(email="lost@example.com")
    server.faults.add(commit_then_drop())  # POST /v1/leads by default
    with pytest.raises(httpx.RemoteProtocolError):
        c.post(LEADS, json=body, headers=key)
    assert len(server.store) == 1  # committed, though the client never heard
    assert server.requests[-1].status is None
    created = server.store.leads()[0]

    retried = c.post(LEADS, json=body, headers=key)

    assert retried.status_code == 201 and retried.json() == created
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert len(server.store) == 1
    # Without the key the retry is a new create, which the known e-mail turns into a 409.
    assert_error(c.post(LEADS, json=body), 409, "duplicate_lead")


def test_status_faults_with_retry_after(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    server.faults.add(status(503, retry_after=2), times=2)
    server.faults.add(rate_limited(retry_after=5))
    for _ in range(2):
        unavailable = c.post(LEADS, json=lead_body())
        assert_error(unavailable, 503, "service_unavailable")
        assert unavailable.headers["Retry-After"] == "2"
    limited = c.post(LEADS, json=lead_body())
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "5" and limited.headers["RateLimit-Remaining"] == "0"
    assert c.post(LEADS, json=lead_body()).status_code == 201
    assert len(server.store) == 1  # the faulted requests never reached the store
    server.faults.add(status(500), after=1)
    codes = [c.post(LEADS, json=lead_body()).status_code for _ in range(3)]
    assert codes == [201, 500, 201]
    # A fault is armed for POST: another method on the path is untouched.
    server.faults.add(status(502))
    assert c.get(LEADS).status_code == 405
    assert_error(c.post(LEADS, json=lead_body()), 502, "bad_gateway")
    assert server.faults.pending() == 0


def test_connection_and_body_faults(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    server.faults.add(drop())
    with pytest.raises(httpx.RemoteProtocolError):
        c.post(LEADS, json=lead_body())
    assert len(server.store) == 0  # dropped before it was served
    server.faults.add(truncate())
    with pytest.raises(httpx.RemoteProtocolError):
        c.post(LEADS, json=lead_body())
    server.faults.add(slow(0.5))
    with pytest.raises(httpx.ReadTimeout):
        c.post(LEADS, json=lead_body(), timeout=httpx.Timeout(5, read=0.1))
    deadline = time.monotonic() + 5
    while len(server.store) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the slow create commits after the client gave up
    assert len(server.store) == 2  # the truncated and the slow create
    server.faults.add(missing_key("id"))
    body = c.post(LEADS, json=lead_body()).json()
    assert "id" not in body and body["stage"] == "novo"
    seen: list[int] = []
    server.faults.add(callback(lambda store: seen.append(len(store))))
    assert c.post(LEADS, json=lead_body()).status_code == 201
    assert seen == [3]  # run before the create it precedes


def test_rate_limit_headers_and_429() -> None:
    with (
        ApolloServer(rate_limit=3, rate_window_s=30) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as c,
    ):
        answers = [c.post(LEADS, json=lead_body()) for _ in range(3)]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
        limited = c.post(LEADS, json=lead_body())
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert limited.headers["RateLimit-Limit"] == "3"
        assert len(server.store) == 3


def test_latency_does_not_serialise_concurrent_creates() -> None:
    with (
        ApolloServer(latency_s=0.1) as server,
        httpx.Client(
            base_url=server.url, headers=AUTH, limits=httpx.Limits(max_connections=16)
        ) as c,
    ):
        assert c.post(LEADS, json=lead_body()).elapsed.total_seconds() >= 0.1  # warms up

        def create(i: int) -> float:
            response = c.post(LEADS, json=lead_body(email=f"lead{i}@example.com"))
            assert response.status_code == 201, response.text
            return response.elapsed.total_seconds()

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            elapsed = list(pool.map(create, range(8)))
        wall = time.perf_counter() - started
        assert len(server.store) == 9

    assert all(e >= 0.095 for e in elapsed)
    assert wall < 0.5, f"8 creates of 0.1 s took {wall:.2f} s: served one at a time?"


def test_admin_endpoints_and_request_log(apollo_fresh: Fresh) -> None:
    server, c = apollo_fresh
    created = c.post(LEADS, json=lead_body(), headers={"Idempotency-Key": "k-1"}).json()
    record = server.requests[-1]
    assert (record.method, record.path, record["status"]) == ("POST", "/v1/leads", 201)
    assert record.idempotency_key == "k-1"
    admin = httpx.Client(base_url=server.origin)
    assert admin.get("/_sim/snapshot").json() == [created] == server.store.leads()
    pipelines = admin.get("/_sim/pipelines").json()
    assert pipelines == server.store.pipelines() and pipelines[0]["id"] == DEFAULT_PIPELINE_ID
    bad = admin.get("/_sim/snapshot", params={"organization_id": "x"})
    assert_error(bad, 400, "invalid_request")
    assert admin.get("/_sim/stats").json() == {"leads": 1, "requests_served": 1}
    assert admin.post("/_sim/reset_requests").status_code == 200 and server.requests == []
    server.clear_requests()
    assert admin.get("/_sim/nope").status_code == 404
    admin.close()
