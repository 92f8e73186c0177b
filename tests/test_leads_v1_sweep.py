"""The Leads v1 source, run after run against its simulator: exact after every run, the detail
request made only for new or changed leads, deletes, filters, the new-only mode and its ties at
the mark."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from simulators.core import faults
from simulators.leads_v1 import LeadsV1Server, ManualClock
from tests.helpers import ts
from tests.helpers.leads_v1 import (
    DETAIL_PATH,
    V1Warehouse,
    assert_exact,
    expected,
    make_v1_sim,
    newest_created,
    pages_of,
    requests_to,
)

N = 450


def test_backfill_loads_every_lead_with_its_detail_fields(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    result = v1_warehouse.run()

    assert_exact(v1_warehouse, v1_sim)
    assert result.outcome == "success"
    assert len(requests_to(v1_sim, "list")) == pages_of(N)
    assert all(r.query["limit"] == "200" for r in requests_to(v1_sim, "list"))
    assert len(requests_to(v1_sim, "detail")) == N
    assert result.rows == {"leads": N}
    assert result.details == N
    columns = dict(
        v1_warehouse.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'leads_v1' AND table_name = 'leads'"
        )
    )
    assert columns["lead_score"] == "BIGINT"
    assert columns["created_at"] == columns["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert columns["qualification_completed_at"] == "TIMESTAMP WITH TIME ZONE"


def test_a_run_with_no_change_sends_list_requests_only(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_warehouse.run()
    v1_sim.clear_requests()

    result = v1_warehouse.run()

    assert len(requests_to(v1_sim, "list")) == pages_of(N)
    assert requests_to(v1_sim, "detail") == []
    assert result.rows == {} and result.details == 0
    assert_exact(v1_warehouse, v1_sim)


def test_updated_and_new_leads_are_the_only_details_fetched(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_warehouse.run()
    leads = v1_sim.store.leads()
    changed = [leads[5]["id"], leads[250]["id"]]
    v1_sim.store.update(changed[0], lead_score=3, pipeline_stage="won")
    v1_sim.store.update(changed[1], pain_points="a new pain", timeline="this_month")
    created = v1_sim.store.create(name="Ada Lovelace", company="Engines", source="referral")
    v1_sim.clear_requests()

    result = v1_warehouse.run()

    fetched = {r.path.rsplit("/", 1)[1] for r in requests_to(v1_sim, "detail")}
    assert fetched == {*changed, created["id"]}
    assert result.rows == {"leads": 3}
    assert_exact(v1_warehouse, v1_sim)


@pytest.mark.parametrize("delete_mode", ["soft", "hard"])
def test_leads_deleted_at_the_source_are_deleted_here(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server, delete_mode: str
) -> None:
    v1_warehouse.run(delete_mode=delete_mode)
    leads = v1_sim.store.leads()
    # The first lead, one at a page boundary (the 200th) and the very last lead.
    gone = [leads[0]["id"], leads[199]["id"], leads[-1]["id"]]
    for lead_id in gone:
        v1_sim.store.delete(lead_id)
    v1_sim.clear_requests()

    result = v1_warehouse.run(delete_mode=delete_mode)

    assert_exact(v1_warehouse, v1_sim)
    assert result.deleted == 3
    assert requests_to(v1_sim, "detail") == []
    rows = v1_warehouse.rows()
    if delete_mode == "soft":
        assert all(rows[lead_id]["_deleted_at"] is not None for lead_id in gone)
        kept = {k: v for k, v in rows[gone[1]].items() if k != "_deleted_at"}
        assert kept["email"] == leads[199]["email"]  # the row as loaded, stamped
    else:
        assert not set(gone) & set(rows)
    assert len(rows) == (N if delete_mode == "soft" else N - 3)


def test_a_detail_answered_404_is_a_lead_that_vanished(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_warehouse.run()
    leads = v1_sim.store.leads()
    target = leads[100]["id"]
    v1_sim.store.update(target, lead_score=1)

    def delete_it(store: Any) -> None:
        store.delete(target)  # between the list page and its detail request

    v1_sim.faults.add(faults.callback(delete_it), path=DETAIL_PATH)

    result = v1_warehouse.run()

    assert result.outcome == "success"
    assert target not in v1_warehouse.live()
    assert v1_warehouse.rows()[target]["_deleted_at"] is not None
    assert_exact(v1_warehouse, v1_sim)


def test_a_lead_changed_while_the_sweep_runs_is_right_after_the_next_run(
    tmp_path: Path, clock: ManualClock
) -> None:
    with make_v1_sim(clock, 900) as sim:
        warehouse = V1Warehouse(tmp_path, sim)
        warehouse.run()
        leads = sim.store.leads()
        early, late = leads[10]["id"], leads[800]["id"]

        def change_both(store: Any) -> None:
            store.update(early, lead_score=11)  # on a page already read
            store.update(late, lead_score=88)  # on a page still to come

        sim.faults.add(faults.callback(change_both), after=2)  # the third list page
        warehouse.run()
        assert warehouse.live()[late]["lead_score"] == 88

        warehouse.run()
        assert_exact(warehouse, sim)
        assert warehouse.live()[early]["lead_score"] == 11


def test_each_filter_set_keeps_its_own_state_and_deletes_only_among_its_leads(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_warehouse.run(pipeline_stage="qualified")
    assert_exact(v1_warehouse, v1_sim, pipeline_stage="qualified")
    v1_warehouse.run(source="website")
    qualified = [x for x in v1_sim.store.leads() if x["pipeline_stage"] == "qualified"]
    moved, deleted = qualified[0]["id"], qualified[1]["id"]
    v1_sim.store.update(moved, pipeline_stage="won")  # leaves the filter, still a lead
    v1_sim.store.delete(deleted)
    v1_sim.clear_requests()

    v1_warehouse.run(pipeline_stage="qualified")

    assert all(r.query.get("pipeline_stage") == "qualified" for r in requests_to(v1_sim, "list"))
    # One detail request per lead gone from the filtered listing tells a move from a deletion.
    assert sorted(r.path.rsplit("/", 1)[-1] for r in requests_to(v1_sim, "detail")) == sorted(
        [moved, deleted]
    )
    live = v1_warehouse.live()
    assert deleted not in live and deleted in v1_warehouse.rows()  # soft-deleted
    row = {name: value for name, value in live[moved].items() if name != "_deleted_at"}
    now = v1_sim.store.get(moved)
    assert now is not None and row == expected(now)  # updated, not deleted
    websites = {x["id"] for x in v1_sim.store.leads() if x["source"] == "website"}
    assert websites <= set(live)  # the other filter set's leads were not judged


def test_new_only_lists_from_the_mark_and_keeps_leads_tied_at_it(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server, clock: ManualClock
) -> None:
    v1_warehouse.run()
    mark = newest_created(v1_sim)
    clock.set(mark)  # the next lead is created at the mark's very millisecond: a tie
    tied = v1_sim.store.create(name="Tie", company="At The Mark")
    clock.set(mark + timedelta(minutes=5))
    later = v1_sim.store.create(email="later@example.com")
    old = v1_sim.store.leads()[3]["id"]
    v1_sim.store.update(old, lead_score=42)  # an update of an older lead: not seen
    v1_sim.clear_requests()

    result = v1_warehouse.run(new_only=True)

    lists = requests_to(v1_sim, "list")
    assert len(lists) == 1 and ts(lists[0].query["start_at"]) == mark
    fetched = {r.path.rsplit("/", 1)[1] for r in requests_to(v1_sim, "detail")}
    assert fetched == {tied["id"], later["id"]}
    assert result.rows == {"leads": 2}
    assert v1_warehouse.live()[old]["lead_score"] != 42
    assert ts(tied["created_at"]) == mark

    v1_warehouse.run()  # the full sweep the README schedules beside it catches the update

    assert_exact(v1_warehouse, v1_sim)


def test_new_only_on_an_empty_warehouse_loads_everything(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server
) -> None:
    v1_warehouse.run(new_only=True)

    assert_exact(v1_warehouse, v1_sim)
    assert "start_at" not in requests_to(v1_sim, "list")[0].query


def test_a_filtered_backfill_that_matches_nothing_names_the_filter(
    v1_warehouse: V1Warehouse, v1_sim: LeadsV1Server, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="crm_leads"):
        result = v1_warehouse.run(pipeline_stage="qualifed")
    assert result.leads == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "the filters pipeline_stage='qualifed' match no lead, though the API holds leads: "
        "check their values"
    ]
    probe = [r.query for r in v1_sim.requests if r.method == "GET"][-1]
    assert probe == {"limit": "1"}


def test_the_summary_names_the_sources_mark_and_counts_in_words(
    v1_warehouse: V1Warehouse,
) -> None:
    result = v1_warehouse.run(checkpoint_pages=25)
    assert result.checkpoints == 1
    summary = result.summary()
    assert ", 1 checkpoint in " in summary
    assert "high-water mark" not in summary
    assert f"newest created_at None -> {result.high_water_mark_after}" in summary
