"""A long sweep fetched by a child process (``sources/mega/fetch_process.py``).

Its pages must load exactly what the in-process fetch loads, with the same requests; what
goes wrong in the child (outage, 401, a malformed page, the child dying) must come back as the
same one-line typed error with its requests counted, and a rerun must be exact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from mega_simulator import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, Fault, ManualClock, faults
from pipelines.result import RunFailed
from sources.mega import fetch_process
from sources.mega.client import MegaClient
from sources.mega.errors import FetchProcessError
from sources.mega.fetch_process import ChildPageStream
from sources.mega.paging import StartPosition
from tests.conftest import Warehouse, list_requests, make_sim
from tests.test_failures import (
    ATTEMPTS,
    PROBE,
    assert_exact,
    assert_state_not_ahead,
    first_pages_ids,
    one_line_error,
)

CHILD_LOG = "fetching in a child process"


def loaded_rows(warehouse: Warehouse) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    leads = warehouse.query("SELECT * FROM mega.leads ORDER BY id")
    fields = warehouse.query(
        "SELECT lead_id, slug, value, value_type FROM mega.leads__custom_fields "
        "ORDER BY lead_id, slug"
    )
    return leads, fields


def test_child_fetch_loads_and_requests_what_the_in_process_fetch_does(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with make_sim(clock, 650) as sim:
        seen: dict[str, Any] = {}
        for mode, min_leads in (("thread", 0), ("child", 1)):
            warehouse = Warehouse(tmp_path / mode, sim)
            sim.clear_requests()
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="mega"):
                result = warehouse.run(fetch_process_min_leads=min_leads, checkpoint_pages=3)
            assert (CHILD_LOG in caplog.text) == (mode == "child")
            assert_exact(warehouse, sim)
            assert result.requests == len(list_requests(sim)) == PROBE + 7
            assert (result.leads, result.checkpoints) == (650, 3)
            seen[mode] = (list_requests(sim), warehouse.state(), loaded_rows(warehouse))
        assert seen["child"] == seen["thread"]


def test_incremental_through_the_child_then_no_change(
    tmp_path: Path, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with make_sim(clock, 400) as sim:
        warehouse = Warehouse(tmp_path, sim)
        warehouse.run(fetch_process_min_leads=0)
        sim.store.touch(250, seed=5)
        sim.clear_requests()
        with caplog.at_level(logging.INFO, logger="mega"):
            update = warehouse.run(fetch_process_min_leads=100)
        assert CHILD_LOG in caplog.text
        assert update.leads == 250
        assert update.requests == len(list_requests(sim)) == 3
        assert_exact(warehouse, sim)

        sim.clear_requests()
        again = warehouse.run(fetch_process_min_leads=100)
        assert (again.leads, again.requests) == (0, 1)


# name: (fault on page 2 of 2, words of the error). The run fails; page 1 is its own checkpoint.
CHILD_FAILURES: dict[str, tuple[Fault, str, int]] = {
    "outage_503": (faults.status(503), f"gave up after {ATTEMPTS} attempts", ATTEMPTS),
    "connection_drops": (faults.drop(), f"gave up after {ATTEMPTS} attempts", ATTEMPTS),
    "unauthorized_401": (faults.status(401), "authentication failed (401", 1),
    "malformed_page": (faults.missing_key("next_cursor"), "next_cursor", 1),
}


@pytest.mark.parametrize("case", list(CHILD_FAILURES))
def test_failure_in_the_child_is_one_typed_line_and_rerun_is_exact(
    case: str, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, words, attempts = CHILD_FAILURES[case]
    # As a user would set it; any sweep with more than one lead due goes to the child.
    monkeypatch.setenv("SOURCES__MEGA__FETCH_PROCESS_MIN_LEADS", "1")
    with make_sim(clock, 150) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(fault, times=None, after=PROBE + 1)

        with pytest.raises(RunFailed) as failed:
            warehouse.run(checkpoint_pages=1)

        message = one_line_error(failed.value)
        assert "page 2" in message and words in message
        assert DEFAULT_TOKEN not in message
        sent = len(list_requests(sim))
        assert sent == PROBE + 1 + attempts
        assert failed.value.result.requests == sent
        assert failed.value.result.retries == attempts - 1
        assert set(warehouse.leads()) == first_pages_ids(sim, 1)
        assert_state_not_ahead(warehouse, sim)

        sim.faults.clear()
        sim.clear_requests()
        result = warehouse.run(checkpoint_pages=1)
        assert result.outcome == "success"
        assert result.requests == len(list_requests(sim)) == 1
        assert_exact(warehouse, sim)


def test_a_child_that_cannot_start_leaves_the_sweep_to_this_process(
    tmp_path: Path,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As when the interpreter cannot run a child (an embedded Python, a broken environment).
    monkeypatch.setattr(fetch_process, "_BOOTSTRAP", "import sys; sys.exit(3)")
    with make_sim(clock, 350) as sim:
        warehouse = Warehouse(tmp_path, sim)
        with caplog.at_level(logging.INFO, logger="mega"):
            result = warehouse.run(fetch_process_min_leads=1)
        assert "the fetch process did not start" in caplog.text
        assert "exit code 3" in caplog.text
        assert result.outcome == "success"
        assert result.requests == len(list_requests(sim)) == PROBE + 4
        assert_exact(warehouse, sim)


def _child_stream(sim_url: str, cursor: str) -> ChildPageStream:
    client = MegaClient(sim_url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID)
    params = {"sort_by": "updated_at", "sort_dir": "asc", "limit": "100"}
    start = StartPosition(cursor, None, cursor_saved=False)
    return ChildPageStream(client, params, start, buffer_pages=2, first_number=2)


def test_a_child_that_dies_is_a_transport_error_and_close_leaves_no_process(
    clock: ManualClock,
) -> None:
    # 50 pages: more than the buffer and the pipe hold, so the child is still fetching when killed.
    with make_sim(clock, 5000) as sim:
        first = MegaClient(sim.url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID).list_leads(
            {"sort_by": "updated_at", "sort_dir": "asc", "limit": "100"}
        )
        stream = _child_stream(sim.url, first["next_cursor"])
        process = stream._proc
        assert DEFAULT_TOKEN not in str(process.args)  # stdin only, never argv
        page = next(stream)
        assert (page.number, len(page.leads)) == (2, 100)
        process.kill()
        process.wait()
        with pytest.raises(FetchProcessError, match=r"fetch process died \(exit code -9\)"):
            for _ in range(10):  # pages already in the pipe come first
                next(stream)
        stream.close()

        stream = _child_stream(sim.url, first["next_cursor"])
        next(stream)
        stream.close()  # a run that stops early (e.g. a failed load) ends the child
        assert stream._proc.poll() is not None
