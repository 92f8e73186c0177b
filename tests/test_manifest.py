"""The `_mega_runs` manifest: one row per run equal to its result, inserted after the first
run (a new column still lands), counting retries and rate-limit waits."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.result import RunFailed, RunResult
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import (
    ATTEMPTS,
    PROBE,
    Warehouse,
    as_row,
    assert_exact,
    make_sim,
    manifest,
    newest,
)


def test_every_run_writes_one_manifest_row_equal_to_its_result(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    begin = datetime.now(timezone.utc)
    backfill = warehouse.run(checkpoint_pages=2)
    sim.store.update(sim.store.ids()[0], status="won")
    sim.faults.add(faults.status(503), times=None, after=0)
    with pytest.raises(RunFailed) as failed:
        warehouse.run(checkpoint_pages=1)
    sim.faults.clear()
    recovery = warehouse.run(checkpoint_pages=1)
    end = datetime.now(timezone.utc)

    rows = manifest(warehouse)
    results = [backfill, failed.value.result, recovery]
    assert [row["outcome"] for row in rows] == ["success", "failed", "success"]
    assert rows == [as_row(result) for result in results]
    for row in rows:
        assert begin <= row["started_at"] <= row["finished_at"] <= end
    first, broken, last = rows
    newest_mark = newest(sim.store.snapshot())
    # Checkpoints of 2 pages, and the appended backfill ends its load before the page holding
    # the newest lead (at the probe's instant), which is merged: 2 + 1 + 1 pages.
    assert (first["pages"], first["leads"], first["requests"], first["checkpoints"]) == (
        4,
        350,
        PROBE + 4,
        3,
    )
    assert first["high_water_mark_before"] is None
    assert first["api_total"] == first["warehouse_count"] == 350
    assert backfill.complete is True
    assert broken["error"] == str(failed.value)
    assert "page 1" in broken["error"]
    assert broken["retries"] == ATTEMPTS - 1
    assert broken["high_water_mark_before"] == first["high_water_mark_after"]
    assert last["high_water_mark_after"] == newest_mark
    assert last["error"] is None
    assert_exact(warehouse, sim)


def test_manifest_rows_after_the_first_are_inserted_and_a_new_column_still_lands(
    warehouse: Warehouse, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = warehouse.run()  # makes `_mega_runs` through dlt
    sim.store.update(sim.store.ids()[0], status="won")
    second = warehouse.run()  # an SQL insert into it
    manifest_row = RunResult.manifest_row
    monkeypatch.setattr(
        RunResult, "manifest_row", lambda self: {**manifest_row(self), "new_column": "x"}
    )
    third = warehouse.run()  # a column the table lacks: dlt loads the row and adds it

    assert manifest(warehouse) == [as_row(result) for result in (first, second, third)]
    load_ids = warehouse.query(
        "SELECT r._dlt_load_id, r.load_ids, r.new_column FROM mega._mega_runs r ORDER BY started_at"
    )
    # The inserted row carries its run's last load id; dlt's rows their own load's.
    assert load_ids[1][0] == json.loads(load_ids[1][1])[-1]
    assert [row[2] for row in load_ids] == [None, None, "x"]
    assert len({row[0] for row in load_ids}) == 3


def test_manifest_counts_retries_and_rate_limit_waits(tmp_path: Path, clock: ManualClock) -> None:
    with make_sim(clock, 150, rate_window_s=1) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(faults.status(502), times=1, after=0)
        sim.faults.add(faults.rate_limited(1), times=1, after=1)

        result = warehouse.run(checkpoint_pages=1)

        assert_exact(warehouse, sim)
        # The 502 and the 429 both hit the probe, which is retried: 3 probes, 2 pages.
        assert (result.requests, result.retries, result.rate_limit_waits) == (PROBE + 4, 2, 1)
        assert manifest(warehouse) == [as_row(result)]
