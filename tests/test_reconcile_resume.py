"""An interrupted or failed reconcile resumes (issue 23, point 4): its cursor and the ids it has
seen are committed with each checkpoint, vanished leads are judged only once every page was
seen, and a rerun lists only the pages after the committed cursor. Real HTTP, 3,000 leads
(30 pages), stopped at page 27 by kill -9, Ctrl-C or an outage.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from sources.core.sweep.seen_ids import unpack_ids
from tests.contract.sources import BY_NAME, CliRun
from tests.helpers import PAGE, Warehouse, keyset_order, list_requests, make_sim, source_truth

MEGA = BY_NAME["mega"]

LEADS = 3_000
STOP_AT = 27  # the reconcile page the run is stopped at: ~90 % of 30
CHECKPOINT = ("--checkpoint-pages", "3")


def reconcile_requests(sim: SimulatorServer) -> list[dict[str, str]]:
    """The reconcile's list requests: the incremental sweep's carry `updated_since`."""
    return [query for query in list_requests(sim) if "updated_since" not in query]


def reconcile_state(warehouse: Warehouse) -> dict[str, Any]:
    state = json.loads((warehouse.pipelines_dir / "mega_leads" / "state.json").read_text())
    resource = state["sources"]["mega"]["resources"]["leads"]
    return dict(resource.get("reconcile", {}).get("all", {}))


def deleted_ids(warehouse: Warehouse) -> set[str]:
    return {key for key, row in warehouse.leads().items() if row["_deleted_at"] is not None}


def assert_live_is_source_but(warehouse: Warehouse, sim: SimulatorServer, extra: set[str]) -> None:
    """The live rows are the source's leads exactly, plus ``extra`` (gone, not yet judged)."""
    expected, _ = source_truth(sim)
    live = {key: row for key, row in warehouse.leads().items() if row["_deleted_at"] is None}
    assert set(live) == set(expected) | extra
    for lead_id, row in expected.items():
        assert live[lead_id] == row, lead_id


def stop_reconcile(how: str, warehouse: Warehouse, sim: SimulatorServer, after: int) -> None:
    """A reconcile run stopped while page ``STOP_AT`` of its sweep is served."""
    if how == "outage":
        sim.faults.add(faults.status(503), times=None, after=after)
        with pytest.raises(RunFailed) as failed:
            warehouse.run(reconcile=True, checkpoint_pages=3, prefetch_pages=1)
        assert f"[page {STOP_AT}]" in str(failed.value)  # the reconcile's page
        assert failed.value.result.reconciled is False
        return
    sig = signal.SIGKILL if how == "kill -9" else signal.SIGINT
    run = CliRun(MEGA, sim, warehouse.path.parent, "--reconcile", *CHECKPOINT, prefetch_pages="1")
    sim.faults.add(faults.callback(run.send(sig, group=sig == signal.SIGINT)), after=after)
    code, stderr = run.finish()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        return
    assert code == 130, stderr
    assert stderr == [stderr[0]] and "interrupted during the reconcile" in stderr[0]
    assert MEGA.runs(warehouse.path.parent)[-1][0] == "interrupted"
    assert not MEGA.has_pending(warehouse.path.parent)


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c", "outage"])
def test_a_stopped_reconcile_resumes_at_its_cursor(
    how: str, tmp_path: Path, clock: ManualClock
) -> None:
    with make_sim(clock, LEADS, seed=13) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run()
        store = sim.store
        order = [lead["id"] for lead in keyset_order(sim)]
        gone_before = order[500]  # deleted before the reconcile began
        store.delete(gone_before)
        sim.clear_requests()
        warehouse.run()  # an incremental run alone: how many requests it takes
        incremental = len(list_requests(sim))
        sim.clear_requests()

        stop_reconcile(how, warehouse, sim, after=incremental + STOP_AT - 1)

        sim.faults.clear()
        assert deleted_ids(warehouse) == set()  # nothing judged before every page is seen
        progress = reconcile_state(warehouse)
        seen = set().union(*map(unpack_ids, progress["seen"]))
        assert progress["cursor"] and 0 < len(seen) < LEADS
        # Committed: every page received (Ctrl-C, outage: the pages before the stop), or after
        # kill -9 the checkpoints closed before it (three pages each).
        lost = 3 if how == "kill -9" else 0
        assert len(seen) >= (STOP_AT - 1 - lost) * PAGE
        assert set(order[: len(seen) + 1]) - seen == {gone_before}  # whole pages, in order
        # Before the rerun: a lead deleted after the cursor, one deleted behind it (seen alive:
        # the next reconcile's), one updated behind it (it moves to the end), one new.
        gone_ahead, gone_behind, updated = order[-10], order[10], order[20]
        store.delete(gone_ahead)
        store.delete(gone_behind)
        store.update(updated, status="won")
        new = {**store.get(order[30]), "id": str(uuid.uuid4())}  # type: ignore[dict-item]
        store.add_many([new])
        store.update(new["id"], status="new")
        remaining = sum(1 for lead_id in store.ids() if lead_id not in seen) + 1  # `updated`
        sim.clear_requests()

        rerun = MEGA.run_cli(sim, tmp_path, "--reconcile", *CHECKPOINT)

        assert rerun.returncode == 0, rerun.stderr
        resumed = reconcile_requests(sim)
        assert len(resumed) == math.ceil(remaining / PAGE) <= LEADS // PAGE
        assert all(query.get("cursor") for query in resumed)  # none from the beginning
        assert len(list_requests(sim)) - len(resumed) == incremental  # and the incremental's
        assert deleted_ids(warehouse) == {gone_before, gone_ahead}
        assert_live_is_source_but(warehouse, sim, {gone_behind})
        assert reconcile_state(warehouse) == {}
        assert MEGA.runs(tmp_path)[-1][0] == "success"

        after = warehouse.run(reconcile=True)

        assert (after.deleted, after.restored) == (1, 0)
        assert deleted_ids(warehouse) == {gone_before, gone_ahead, gone_behind}
        assert_live_is_source_but(warehouse, sim, set())


def test_with_a_lookback_a_stopped_reconcile_starts_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Runs since the stop may have loaded, through the lookback, a lead committed late behind
    the cursor: a resumed sweep would never list it and take it for deleted."""
    with make_sim(clock, LEADS, seed=13) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run(lookback="15m")
        sim.clear_requests()
        warehouse.run(lookback="15m")
        incremental = len(list_requests(sim))
        sim.clear_requests()
        stop_reconcile("outage", warehouse, sim, after=incremental + STOP_AT - 1)
        sim.faults.clear()
        assert reconcile_state(warehouse)["cursor"]
        sim.clear_requests()

        rerun = warehouse.run(reconcile=True, lookback="15m")

        swept = reconcile_requests(sim)
        assert not swept[0].get("cursor") and len(swept) == LEADS // PAGE
        assert (rerun.deleted, rerun.restored) == (0, 0)
        assert deleted_ids(warehouse) == set() and reconcile_state(warehouse) == {}
        assert_live_is_source_but(warehouse, sim, set())


def test_the_warehouse_keeps_one_state_row_so_a_reconcile_does_not_pile_up_its_ids(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Each checkpoint writes the whole state, a reconcile's ids seen with it; dlt restores only
    the newest row. Kept, the rows of a 1M-lead reconcile (~96 MB) were more than DuckDB's
    memory limit let the next run's restore sort: every later run failed."""
    with make_sim(clock, LEADS) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run(checkpoint_pages=3)
        sim.store.delete(sim.store.ids()[0])

        warehouse.run(reconcile=True, checkpoint_pages=3, prefetch_pages=1)

        loads = warehouse.query("SELECT COUNT(*) FROM mega._dlt_loads WHERE status = 0")
        assert loads[0][0] >= 20  # ten checkpoints a sweep, each a load that wrote its state
        rows = warehouse.query(
            "SELECT COUNT(*), MAX(_dlt_load_id) FROM mega._dlt_pipeline_state"
            " WHERE pipeline_name = 'mega_leads'"
        )
        last_load = warehouse.query("SELECT MAX(load_id) FROM mega._dlt_loads WHERE status = 0")
        assert rows == [(1, last_load[0][0])]
        # A new machine restores from that one row: the next run knows where it is.
        shutil.rmtree(warehouse.pipelines_dir)
        sim.clear_requests()
        warehouse.run()
        assert [q.get("updated_since") is not None for q in list_requests(sim)] == [True]
        assert_live_is_source_but(warehouse, sim, set())
