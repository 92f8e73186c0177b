"""Lookback (late commits) and reconcile (deletes, soft and hard), over real HTTP.

A late commit is simulated by inserting a lead whose `updated_at` is older than the warehouse's
high-water mark; a delete by removing the lead from the simulator's store.
"""

from __future__ import annotations

import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.core.clock import format_ts
from simulators.mega import LeadStore, ManualClock, SimulatorServer
from tests.helpers import (
    PROJECT,
    Warehouse,
    assert_exact,
    assert_no_duplicates,
    cli,
    cli_env,
    list_requests,
    make_sim,
    one_line_error,
    source_truth,
    ts,
)


def late_lead(store: LeadStore, updated_at: datetime) -> dict[str, Any]:
    """A new lead stamped ``updated_at`` (older than what was already loaded): a late commit."""
    lead = store.snapshot()[0]
    serial = uuid.uuid4().hex[:8]
    lead.update(
        id=str(uuid.uuid4()),
        contact_name=f"Late Commit {serial}",
        contact_email=f"late.{serial}@example.com",
        contact_phone=None,
        created_at=format_ts(updated_at - timedelta(days=1)),
        updated_at=format_ts(updated_at),
        custom_fields={"late": True, "serial": serial},
    )
    store.add_many([dict(lead)])
    return lead


def shifted(mark: str, seconds: float) -> datetime:
    at = ts(mark)
    assert at is not None
    return at + timedelta(seconds=seconds)


# ----- 2. lookback --------------------------------------------------------------------------------


def test_late_commit_is_loaded_only_with_lookback_and_reported(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    store = sim.store
    early, marked = store.ids()[:2]
    store.update(early, status="won")
    store.update(marked, status="lost")
    first = warehouse.run()
    mark = first.high_water_mark_after
    assert mark is not None
    assert mark == store.get(marked)["updated_at"]  # type: ignore[index]
    # Committed at the source only now, stamped 5 s before the mark already loaded.
    late = late_lead(store, shifted(mark, -5))

    plain = warehouse.run()

    assert late["id"] not in warehouse.leads()
    assert (plain.lookback_rereads, plain.late_changes, plain.max_lateness_s) == (0, 0, 0.0)

    sim.clear_requests()
    result = warehouse.run(lookback="60s")

    assert_exact(warehouse, sim)
    assert list_requests(sim)[0]["updated_since"] == format_ts(shifted(mark, -60))
    # Re-read behind the mark: `early` (unchanged) and the late lead (new).
    assert result.lookback_rereads == 2
    assert result.late_changes == 1
    assert result.max_lateness_s == pytest.approx(5.0)
    row = warehouse.query(
        "SELECT lookback_rereads, late_changes, max_lateness_s FROM mega._mega_runs "
        f"WHERE run_id = '{result.run_id}'"
    )
    assert row == [(2, 1, 5.0)]


def test_lookback_applies_to_a_run_resumed_from_a_checkpoint(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    """Issue: "each run re-reads from high-water mark − lookback" — a run that resumes an
    interrupted sweep from its checkpoint too, or a late commit behind that checkpoint is lost."""
    warehouse.run()
    store = sim.store
    store.touch(250, seed=3)  # the next sweep has three pages
    sim.faults.add(faults.status(500), times=None, after=1)
    with pytest.raises(RunFailed):
        warehouse.run(lookback="60s", checkpoint_pages=1)
    committed = warehouse.state()["high_water_mark"]
    sim.faults.clear()
    # Committed late, stamped 30 s behind the committed mark: inside the 60 s lookback.
    late = late_lead(store, shifted(committed, -30))

    result = warehouse.run(lookback="60s", checkpoint_pages=1)

    assert result.high_water_mark_before == committed
    loaded = late["id"] in warehouse.leads()
    assert loaded, "the late commit behind the resumed checkpoint was never re-read"
    assert result.late_changes >= 1
    assert_exact(warehouse, sim)


# ----- 3. deletes ---------------------------------------------------------------------------------


def live_rows(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    return {key: row for key, row in warehouse.leads().items() if row["_deleted_at"] is None}


def assert_live_matches_source(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """Soft mode: the live rows are exactly the source; deleted rows are extra."""
    expected_leads, expected_fields = source_truth(sim)
    live = live_rows(warehouse)
    assert set(live) == set(expected_leads)
    for lead_id, expected in expected_leads.items():
        assert live[lead_id] == expected, lead_id
    fields = {key: value for key, value in warehouse.custom_fields().items() if key[0] in live}
    assert fields == expected_fields
    assert_no_duplicates(warehouse)


def test_soft_delete_marks_vanished_leads_and_returning_leads_are_live_again(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    first = warehouse.run(reconcile=True)
    assert first.reconciled is True
    assert (first.deleted, first.restored) == (0, 0)
    assert first.api_total == first.warehouse_count == 350
    store = sim.store
    gone = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]][:3]
    kept = {lead_id: store.get(lead_id) for lead_id in gone}
    before_rows, before_fields = warehouse.leads(), warehouse.custom_fields()
    for lead_id in gone:
        store.delete(lead_id)

    started = datetime.now(timezone.utc)
    result = warehouse.run(reconcile=True)
    finished = datetime.now(timezone.utc)

    assert (result.reconciled, result.deleted, result.restored) == (True, 3, 0)
    assert result.api_total == result.warehouse_count == 347
    assert result.complete is True
    loaded = warehouse.leads()
    assert set(loaded) == set(before_rows)  # soft: nothing removed
    for lead_id in gone:
        stamp = loaded[lead_id]["_deleted_at"]
        assert stamp is not None and started <= stamp <= finished
        assert {**loaded[lead_id], "_deleted_at": None} == before_rows[lead_id]
    kept_fields = {key: value for key, value in before_fields.items() if key[0] in gone}
    assert kept_fields and all(warehouse.custom_fields()[k] == v for k, v in kept_fields.items())
    assert_live_matches_source(warehouse, sim)
    row = warehouse.query(
        "SELECT deleted, api_total, warehouse_count, complete FROM mega._mega_runs "
        f"WHERE run_id = '{result.run_id}'"
    )
    assert row == [(3, 347, 347, True)]

    # A second sweep keeps the first stamps.
    stamps = {lead_id: loaded[lead_id]["_deleted_at"] for lead_id in gone}
    again = warehouse.run(reconcile=True)
    assert again.deleted == 0
    assert {k: warehouse.leads()[k]["_deleted_at"] for k in gone} == stamps

    # Back with a new version: the ordinary incremental run makes it live.
    revived = dict(kept[gone[1]])  # type: ignore[arg-type]
    store.add_many([revived])
    store.update(gone[1], status="nurture")
    warehouse.run()
    assert warehouse.leads()[gone[1]]["_deleted_at"] is None
    # Back exactly as it was (an old updated_at, behind the mark): the sweep revives it.
    store.add_many([dict(kept[gone[0]])])  # type: ignore[arg-type]
    back = warehouse.run(reconcile=True)
    assert (back.deleted, back.restored) == (0, 1)
    assert warehouse.leads()[gone[0]]["_deleted_at"] is None
    assert_live_matches_source(warehouse, sim)
    assert set(warehouse.leads()) - set(live_rows(warehouse)) == {gone[2]}


def test_hard_delete_removes_rows_and_custom_fields(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    store = sim.store
    with_fields = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]]
    soft_gone, hard_gone = with_fields[:2], with_fields[2:5]
    returning = store.get(hard_gone[0])
    assert returning is not None
    for lead_id in soft_gone:
        store.delete(lead_id)
    warehouse.run(reconcile=True)  # soft first: the rows stay, stamped
    for lead_id in hard_gone:
        store.delete(lead_id)

    result = warehouse.run(reconcile=True, delete_mode="hard")

    assert result.deleted == 5  # soft-deleted rows go too
    assert_exact(warehouse, sim)
    gone = set(soft_gone + hard_gone)
    assert not gone & set(warehouse.leads())
    assert not {lead_id for lead_id, _ in warehouse.custom_fields()} & gone
    assert result.api_total == result.warehouse_count == 345

    # A hard-deleted lead that comes back (as it was, behind the mark) is loaded again.
    store.add_many([returning])
    again = warehouse.run(reconcile=True, delete_mode="hard")
    assert (again.deleted, again.restored) == (0, 1)
    assert_exact(warehouse, sim)


def test_failed_reconcile_sweep_marks_nothing_and_next_sweep_does(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    gone = sim.store.ids()[:2]
    for lead_id in gone:
        sim.store.delete(lead_id)
    sim.clear_requests()
    warehouse.run()  # an incremental run alone: how many requests it takes
    incremental = len(list_requests(sim))
    sim.clear_requests()
    sim.faults.add(faults.status(503), times=None, after=incremental + 1)

    with pytest.raises(RunFailed) as failed:
        warehouse.run(reconcile=True)

    message = one_line_error(failed.value)
    assert "page 2" in message
    assert failed.value.result.reconciled is False
    marked = warehouse.query("SELECT COUNT(*) FROM mega.leads WHERE _deleted_at IS NOT NULL")
    assert marked == [(0,)]
    assert len(warehouse.leads()) == 350

    sim.faults.clear()
    result = warehouse.run(reconcile=True, delete_mode="hard")
    assert result.deleted == 2
    assert_exact(warehouse, sim)


def test_reconcile_sweep_counts_toward_the_rate_limit_budget(
    tmp_path: Path, clock: ManualClock
) -> None:
    # A 4 s window: no load on the test machine spreads three requests over it.
    with make_sim(clock, 150, rate_limit=3, rate_window_s=4) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run()
        sim.store.delete(sim.store.ids()[0])
        sim.clear_requests()
        sim.limiter.reset()  # a full budget, as after an idle hour

        result = warehouse.run(reconcile=True, delete_mode="hard")

        assert_exact(warehouse, sim)
        sent = list_requests(sim)
        sweep = [query for query in sent if "updated_since" not in query and "cursor" not in query]
        assert len(sweep) == 1  # the sweep starts from the beginning
        assert result.requests == len(sent) >= 1 + 2
        assert result.pages == len(sent)
        # Three requests per window: the pacer spaced sweep and reconcile alike, no 429 needed.
        assert [r.status for r in sim.requests] == [200] * len(sent)
        assert result.rate_limit_waits >= 1


def test_cli_reconcile_hard(tmp_path: Path, sim: SimulatorServer) -> None:
    warehouse = Warehouse(tmp_path, sim)
    warehouse.run()
    gone = sim.store.ids()[-2:]
    for lead_id in gone:
        sim.store.delete(lead_id)

    proc = subprocess.run(
        cli("--reconcile", "--delete-mode", "hard", "-q"),
        env=cli_env(sim, tmp_path),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 0, proc.stderr
    assert "reconcile: 2 deleted" in proc.stdout
    assert_exact(warehouse, sim)


def test_a_reconcile_under_filters_judges_deletes_over_the_whole_account(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    """A filter narrows what is loaded, not what exists: a reconcile run with one sweeps every
    lead of the account, so leads outside the filter, and a lead that left it, stay live."""
    warehouse.run()
    store = sim.store
    won = [lead_id for lead_id in store.ids() if store.get(lead_id)["status"] == "won"]  # type: ignore[index]
    deleted, moved = won[0], won[1]
    store.delete(deleted)
    store.update(moved, status="lost")  # leaves the filter, still a lead

    result = warehouse.run(status="won", reconcile=True)

    assert result.deleted == 1
    live = {key for key, row in warehouse.leads().items() if row["_deleted_at"] is None}
    assert live == set(store.ids())  # every lead of the account, the one that moved too
    assert deleted not in live and moved in live
