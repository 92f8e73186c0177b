"""The MEGA simulator, exercised over real loopback HTTP the way the connector will see it:
keyset paging, cursors, parameters and filters."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from simulators.core import faults
from simulators.mega import STAGES, SimulatorServer, generate_leads
from simulators.mega.clock import since_bound
from tests.simulator.api import (
    AUTH,
    LEADS,
    assert_error,
    make_store,
    page_all,
)

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
