"""The incremental connector end to end: backfill, reruns, updates, ties, mid-run changes."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dlt.pipeline.pipeline import Pipeline

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import Warehouse, assert_matches_source, list_requests, make_sim
from tests.helpers.sizes import small_batches

LIST_PARAMS = {
    "sort_by": "updated_at",
    "sort_dir": "asc",
    "limit": "100",
    "include_custom_fields": "true",
}


def test_backfill_equals_source_with_documented_query(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    result = warehouse.run()

    assert_matches_source(warehouse, sim)
    assert (result.outcome, result.leads, result.pages) == ("success", 350, 4)
    probe, *sent = list_requests(sim)
    # Into empty tables, one `limit=1` probe of the newest lead lets the backfill append.
    assert probe == {**LIST_PARAMS, "sort_dir": "desc", "limit": "1"}
    assert len(sent) == 4 and result.requests == 5
    assert sent[0] == LIST_PARAMS  # first page: no cursor, no updated_since, never offset
    for query, previous in zip(sent[1:], sent, strict=False):
        assert {k: v for k, v in query.items() if k != "cursor"} == LIST_PARAMS
        assert query["cursor"]
        assert query["cursor"] != previous.get("cursor")
    state = warehouse.state()
    assert state["cursor"] is None
    newest = max(lead["updated_at"] for lead in sim.store.snapshot())
    assert state["high_water_mark"] == newest


def test_no_change_rerun_is_cheap_and_changes_nothing(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    before = (warehouse.leads(), warehouse.custom_fields(), warehouse.state())
    sim.clear_requests()

    result = warehouse.run()

    sent = list_requests(sim)
    assert len(sent) <= 2
    assert sent[0]["updated_since"] == before[2]["high_water_mark"]
    assert (warehouse.leads(), warehouse.custom_fields(), warehouse.state()) == before
    assert result.leads == 0 and result.load_ids == []
    assert result.high_water_mark_after == result.high_water_mark_before


def test_a_run_restores_state_from_the_warehouse_once(
    warehouse: Warehouse, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each restore is a round of dlt config resolution and state queries; dlt's first `run`
    of a pipeline object would repeat the runner's own. On a new machine (no local state) the
    one restore is what keeps the next run incremental.

    Also the guard of a dlt internal: the runner sets `pipeline._state_restored` (dlt 1.31) so
    that `Pipeline.run` skips its own restore. If dlt renames or stops reading that flag, or
    renames `_sync_destination`, this test fails (two restores, or no attribute to patch)."""
    restores: list[str] = []
    original = Pipeline._sync_destination

    def counted(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        restores.append(self.pipeline_name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "_sync_destination", counted)
    result = warehouse.run(checkpoint_pages=1)
    assert result.checkpoints == 4
    assert restores == ["mega_leads"]

    shutil.rmtree(warehouse.pipelines_dir)
    sim.store.touch(1, seed=3)
    sim.clear_requests()
    restores.clear()
    result = warehouse.run(checkpoint_pages=1)
    assert restores == ["mega_leads"]
    assert result.leads == 1 and len(list_requests(sim)) == 1
    assert_matches_source(warehouse, sim)


def test_updates_new_leads_and_removed_slug_arrive(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    mark = warehouse.run().high_water_mark_after
    store = sim.store
    at_mark = {lead["id"] for lead in store.snapshot() if lead["updated_at"] == mark}
    with_fields = [lead for lead in store.snapshot() if len(lead["custom_fields"]) >= 2]
    changed, emptied = with_fields[0], with_fields[1]
    removed_slug = next(iter(changed["custom_fields"]))
    store.remove_custom_field(changed["id"], removed_slug)
    store.update(changed["id"], status="won", score=99)
    for slug in list(emptied["custom_fields"]):
        store.remove_custom_field(emptied["id"], slug)
    _, was_created = store.create_or_merge(
        {"contact_name": "Ngozi Okafor", "contact_email": "ngozi@example.com"}
    )
    assert was_created
    sim.clear_requests()

    result = warehouse.run()

    assert_matches_source(warehouse, sim)
    # Exactly the three changed leads: those tied at the old mark are re-read (the mark is
    # inclusive) but recognised as already loaded.
    assert result.leads == 3
    assert (changed["id"], removed_slug) not in warehouse.custom_fields()
    assert not [key for key in warehouse.custom_fields() if key[0] == emptied["id"]]
    assert warehouse.leads()[changed["id"]]["status"] == "won"
    assert len(list_requests(sim)) == 1 + len(at_mark) // 100


def test_small_shape_and_yield_sizes_load_the_same_rows(
    warehouse: Warehouse, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages are shaped every `shape_rows` leads and joined into dlt items of `yield_rows`; with
    # sizes that do not divide the page size, one load holds several joined items.
    small_batches(monkeypatch, shape_rows=70, yield_rows=150)
    backfill = warehouse.run()
    store = sim.store
    changed = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]][:130]
    for lead_id in changed[:60]:
        for slug in list(store.get(lead_id)["custom_fields"]):  # type: ignore[index]
            store.remove_custom_field(lead_id, slug)
    for lead_id in changed[60:]:
        store.update(lead_id, status="won")

    update = warehouse.run()

    assert_matches_source(warehouse, sim)
    # One load: the first load of a backfill into empty tables appends every lead it reads.
    assert (backfill.leads, backfill.checkpoints) == (350, 1)
    assert update.leads == 130
    assert warehouse.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM mega.leads") == [(350, 350)]


def test_custom_field_rows_reach_dlt_in_whole_row_groups(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every page is shaped and handed to dlt on its own; custom-field rows beyond a whole row
    # group wait for the load's next item, and the last page's item leaves some that only the
    # load's closing item (with no leads) carries. A later merge load (tombstones) does the same.
    small_batches(monkeypatch, shape_rows=100, yield_rows=100, row_group=250)
    # dlt writes an item as it comes (it buffers items of fewer rows than this, 5000 by default).
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "1")
    # The loads' files are read back below: kept (dlt_config/config.toml deletes them).
    monkeypatch.setenv("LOAD__DELETE_COMPLETED_JOBS", "false")
    with make_sim(clock, 300) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run()
        with_fields = [lead for lead in sim.store.snapshot() if lead["custom_fields"]]
        for lead in with_fields[:120]:
            sim.store.remove_custom_field(lead["id"], next(iter(lead["custom_fields"])))
        update = warehouse.run()
        assert_matches_source(warehouse, sim)

    assert update.leads == 120
    loaded = (tmp_path / "pipelines" / "mega_leads" / "load" / "loaded").glob("*/completed_jobs")
    field_files = [
        pq.ParquetFile(f) for d in loaded for f in d.glob("leads__custom_fields.*.parquet")
    ]
    assert len(field_files) == 2  # the backfill's load and the update's
    assert max(parquet.num_row_groups for parquet in field_files) > 2
    for parquet in field_files:
        groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
        assert all(rows % 250 == 0 for rows in groups[:-1]), groups


def test_more_than_a_page_of_ties_across_page_boundaries(
    tmp_path_factory: object, clock: ManualClock
) -> None:
    with make_sim(clock, 120) as sim:
        warehouse = Warehouse(tmp_path_factory.mktemp("ties"), sim)  # type: ignore[attr-defined]
        warehouse.run()
        clock.step = timedelta(0)  # every update below lands on the same millisecond
        tied = sim.store.touch(110, seed=3)
        assert len({sim.store.get(i)["updated_at"] for i in tied}) == 1  # type: ignore[index]
        sim.clear_requests()

        first = warehouse.run()
        second = warehouse.run()

        assert_matches_source(warehouse, sim)
        assert first.leads == len(tied) and first.pages == 2
        # The inclusive mark re-reads the tied leads (two pages), and loads none of them again.
        assert second.pages == 2 and second.leads == 0
        assert len(warehouse.leads()) == len(sim.store)


def test_leads_updated_while_the_run_pages_end_up_current(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    order = sorted(sim.store.snapshot(), key=lambda lead: (lead["updated_at"], lead["id"]))
    already_read, not_yet_read = order[5]["id"], order[250]["id"]

    def edit(store: object) -> None:
        sim.store.update(already_read, status="lost")
        sim.store.set_custom_field(not_yet_read, "budget", 123.25)
        sim.store.remove_custom_field(already_read, next(iter(order[5]["custom_fields"]), "x"))

    sim.faults.add(faults.callback(edit), after=2)  # after the probe and page 1

    result = warehouse.run()

    assert_matches_source(warehouse, sim)
    assert warehouse.leads()[already_read]["status"] == "lost"
    assert warehouse.custom_fields()[(not_yet_read, "budget")] == ("123.25", "number")
    # The moved lead came back in the same sweep: its newer version ends the load holding the
    # older one and opens the next, so no load ever carries two versions of a lead.
    assert result.leads == 351 and len(result.load_ids) == 2
    assert warehouse.query("SELECT COUNT(*), COUNT(DISTINCT id) FROM mega.leads") == [(350, 350)]


def test_429_503_and_dropped_connections_are_retried(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    sim.faults.add(faults.rate_limited(retry_after=1), after=1)
    sim.faults.add(faults.status(503), after=2)
    sim.faults.add(faults.drop(), after=3)

    result = warehouse.run()

    assert_matches_source(warehouse, sim)
    assert result.retries == 3
    assert result.rate_limit_waits >= 1
    statuses = [r.status for r in sim.requests]
    assert 429 in statuses and 503 in statuses and None in statuses


def test_proactive_pacing_avoids_429(tmp_path_factory: object, clock: ManualClock) -> None:
    with make_sim(clock, 350, rate_limit=3, rate_window_s=1) as sim:
        warehouse = Warehouse(tmp_path_factory.mktemp("pace"), sim)  # type: ignore[attr-defined]

        result = warehouse.run()

        assert_matches_source(warehouse, sim)
        assert result.rate_limit_waits >= 1
        assert 429 not in [r.status for r in sim.requests]


def test_mixed_custom_field_types_never_make_variant_columns(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    ids = sim.store.ids()
    values = ["500000", 500000, 450000.5, True, None, "ünïcode ✓"]
    for lead_id, value in zip(ids, values, strict=False):
        sim.store.set_custom_field(lead_id, "budget", value)

    warehouse.run()

    assert_matches_source(warehouse, sim)
    for table in ("leads", "leads__custom_fields"):
        assert not [c for c in warehouse.columns(table) if "__v_" in c]
    types = {row[0] for row in warehouse.query("SELECT value_type FROM mega.leads__custom_fields")}
    assert types == {"string", "number", "boolean", "null"}
    column_types = warehouse.columns("leads")
    assert column_types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert column_types["score"] == "BIGINT" and column_types["qualified"] == "BOOLEAN"
    assert column_types["owner__name"] == "VARCHAR"


def test_all_null_owner_and_stage_columns_still_exist(
    tmp_path_factory: object, clock: ManualClock
) -> None:
    with make_sim(clock, 3) as sim:
        for lead_id in sim.store.ids():
            sim.store.update(lead_id, owner=None, current_stage=None, score=None)
        warehouse = Warehouse(tmp_path_factory.mktemp("nulls"), sim)  # type: ignore[attr-defined]

        warehouse.run()

        columns = warehouse.columns("leads")
        for name in ("owner__id", "owner__name", "current_stage__id", "current_stage__color"):
            assert name in columns
        assert columns["score"] == "BIGINT"
        assert_matches_source(warehouse, sim)


def test_rejected_saved_cursor_falls_back_to_the_mark(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    # After the probe and two pages: 1 try + 4 retries of page 3, then give up.
    sim.faults.add(faults.status(500), times=5, after=3)
    with pytest.raises(RunFailed, match=r"server error \(500 api_error\).*page 3"):
        warehouse.run(checkpoint_pages=1)
    saved = warehouse.state()
    assert saved["cursor"]  # interrupted between checkpoints
    sim.faults.add(faults.status(400, message="cursor does not match this sort"))
    sim.clear_requests()

    result = warehouse.run()

    assert_matches_source(warehouse, sim)
    sent = list_requests(sim)
    assert sent[0]["cursor"] == saved["cursor"]
    assert "cursor" not in sent[1] and sent[1]["updated_since"] == saved["high_water_mark"]
    assert result.outcome == "success"
