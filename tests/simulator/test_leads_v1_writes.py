"""The Leads v1 simulator's writes over real loopback HTTP: create and its validation,
Idempotency-Key replay and conflict, PATCH's whitelist and updated_at; the in-process store
API tests use; the ``/_sim/`` admin endpoints; the generated data."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from simulators.core.clock import format_ts
from simulators.leads_v1 import (
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_TOKEN,
    LIST_FIELDS,
    OTHER_ORGANIZATION_ID,
    OTHER_TOKEN,
    PATCH_RESPONSE_FIELDS,
    SOURCES,
    STAGES,
    ApiError,
    LeadsV1Server,
    LeadsV1Store,
    ManualClock,
    generate_leads,
)
from tests.simulator.leads_v1_api import AUTH, LEADS, START, assert_error, lead_url, page_all

Fresh = tuple[LeadsV1Server, httpx.Client]
DOC_CREATE = {  # the doc's create example
    "name": "Sarah Mitchell",
    "email": "sarah.mitchell@example.com",
    "source": "website",
    "industry": "residential",
    "pipeline_stage": "new",
}


# ----- create ------------------------------------------------------------------------------


def test_create_returns_201_with_the_record(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    before = len(server.store)
    now = format_ts(server.clock.now())  # the manual clock steps 1 ms per reading

    response = c.post(LEADS, json=DOC_CREATE)

    assert response.status_code == 201
    body = response.json()
    assert tuple(body) == LIST_FIELDS
    assert body["organization_id"] == DEFAULT_ORGANIZATION_ID
    assert body["lead_score"] == 0 and body["company"] is None and body["source"] == "website"
    assert body["created_at"] == body["updated_at"] > now
    assert response.headers["Location"] == lead_url(body["id"])
    assert len(server.store) == before + 1
    assert c.get(lead_url(body["id"])).json()["pain_points"] is None
    assert page_all(c, limit=200)[0][-1] == body  # the newest lead pages last
    minimal = c.post(LEADS, json={"name": "Ana", "company": "Acme"}).json()
    assert minimal["pipeline_stage"] == "new" and minimal["email"] is None
    scored = c.post(LEADS, json={"email": "a@b.co", "lead_score": 87, "pipeline_stage": "won"})
    assert scored.json()["lead_score"] == 87 and scored.json()["pipeline_stage"] == "won"


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ({}, "email"),
        ({"name": "Ana"}, "company"),
        ({"company": "Acme"}, "company"),
        ({"name": "Ana", "company": "  "}, "company"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "ana@example"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a@b.co", "id": "x"}, "id"),
        ({"email": "a@b.co", "created_at": "2026-01-01T00:00:00.000Z"}, "created_at"),
        ({"email": "a@b.co", "phone": "555"}, "phone"),
        ({"email": "a@b.co", "lead_score": 101}, "lead_score"),
        ({"email": "a@b.co", "lead_score": -1}, "lead_score"),
        ({"email": "a@b.co", "lead_score": "5"}, "lead_score"),
        ({"email": "a@b.co", "lead_score": True}, "lead_score"),
        ({"email": "a@b.co", "lead_score": 5.5}, "lead_score"),
        ({"email": "a@b.co", "lead_score": None}, "lead_score"),
        ({"email": "a@b.co", "pipeline_stage": None}, "pipeline_stage"),
        ({"email": "a@b.co", "name": 5}, "name"),
    ],
)
def test_create_validation_is_422(v1_fresh: Fresh, payload: dict[str, Any], mentions: str) -> None:
    server, c = v1_fresh
    before = len(server.store)
    message = assert_error(c.post(LEADS, json=payload), 422, "validation_error")
    assert mentions in message
    assert len(server.store) == before


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"a string"', b"{"])
def test_a_body_that_is_not_a_json_object_is_400(v1_fresh: Fresh, body: bytes) -> None:
    _, c = v1_fresh
    headers = {"Content-Type": "application/json"}
    assert_error(c.post(LEADS, content=body, headers=headers), 400, "invalid_request")


def test_create_idempotency_replays_and_conflicts(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    before = len(server.store)
    key = {"Idempotency-Key": "create-1"}

    first = c.post(LEADS, json=DOC_CREATE, headers=key)
    # Same JSON, other key order: the same request.
    again = c.post(LEADS, json=dict(reversed(DOC_CREATE.items())), headers=key)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(server.store) == before + 1
    conflict = c.post(LEADS, json={**DOC_CREATE, "name": "Other"}, headers=key)
    assert "Idempotency-Key" in assert_error(conflict, 409, "idempotency_conflict")
    # Keys are per organization: the other tenant's same key is its own create.
    as_other = {**key, "Authorization": f"Bearer {OTHER_TOKEN}"}
    other = c.post(LEADS, json=DOC_CREATE, headers=as_other)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert other.json()["organization_id"] == OTHER_ORGANIZATION_ID
    # A rejected request is not remembered: the corrected retry may reuse its key.
    retry = {"Idempotency-Key": "create-2"}
    assert c.post(LEADS, json={"name": "Ana"}, headers=retry).status_code == 422
    assert c.post(LEADS, json={"name": "Ana", "company": "Acme"}, headers=retry).status_code == 201
    assert len(server.store) == before + 2
    assert [r.idempotency_key for r in server.requests[:2]] == ["create-1", "create-1"]


# ----- patch -------------------------------------------------------------------------------


def test_patch_changes_whitelisted_fields_and_moves_updated_at(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    lead = server.store.leads()[3]

    response = c.patch(lead_url(lead["id"]), json={"pipeline_stage": "won", "lead_score": 92})

    assert response.status_code == 200
    body = response.json()
    assert tuple(body) == PATCH_RESPONSE_FIELDS  # the doc's PATCH example shape
    assert body["pipeline_stage"] == "won" and body["lead_score"] == 92
    assert body["updated_at"] > lead["updated_at"]
    stored = server.store.get(lead["id"])
    assert stored is not None and stored["created_at"] == lead["created_at"]
    changed = {"pipeline_stage": "won", "lead_score": 92, "updated_at": body["updated_at"]}
    assert stored == {**lead, **changed}
    cleared = c.patch(lead_url(lead["id"]), json={"company": None, "pain_points": "Leaky roof"})
    assert cleared.status_code == 200 and cleared.json()["company"] is None
    assert c.get(lead_url(lead["id"])).json()["pain_points"] == "Leaky roof"
    for score in (0, 100):
        assert c.patch(lead_url(lead["id"]), json={"lead_score": score}).status_code == 200


def test_patch_on_a_frozen_clock_still_moves_updated_at_forward() -> None:
    frozen = ManualClock(START, step=timedelta(0))
    with (
        LeadsV1Server(n_leads=5, clock=frozen) as server,
        httpx.Client(base_url=server.url, headers=AUTH) as c,
    ):
        created = c.post(LEADS, json={"email": "a@b.co"}).json()
        stamps = [created["updated_at"]]
        for score in (1, 2, 3):
            patched = c.patch(lead_url(created["id"]), json={"lead_score": score})
            stamps.append(patched.json()["updated_at"])
        assert stamps == sorted(set(stamps))  # strictly increasing, 1 ms apart
        assert stamps[-1] == format_ts(START + timedelta(milliseconds=3))


@pytest.mark.parametrize(
    ("payload", "mentions"),
    [
        ({"created_at": "2026-01-01T00:00:00.000Z"}, "created_at"),
        ({"organization_id": OTHER_ORGANIZATION_ID}, "organization_id"),
        ({"qualification_completed_at": None}, "qualification_completed_at"),
        ({"lead_score": 101}, "lead_score"),
        ({"lead_score": -1}, "lead_score"),
        ({"lead_score": 50.5}, "lead_score"),
        ({"email": "nope"}, "email"),
        ({}, "at least one"),
    ],
)
def test_patch_validation_is_422(v1_fresh: Fresh, payload: dict[str, Any], mentions: str) -> None:
    server, c = v1_fresh
    lead = server.store.leads()[0]
    message = assert_error(c.patch(lead_url(lead["id"]), json=payload), 422, "validation_error")
    assert mentions in message
    assert server.store.get(lead["id"]) == lead


def test_patch_404s_and_idempotency(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    other = server.store.leads(OTHER_ORGANIZATION_ID)[0]
    gone = server.store.leads()[1]["id"]
    assert server.store.delete(gone)
    for lead_id in (other["id"], gone, "9f1c8a32-4d65-4e2b-8a91-3c0e7d4b2f18"):
        assert_error(c.patch(lead_url(lead_id), json={"lead_score": 5}), 404, "not_found")
        assert_error(c.get(lead_url(lead_id)), 404, "not_found")
    assert server.store.get(other["id"]) == other
    lead_id = server.store.leads()[0]["id"]
    key = {"Idempotency-Key": "patch-1"}
    first = c.patch(lead_url(lead_id), json={"lead_score": 7}, headers=key)
    again = c.patch(lead_url(lead_id), json={"lead_score": 7}, headers=key)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert server.store.get(lead_id)["updated_at"] == first.json()["updated_at"]  # type: ignore[index]
    conflict = c.patch(lead_url(lead_id), json={"lead_score": 8}, headers=key)
    assert_error(conflict, 409, "idempotency_conflict")


# ----- the store, admin endpoints, generated data ---------------------------------------------


def test_store_api() -> None:
    store = LeadsV1Store(ManualClock(START))
    a = store.create(email="a@b.co", created_at=START)
    b = store.create(name="B", company="Acme", created_at=format_ts(START), id="b" * 8)
    c = store.create(OTHER_ORGANIZATION_ID, name="C")
    assert a["created_at"] == b["created_at"] == format_ts(START) == a["updated_at"]
    assert [x["id"] for x in store.leads()] == sorted([a["id"], b["id"]])
    assert store.leads(OTHER_ORGANIZATION_ID) == [c] and len(store) == 2
    assert c["lead_score"] == 0 and c["pipeline_stage"] == "new"
    updated = store.update(a["id"], lead_score=50, qualification_completed_at=START)
    assert updated["lead_score"] == 50 and updated["updated_at"] > a["updated_at"]
    assert updated["qualification_completed_at"] == format_ts(START)
    assert store.get(a["id"]) == updated and store.get("nope") is None
    with pytest.raises(ApiError):
        store.update(a["id"], lead_score=500)
    with pytest.raises(ApiError):
        store.create(bogus=1)
    with pytest.raises(KeyError):
        store.update("nope", lead_score=1)
    with pytest.raises(ValueError):
        store.create(id="b" * 8, email="x@y.zz")
    assert store.delete(b["id"]) and not store.delete(b["id"])
    assert [x["id"] for x in store.leads()] == [a["id"]]


def test_admin_endpoints_and_request_log(v1_fresh: Fresh) -> None:
    server, c = v1_fresh
    lead_id = server.store.leads()[0]["id"]
    c.get(LEADS, params={"limit": "5", "source": "website"})
    record = server.requests[-1]
    assert record.method == "GET" and record.path == LEADS and record["status"] == 200
    assert record.query == {"limit": "5", "source": "website"}

    deleted = c.post(f"/_sim/leads/{lead_id}/delete")
    assert deleted.status_code == 200 and deleted.json() == {"deleted": lead_id}
    assert_error(c.get(lead_url(lead_id)), 404, "not_found")
    assert_error(c.post(f"/_sim/leads/{lead_id}/delete"), 404, "not_found")
    touched = c.post("/_sim/touch", params={"n": 3, "seed": 1}).json()["ids"]
    assert len(set(touched)) == 3
    assert all(server.store.get(i)["updated_at"] > format_ts(START) for i in touched)  # type: ignore[index]
    assert_error(c.post("/_sim/touch", params={"n": "x"}), 400, "invalid_request")
    snapshot = c.get("/_sim/snapshot").json()
    assert snapshot == server.store.leads() and len(snapshot) == 119
    stats = c.get("/_sim/stats").json()
    assert stats["leads"] == 119 and stats["requests_served"] == len(server.requests) == 2
    assert c.post("/_sim/reset_requests").status_code == 200 and server.requests == []
    assert c.get("/_sim/nope").status_code == 404


def test_generated_data_is_deterministic_and_realistic() -> None:
    leads = generate_leads(3000, seed=1, now=START)
    assert leads == generate_leads(3000, seed=1, now=START)
    assert leads != generate_leads(3000, seed=2, now=START)
    keys = [(x["created_at"], x["id"]) for x in leads]
    assert keys == sorted(keys) and len({x["id"] for x in leads}) == 3000
    ties = Counter(x["created_at"] for x in leads)
    assert sum(n - 1 for n in ties.values()) > 3000 / 10  # about every 7th lead is a tie
    assert format_ts(START - timedelta(days=90)) <= leads[0]["created_at"]
    assert all(x["created_at"] <= x["updated_at"] <= format_ts(START) for x in leads)
    qualified = [x for x in leads if x["qualification_completed_at"] is not None]
    assert 0.4 < len(qualified) / 3000 < 0.7
    for x in qualified:
        assert x["created_at"] <= x["qualification_completed_at"] <= x["updated_at"]
    assert all(x["email"] or (x["name"] and x["company"]) for x in leads)
    assert any(x["company"] is None for x in leads) and any(x["industry"] is None for x in leads)
    assert {x["source"] for x in leads} == set(SOURCES)
    assert {x["pipeline_stage"] for x in leads} == set(STAGES)
    assert {x["lead_score"] for x in leads} <= set(range(101))
    assert {x["organization_id"] for x in leads} == {DEFAULT_ORGANIZATION_ID}
    assert DEFAULT_TOKEN.startswith("lv1_")
