"""The Leads v1 simulator's reads over real loopback HTTP, as the connector will see them:
keyset paging with created_at ties, limits, the cursor, filters, the detail record,
organization scoping and authentication."""

from __future__ import annotations

import base64
from datetime import timedelta, timezone
from itertools import pairwise
from typing import Any

import httpx
import orjson
import pytest

from simulators.leads_v1 import (
    DEFAULT_ORGANIZATION_ID,
    DETAIL_FIELDS,
    LIST_FIELDS,
    OTHER_ORGANIZATION_ID,
    OTHER_TOKEN,
    LeadsV1Server,
    decode_cursor,
    parse_instant,
)
from tests.simulator.leads_v1_api import LEADS, assert_error, lead_url, page_all

# The doc's example cursor, verbatim.
DOC_CURSOR = (
    "eyJjcmVhdGVkX2F0IjoiMjAyNi0wNC0yN1QxMzoyMjowNS4xMTRaIiwiaWQiOiI5ZjFjOGEzMi00ZDY1LTRlMmIt"
    "OGE5MS0zYzBlN2Q0YjJmMTgifQ"
)


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def keyset(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(row["created_at"], row["id"]) for row in rows]


# ----- paging ------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [7, 50, 200])
def test_pages_cover_the_store_in_created_at_id_order(
    v1_sim: LeadsV1Server, v1_client: httpx.Client, limit: int
) -> None:
    rows, requests = page_all(v1_client, limit=limit)

    expected = v1_sim.store.leads()
    assert [row["id"] for row in rows] == [lead["id"] for lead in expected]  # none skipped/twice
    assert keyset(rows) == sorted(keyset(rows))
    assert requests == -(-len(expected) // limit)  # no empty last page, even when exactly full
    assert all(tuple(row) == LIST_FIELDS for row in rows)
    assert rows[0] == {name: expected[0][name] for name in LIST_FIELDS}
    assert {row["organization_id"] for row in rows} == {DEFAULT_ORGANIZATION_ID}


def test_ties_on_created_at_straddle_page_boundaries(v1_client: httpx.Client) -> None:
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        body = v1_client.get(LEADS, params={"limit": 7, **({"cursor": cursor} if cursor else {})})
        pages.append(body.json()["data"])
        cursor = body.json()["next_cursor"]
        if cursor is None:
            break
    straddling = [(a, b) for a, b in pairwise(pages) if a[-1]["created_at"] == b[0]["created_at"]]
    # The data has ties, and some of them are cut by a page boundary: the cursor's id part
    # is what keeps the rest of the tie on the next page.
    assert len(straddling) >= 3
    for before, after in straddling:
        assert before[-1]["id"] < after[0]["id"]


def test_default_and_maximum_limit(v1_client: httpx.Client) -> None:
    assert len(v1_client.get(LEADS).json()["data"]) == 50
    assert len(v1_client.get(LEADS, params={"limit": 200}).json()["data"]) == 200
    assert len(v1_client.get(LEADS, params={"limit": 1}).json()["data"]) == 1
    for bad in ("201", "0", "-1", "abc", "5.0", "", " 5", "1e2"):
        message = assert_error(v1_client.get(LEADS, params={"limit": bad}), 400, "invalid_request")
        assert "limit" in message


def test_cursor_is_unpadded_base64url_json_of_the_last_row(v1_client: httpx.Client) -> None:
    body = v1_client.get(LEADS, params={"limit": 10}).json()
    cursor = body["next_cursor"]
    assert "=" not in cursor and "+" not in cursor and "/" not in cursor
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    last = body["data"][-1]
    # Compact, key order as in the doc's example cursor.
    assert raw == orjson.dumps({"created_at": last["created_at"], "id": last["id"]})
    assert decode_cursor(DOC_CURSOR) == (
        "2026-04-27T13:22:05.114Z",
        "9f1c8a32-4d65-4e2b-8a91-3c0e7d4b2f18",
    )
    # A hand-made cursor of the doc's form positions the page: strictly after that pair.
    rows = v1_client.get(LEADS, params={"limit": 200}).json()["data"]
    pivot = rows[100]
    made = b64({"created_at": pivot["created_at"], "id": pivot["id"]})
    assert v1_client.get(LEADS, params={"cursor": made, "limit": 3}).json()["data"] == rows[101:104]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "abcde",  # not a whole base64 quantum
        b64(b"not json"),
        b64([1, 2]),
        b64({"created_at": "2026-04-27T13:22:05.114Z"}),
        b64({"created_at": "2026-04-27T13:22:05Z", "id": "x"}),  # not the rendered format
        b64({"created_at": "2026-04-27T13:22:05.114Z", "id": 5}),
        b64({"created_at": "2026-04-27T13:22:05.114Z", "id": "x", "extra": 1}),
        DOC_CURSOR[:-4],
    ],
)
def test_invalid_cursor_is_400(v1_client: httpx.Client, cursor: str) -> None:
    message = assert_error(v1_client.get(LEADS, params={"cursor": cursor}), 400, "invalid_request")
    assert "cursor" in message.lower()


# ----- filters -----------------------------------------------------------------------------


def test_stage_and_source_filters(v1_sim: LeadsV1Server, v1_client: httpx.Client) -> None:
    leads = v1_sim.store.leads()
    for params in (
        {"pipeline_stage": "won"},
        {"source": "google_ads"},
        {"pipeline_stage": "qualified", "source": "website"},
    ):
        rows, _ = page_all(v1_client, limit=17, **params)
        expected = [x["id"] for x in leads if all(x[k] == v for k, v in params.items())]
        assert [row["id"] for row in rows] == expected and expected
    assert v1_client.get(LEADS, params={"source": "fax"}).json() == {
        "data": [],
        "next_cursor": None,
    }
    assert_error(v1_client.get(LEADS, params={"source": ""}), 400, "invalid_request")


def test_start_at_is_inclusive_and_end_at_exclusive(
    v1_sim: LeadsV1Server, v1_client: httpx.Client
) -> None:
    leads = v1_sim.store.leads()
    created = [x["created_at"] for x in leads]
    tie = next(t for t in created[400:] if created.count(t) > 1)
    at_tie = [x["id"] for x in leads if x["created_at"] == tie]
    end = created[900]

    rows, _ = page_all(v1_client, limit=40, start_at=tie, end_at=end)
    assert [row["id"] for row in rows] == [x["id"] for x in leads if tie <= x["created_at"] < end]
    assert [row["id"] for row in rows[: len(at_tie)]] == at_tie  # the whole tie, from its start

    # The same instant written with an offset, and a bound half a millisecond later.
    dt = parse_instant(tie)
    shifted = dt.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert shifted.endswith("+02:00")
    first = v1_client.get(LEADS, params={"start_at": shifted, "limit": 1}).json()["data"][0]
    assert first["id"] == at_tie[0]
    later = (dt + timedelta(microseconds=500)).isoformat().replace("+00:00", "Z")
    first = v1_client.get(LEADS, params={"start_at": later, "limit": 1}).json()["data"][0]
    assert first["created_at"] > tie
    before_tie, _ = page_all(v1_client, limit=200, end_at=tie)
    assert before_tie[-1]["created_at"] < tie
    assert len(before_tie) == created.index(tie)
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "2026-04-27T25:00:00Z", ""):
        for name in ("start_at", "end_at"):
            message = assert_error(v1_client.get(LEADS, params={name: bad}), 400, "invalid_request")
            assert name in message


# ----- the single lead, scoping, auth --------------------------------------------------------


def test_detail_is_the_full_record(v1_sim: LeadsV1Server, v1_client: httpx.Client) -> None:
    leads = v1_sim.store.leads()
    qualified = next(x for x in leads if x["qualification_completed_at"] is not None)
    unqualified = next(x for x in leads if x["qualification_completed_at"] is None)
    for lead in (qualified, unqualified):
        response = v1_client.get(lead_url(lead["id"]))
        assert response.status_code == 200
        body = response.json()
        assert tuple(body) == DETAIL_FIELDS and body == lead
    assert qualified["pain_points"] and qualified["ai_reasoning"]
    assert unqualified["pain_points"] is None


def test_unknown_and_other_organizations_leads_are_404(v1_fresh: Any) -> None:
    server, c = v1_fresh
    other = server.store.leads(OTHER_ORGANIZATION_ID)
    assert len(other) == 5 and {x["organization_id"] for x in other} == {OTHER_ORGANIZATION_ID}
    listed = {row["id"] for row in page_all(c, limit=200)[0]}
    assert listed.isdisjoint(x["id"] for x in other)
    for lead_id in (other[0]["id"], "9f1c8a32-4d65-4e2b-8a91-3c0e7d4b2f18", "not-a-uuid"):
        assert_error(c.get(lead_url(lead_id)), 404, "not_found")
    # The other organization's token sees exactly its own leads.
    as_other = {"Authorization": f"Bearer {OTHER_TOKEN}"}
    rows = c.get(LEADS, headers=as_other).json()["data"]
    assert [row["id"] for row in rows] == [x["id"] for x in other]
    assert c.get(lead_url(other[0]["id"]), headers=as_other).status_code == 200
    mine = server.store.leads()[0]["id"]
    assert_error(c.get(lead_url(mine), headers=as_other), 404, "not_found")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic abc", "lv1_" + "0" * 64, "Bearer lv1_" + "0" * 64],
)
def test_missing_or_unknown_token_is_401(v1_sim: LeadsV1Server, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    some_id = v1_sim.store.leads()[0]["id"]
    for path in (LEADS, lead_url(some_id)):
        response = httpx.get(v1_sim.url + path, headers=headers)
        message = assert_error(response, 401, "unauthorized")
        assert "lv1_" not in message
        assert "RateLimit-Limit" in response.headers


def test_unknown_paths_and_methods(v1_sim: LeadsV1Server, v1_client: httpx.Client) -> None:
    some_id = v1_sim.store.leads()[0]["id"]
    for path in ("/api/v1/nope", f"{lead_url(some_id)}/score", "/api/v2/leads"):
        assert_error(v1_client.get(path), 404, "not_found")
    deleted = v1_client.delete(LEADS)
    assert_error(deleted, 405, "method_not_allowed")
    assert deleted.headers["Allow"] == "GET, POST"
    put = v1_client.put(lead_url(some_id), json={})
    assert_error(put, 405, "method_not_allowed")
    assert put.headers["Allow"] == "GET, PATCH"
    # A trailing slash is the same collection.
    assert v1_client.get(LEADS + "/", params={"limit": 2}).status_code == 200
