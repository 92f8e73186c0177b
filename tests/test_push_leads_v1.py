"""Pushing rows into the Leads v1 API (create + PATCH, seed 004): an upsert that creates rows
it has no remote id for and patches only the changed whitelisted fields of the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from pipelines.push import push
from simulators.core import faults
from simulators.leads_v1 import DEFAULT_TOKEN, LeadsV1Server
from tests.helpers.push import ledger, writes


def rows(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"r{i}", "name": f"Lead {i}", "company": f"Co {i}", "lead_score": 10 + i}
        for i in range(n)
    ]


@pytest.fixture
def target() -> Any:
    with LeadsV1Server(n_leads=0) as server:
        yield server


def push_rows(target: LeadsV1Server, tmp_path: Path, data: list[dict[str, Any]], **kw: Any) -> Any:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in data))
    return push(
        "leads_v1",
        file=path,
        duckdb_file=str(tmp_path / "w.duckdb"),
        base_url=target.url,
        api_token=DEFAULT_TOKEN,
        **kw,
    )


def test_new_rows_are_created_and_changed_rows_patched_with_only_what_changed(
    target: LeadsV1Server, tmp_path: Path
) -> None:
    first = push_rows(target, tmp_path, rows(5))
    assert first.created == 5
    remote = {key: row["remote_id"] for key, row in ledger(tmp_path / "w.duckdb").items()}
    data = rows(5)
    data[2]["lead_score"] = 99
    data[4]["company"] = "Renamed"
    target.clear_requests()

    second = push_rows(target, tmp_path, data)

    assert (second.updated, second.unchanged, second.created) == (2, 3, 0)
    patches = writes(target, "PATCH")
    assert sorted(r.path for r in patches) == sorted(
        f"/api/v1/leads/{remote[key]}" for key in ("r2", "r4")
    )
    assert writes(target) == []
    stored = {lead["id"]: lead for lead in target.store.leads()}
    assert stored[remote["r2"]]["lead_score"] == 99
    assert stored[remote["r4"]]["company"] == "Renamed"
    assert len(stored) == 5


def test_rows_the_document_refuses_are_rejected_before_any_request(
    target: LeadsV1Server, tmp_path: Path
) -> None:
    data = rows(4)
    data[0]["lead_score"] = 150  # 004: 0-100
    data[1] = {"id": "r1", "name": "No company, no email"}
    data[2]["email"] = "nope"

    result = push_rows(target, tmp_path, data)

    assert result.rejected == 3 and result.created == 1
    assert len(writes(target)) == 1
    book = ledger(tmp_path / "w.duckdb")
    assert "lead_score" in book["r0"]["last_error"]
    assert "email, or a name and a company" in book["r1"]["last_error"]


def test_a_create_committed_then_dropped_is_made_once(
    target: LeadsV1Server, tmp_path: Path
) -> None:
    target.faults.add(faults.commit_then_drop(), method="POST", after=1)

    result = push_rows(target, tmp_path, rows(3), concurrency=1)

    assert result.created == 3 and result.retries == 1
    assert len(target.store.leads()) == 3


def test_a_server_validation_error_rejects_the_row_and_the_push_goes_on(
    target: LeadsV1Server, tmp_path: Path
) -> None:
    target.faults.add(faults.status(422, message="email is invalid"), method="POST")

    result = push_rows(target, tmp_path, rows(3), concurrency=1)

    assert result.rejected == 1 and result.created == 2
    rejected = [
        row for row in ledger(tmp_path / "w.duckdb").values() if row["status"] == "rejected"
    ]
    assert len(rejected) == 1 and "422" in rejected[0]["last_error"]


@pytest.mark.parametrize("cleared", ["", None], ids=["empty text", "null"])
def test_a_cleared_field_is_patched_to_null_and_a_missing_column_leaves_it(
    target: LeadsV1Server, tmp_path: Path, cleared: str | None
) -> None:
    data = rows(2)
    for row in data:
        row["industry"] = "commercial"
    push_rows(target, tmp_path, data)
    remote = ledger(tmp_path / "w.duckdb")["r0"]["remote_id"]
    data[0]["industry"] = cleared
    target.clear_requests()

    result = push_rows(target, tmp_path, data)

    assert (result.updated, result.unchanged) == (1, 1)
    assert [r.path for r in writes(target, "PATCH")] == [f"/api/v1/leads/{remote}"]
    stored = {lead["id"]: lead for lead in target.store.leads()}
    assert stored[remote]["industry"] is None
    assert stored[remote]["name"] == "Lead 0"  # what was not cleared stays
    target.clear_requests()

    without = [{k: v for k, v in row.items() if k != "industry"} for row in data]
    again = push_rows(target, tmp_path, without)  # no industry column: nothing said about it

    assert writes(target, "PATCH") == [] and again.updated == 0
    assert {lead["id"]: lead for lead in target.store.leads()}[remote]["industry"] is None
