"""Parallel backfill over equal-count `updated_at` ranges: exact, resumable, one rate budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import Warehouse, assert_matches_source, list_requests, make_sim

LEADS = 6_000  # 60 pages: enough for 3 workers of at least 20 pages each


@pytest.fixture
def big_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    with make_sim(clock, LEADS, seed=11) as server:
        yield server


def range_starts(sim: SimulatorServer) -> set[str]:
    """The distinct `updated_since` values of full-size page requests: one per range."""
    return {
        q.get("updated_since", "")
        for q in list_requests(sim)
        if q.get("limit") == "100" and "cursor" not in q
    }


def test_parallel_backfill_equals_the_source(tmp_path: Path, big_sim: SimulatorServer) -> None:
    warehouse = Warehouse(tmp_path, big_sim)

    result = warehouse.run(workers=3)

    assert_matches_source(warehouse, big_sim)
    probes = [q for q in list_requests(big_sim) if q.get("limit") == "1"]
    assert probes, "range boundaries are found with limit=1 probes"
    assert len(range_starts(big_sim)) == 4  # 3 ranges + the sweep from the plan's newest instant
    state = warehouse.state()
    assert "ranges" not in state and state["cursor"] is None
    assert state["high_water_mark"] == max(x["updated_at"] for x in big_sim.store.snapshot())
    assert result.api_total == result.warehouse_count == LEADS
    big_sim.clear_requests()
    assert warehouse.run(workers=3).leads == 0  # the next run is an ordinary incremental one
    assert len(list_requests(big_sim)) == 1


def test_leads_updated_during_a_parallel_backfill_end_up_current(
    tmp_path: Path, big_sim: SimulatorServer
) -> None:
    ordered = sorted(big_sim.store.snapshot(), key=lambda x: (x["updated_at"], x["id"]))
    early, middle, late = ordered[10]["id"], ordered[3_000]["id"], ordered[5_990]["id"]

    def edit(store: object) -> None:
        big_sim.store.update(early, status="won")
        big_sim.store.set_custom_field(middle, "budget", 1)
        big_sim.store.remove_custom_field(late, next(iter(ordered[5_990]["custom_fields"]), "x"))

    big_sim.faults.add(faults.callback(edit), after=25)
    warehouse = Warehouse(tmp_path, big_sim)

    warehouse.run(workers=3, checkpoint_pages=7)

    assert_matches_source(warehouse, big_sim)
    assert warehouse.leads()[early]["status"] == "won"


def test_parallel_backfill_resumes_each_range_from_its_checkpoint(
    tmp_path: Path, big_sim: SimulatorServer
) -> None:
    warehouse = Warehouse(tmp_path, big_sim)
    big_sim.faults.add(faults.status(503), times=None, after=40)  # an outage from request 41

    with pytest.raises(RunFailed, match=r"server error \(503"):
        warehouse.run(workers=3, checkpoint_pages=5)

    saved = warehouse.state()
    assert saved["ranges"] and any(r["cursor"] for r in saved["ranges"])
    loaded_before = len(warehouse.leads())
    assert 0 < loaded_before < LEADS
    big_sim.faults.clear()  # the outage is over
    big_sim.clear_requests()

    warehouse.run(workers=3, checkpoint_pages=5)

    assert_matches_source(warehouse, big_sim)
    resumed = [q for q in list_requests(big_sim) if q.get("limit") == "100"]
    assert not [q for q in list_requests(big_sim) if q.get("limit") == "1"]  # no re-planning
    # Committed pages are not fetched again: at most the unfinished checkpoint's and the
    # prefetched ones per range, beyond what was still missing.
    missing_pages = (LEADS - loaded_before) // 100 + 1
    assert len(resumed) <= missing_pages + 3 * (5 + 10) + 1


def test_workers_share_one_rate_limit_budget(tmp_path: Path, clock: ManualClock) -> None:
    with make_sim(clock, LEADS, seed=11, rate_limit=40, rate_window_s=1) as sim:
        warehouse = Warehouse(tmp_path, sim)

        result = warehouse.run(workers=3)

        assert_matches_source(warehouse, sim)
        assert 429 not in [r.status for r in sim.requests]
        assert result.rate_limit_waits >= 1


def test_small_backfills_stay_sequential(warehouse: Warehouse, sim: SimulatorServer) -> None:
    warehouse.run(workers=4)

    assert len(range_starts(sim)) == 1
    assert_matches_source(warehouse, sim)
