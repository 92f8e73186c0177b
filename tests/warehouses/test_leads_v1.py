"""The Leads v1 source on every destination (README, "Warehouses"): backfill; updated, new and
deleted leads between runs (soft deletes), with detail requests for the new and changed leads
only; a no-change run that lists and fetches nothing; hard deletes. After each run the
destination's `leads_v1.leads` is read back with its own driver and compared with the
simulator's store field by field, values and their Python types alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipelines.leads_v1 import run
from pipelines.result import RunResult
from simulators.leads_v1 import DEFAULT_TOKEN, DETAIL_FIELDS, LeadsV1Server, ManualClock
from tests.helpers.leads_v1 import PAGE, expected, pages_of, requests_to
from tests.s3 import S3Bucket
from tests.warehouse_readers import Row
from tests.warehouses.target import (
    DESTINATIONS,
    Destination,
    assert_no_duplicates,
    assert_row_equal,
    destination_location,
    typed,
    use_settings,
)

DATASET = "leads_v1"
N = 450  # three pages of 200 (the v1_sim fixture)
COLUMNS = (*DETAIL_FIELDS, "_deleted_at")


class V1Target(Destination):
    """The Leads v1 source's runs into one test's destination (dataset ``leads_v1``)."""

    def __init__(self, kind: str, root: Path, sim: LeadsV1Server, location: str | S3Bucket) -> None:
        super().__init__(kind, root, location, DATASET)
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        options.setdefault("base_url", self.sim.url)
        options.setdefault("api_token", DEFAULT_TOKEN)
        return run(pipelines_dir=str(self.pipelines_dir), **self.options, **options)

    def rows(self) -> dict[str, Row]:
        """Every row of `leads`, soft-deleted ones too, by id; no `_tombstone` row left."""
        rows = self.reader.rows("leads")
        assert_no_duplicates([row["id"] for row in rows], "leads")
        marked = [row["id"] for row in rows if row.get("_tombstone") is not None]
        assert marked == [], f"rows with _tombstone set: {marked}"
        return {row["id"]: {name: row.get(name) for name in COLUMNS} for row in rows}

    def live(self) -> dict[str, Row]:
        return {key: row for key, row in self.rows().items() if row["_deleted_at"] is None}


@pytest.fixture(params=DESTINATIONS)
def v1_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    v1_sim: LeadsV1Server,
    monkeypatch: pytest.MonkeyPatch,
) -> V1Target:
    target = V1Target(request.param, tmp_path, v1_sim, destination_location(request, tmp_path))
    use_settings(target, monkeypatch)
    return target


def truth(sim: LeadsV1Server) -> dict[str, Row]:
    """The organization's leads as the warehouse should hold them, live."""
    return {lead["id"]: {**expected(lead), "_deleted_at": None} for lead in sim.store.leads()}


def assert_live_exact(target: V1Target) -> None:
    """The live rows are exactly the source's leads, typed (timestamps with a time zone,
    `lead_score` an integer); no dlt variant column."""
    want = truth(target.sim)
    live = target.live()
    assert sorted(live) == sorted(want)
    for lead_id, row in want.items():
        assert_row_equal(live[lead_id], row, lead_id)
    variants = [name for name in target.reader.columns("leads") if "__v_" in name]
    assert variants == [], variants


def fetched(sim: LeadsV1Server) -> list[str]:
    """Ids of the detail requests answered since the requests were last cleared."""
    return sorted(r.path.rsplit("/", 1)[1] for r in requests_to(sim, "detail"))


def test_backfill_is_exact_with_one_manifest_row(v1_target: V1Target) -> None:
    result = v1_target.run()

    assert (result.outcome, result.rows, result.details) == ("success", {"leads": N}, N)
    assert len(v1_target.rows()) == N
    assert_live_exact(v1_target)
    manifest = v1_target.reader.rows("_leads_v1_runs")
    assert [(row["run_id"], row["outcome"]) for row in manifest] == [(result.run_id, "success")]


def test_updates_new_and_deleted_leads_then_a_run_with_no_change(
    v1_target: V1Target, clock: ManualClock
) -> None:
    sim = v1_target.sim
    v1_target.run()
    leads = sim.store.leads()
    updated = [leads[7]["id"], leads[321]["id"]]
    sim.store.update(updated[0], lead_score=5, pipeline_stage="won")
    sim.store.update(
        updated[1], pain_points="spreadsheets everywhere", qualification_completed_at=clock.now()
    )
    created = sim.store.create(name="Grace Hopper", company="Compilers", source="referral")
    # The last lead of the first page (a page boundary) and one in the middle of the second.
    gone = {leads[PAGE - 1]["id"]: leads[PAGE - 1], leads[260]["id"]: leads[260]}
    for lead_id in gone:
        sim.store.delete(lead_id)
    sim.clear_requests()

    result = v1_target.run()

    assert result.outcome == "success"
    assert fetched(sim) == sorted([*updated, created["id"]])
    assert (result.details, result.deleted) == (3, 2)
    assert_live_exact(v1_target)
    rows = v1_target.rows()
    assert len(rows) == N + 1
    for lead_id, lead in gone.items():
        row = rows[lead_id]
        assert typed(row["_deleted_at"])[0] == "datetime with tz", row
        assert_row_equal(row, {**expected(lead), "_deleted_at": row["_deleted_at"]}, lead_id)
    sim.clear_requests()

    again = v1_target.run()

    assert again.outcome == "success"
    assert len(requests_to(sim, "list")) == pages_of(N - 1)
    assert fetched(sim) == []
    assert (again.rows, again.details, again.deleted) == ({}, 0, 0)
    assert v1_target.rows() == rows
    assert len(v1_target.reader.rows("_leads_v1_runs")) == 3


def test_hard_deletes_remove_the_rows(v1_target: V1Target) -> None:
    sim = v1_target.sim
    v1_target.run(delete_mode="hard")
    leads = sim.store.leads()
    gone = [leads[PAGE]["id"], leads[-1]["id"]]  # the first of page two, the very last
    for lead_id in gone:
        sim.store.delete(lead_id)
    sim.clear_requests()

    result = v1_target.run(delete_mode="hard")  # a load of deletes only

    assert (result.outcome, result.details, result.deleted) == ("success", 0, 2)
    assert fetched(sim) == []
    rows = v1_target.rows()
    assert not set(gone) & set(rows)
    assert len(rows) == N - 2
    assert_live_exact(v1_target)

    # A changed lead and a deleted one in the same load.
    changed, deleted = leads[3]["id"], leads[2 * PAGE + 10]["id"]
    sim.store.update(changed, lead_score=77, timeline="this_quarter")
    sim.store.delete(deleted)
    sim.clear_requests()

    again = v1_target.run(delete_mode="hard")

    assert (again.outcome, again.details, again.deleted) == ("success", 1, 1)
    assert fetched(sim) == [changed]
    rows = v1_target.rows()
    assert deleted not in rows and len(rows) == N - 3
    assert_live_exact(v1_target)
