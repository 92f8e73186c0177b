"""A DuckDB file locked by another process: the run holds its file so another process
cannot break its loads, and a load that fails on a locked file is left pending, then
finished by the next run or discarded (state reverted to the warehouse's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import SimulatorServer
from tests.helpers import (
    PAGE,
    PROBE,
    FileLocker,
    Warehouse,
    assert_exact,
    assert_state_not_ahead,
    destination_stream_state,
    first_pages_ids,
    keyset_order,
    list_requests,
    newest,
    one_line_error,
)
from warehouses import duckdb as warehouse_module


@pytest.fixture
def locker(warehouse: Warehouse) -> Iterator[FileLocker]:
    holder = FileLocker(warehouse.path)
    yield holder
    holder.release()


def test_the_run_holds_the_duckdb_file_so_another_process_cannot_break_its_loads(
    warehouse: Warehouse, sim: SimulatorServer, locker: FileLocker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process that opens the file mid-run is refused, not the run's next load; the
    file is free again once the run ends."""
    monkeypatch.setenv("SOURCES__MEGA__PREFETCH_PAGES", "0")
    sim.faults.add(faults.callback(lambda store: locker.try_acquire()), after=PROBE + 2)

    result = warehouse.run(checkpoint_pages=1)

    assert locker.outcomes == ["refused"]
    assert (result.checkpoints, result.leads) == (4, 350)
    assert_exact(warehouse, sim)
    locker.acquire()


def fail_third_load(
    warehouse: Warehouse, sim: SimulatorServer, locker: FileLocker, monkeypatch: pytest.MonkeyPatch
) -> RunFailed:
    """A load that fails after two checkpoints committed: the DuckDB file taken by another
    process between checkpoints. The run's own hold on the file prevents exactly that
    (`warehouse.duckdb_held_open`), so it is switched off here: this is how a load fails on any
    destination that goes away mid-run. No prefetch, so the third page is requested only after
    checkpoints 1 and 2 are loaded; the file gets locked while page 3 is served. Later runs
    hold the file again."""
    held_open = warehouse_module.duckdb_held_open
    monkeypatch.setattr(warehouse_module, "duckdb_held_open", lambda pipeline: nullcontext())
    monkeypatch.setenv("SOURCES__MEGA__PREFETCH_PAGES", "0")
    sim.faults.add(faults.callback(lambda store: locker.acquire()), after=PROBE + 2)
    with pytest.raises(RunFailed) as failed:
        warehouse.run(checkpoint_pages=1)
    monkeypatch.setattr(warehouse_module, "duckdb_held_open", held_open)
    one_line_error(failed.value)
    assert len(list_requests(sim)) == PROBE + 3
    return failed.value


def test_load_failing_on_a_locked_duckdb_file_is_finished_by_the_next_run(
    warehouse: Warehouse,
    sim: SimulatorServer,
    locker: FileLocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fail_third_load(warehouse, sim, locker, monkeypatch)

    # Still locked when the next run starts, so it cannot hold the file: it fails cleanly,
    # says why, and asks the API for nothing.
    with pytest.raises(RunFailed) as still_locked:
        warehouse.run(checkpoint_pages=1)
    message = one_line_error(still_locked.value)
    assert len(list_requests(sim)) == PROBE + 3

    locker.release()
    # The warehouse holds checkpoints 1 and 2 and a state that claims no more than that.
    assert set(warehouse.leads()) == first_pages_ids(sim, 2)
    assert destination_stream_state(warehouse)["high_water_mark"] == newest(
        keyset_order(sim)[: 2 * PAGE]
    )
    assert_state_not_ahead(warehouse, sim)
    sim.clear_requests()

    result = warehouse.run(checkpoint_pages=1)

    assert result.recovered_pending is True
    assert_exact(warehouse, sim)
    assert result.requests == len(list_requests(sim)) == 1  # only page 4 was never read
    rows = warehouse.query("SELECT outcome, recovered_pending FROM mega._mega_runs")
    assert rows == [("success", True)]
    # The failed rerun named the pending data and the way out.
    assert "pending" in message, message


def test_locked_load_discarded_reverts_state_to_the_warehouse(
    warehouse: Warehouse,
    sim: SimulatorServer,
    locker: FileLocker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fail_third_load(warehouse, sim, locker, monkeypatch)
    third_page_cursor = list_requests(sim)[PROBE + 2]["cursor"]
    locker.release()
    sim.clear_requests()

    result = warehouse.run(checkpoint_pages=1, discard_pending=True)

    assert result.recovered_pending is False
    assert_exact(warehouse, sim)
    # The discarded checkpoint's pages are read again from the warehouse's own state.
    assert result.high_water_mark_before == newest(keyset_order(sim)[: 2 * PAGE])
    sent = list_requests(sim)
    assert result.requests == len(sent) == 2
    assert sent[0]["cursor"] == third_page_cursor
