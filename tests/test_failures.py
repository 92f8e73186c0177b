"""Failure and recovery over real HTTP: checkpoints and resume, outages, 429 storms, slow and
truncated bodies, malformed pages, SIGKILL of a CLI run, a DuckDB file locked during the load,
and the `_mega_runs` manifest.

Every failing run is followed by a rerun that must reach exact equality with the simulator's
truth (no duplicate rows) with no more requests than the pages left plus one checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from dlt.common.versioned_state import decompress_state

from pipelines.result import RunFailed, RunResult
from pipelines.warehouses import duckdb as warehouse_module
from simulators.mega import (
    DEFAULT_CUSTOMER_ID,
    DEFAULT_TOKEN,
    Fault,
    ManualClock,
    SimulatorServer,
    faults,
)
from tests.conftest import Warehouse, assert_matches_source, list_requests, make_sim, ts

PROJECT = Path(__file__).resolve().parent.parent
PAGE = 100
ATTEMPTS = 5  # SOURCES__MEGA__MAX_RETRIES=4 (conftest): one try and four retries


# ----- helpers ---------------------------------------------------------------------------------


# A backfill into empty tables first asks for the newest lead (one `limit=1` request), so that
# loads of leads older than it can be appended: request numbers of such runs start one later.
PROBE = 1


def keyset_order(sim: SimulatorServer) -> list[dict[str, Any]]:
    """The source's leads in the order the sweep reads them: (updated_at, id)."""
    return sorted(sim.store.snapshot(), key=lambda lead: (lead["updated_at"], lead["id"]))


def first_pages_ids(sim: SimulatorServer, pages: int) -> set[str]:
    return {lead["id"] for lead in keyset_order(sim)[: pages * PAGE]}


def assert_no_duplicates(warehouse: Warehouse) -> None:
    if "leads" in warehouse.tables():
        assert warehouse.query("SELECT id FROM mega.leads GROUP BY id HAVING COUNT(*) > 1") == []
    if "leads__custom_fields" in warehouse.tables():
        dupes = warehouse.query(
            "SELECT lead_id, slug FROM mega.leads__custom_fields "
            "GROUP BY lead_id, slug HAVING COUNT(*) > 1"
        )
        assert dupes == []


def assert_exact(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """Exactly the source: same leads and custom fields, each once."""
    assert_matches_source(warehouse, sim)
    assert_no_duplicates(warehouse)


def destination_stream_state(warehouse: Warehouse) -> dict[str, Any]:
    """The stream state the warehouse itself holds (what a fresh machine would resume from)."""
    if "_dlt_pipeline_state" not in warehouse.tables():
        return {}
    rows = warehouse.query(
        "SELECT s.state FROM mega._dlt_pipeline_state s "
        "JOIN mega._dlt_loads l ON l.load_id = s._dlt_load_id AND l.status = 0 "
        "ORDER BY s.version DESC LIMIT 1"
    )
    if not rows:
        return {}
    state = decompress_state(rows[0][0])
    resources = state.get("sources", {}).get("mega", {}).get("resources", {})
    return dict(resources.get("leads", {}).get("streams", {}).get("all", {}))


def assert_state_not_ahead(warehouse: Warehouse, sim: SimulatorServer) -> None:
    """Every source lead strictly older than the committed high-water mark is loaded as it is
    at the source: the committed state never claims data the warehouse does not hold."""
    mark = destination_stream_state(warehouse).get("high_water_mark")
    if mark is None:
        return
    loaded = warehouse.leads()
    mark_at = ts(mark)
    assert mark_at is not None
    behind = [lead for lead in sim.store.snapshot() if ts(lead["updated_at"]) < mark_at]  # type: ignore[operator]
    missing = [lead["id"] for lead in behind if lead["id"] not in loaded]
    assert missing == [], f"state mark {mark} is ahead of {len(missing)} unloaded leads"


def assert_rerun_requests(
    sim: SimulatorServer, result: RunResult, remaining: int, checkpoint: int, slack: int = 0
) -> None:
    """A rerun reads the pages left and at most one checkpoint's pages again (+ ``slack``)."""
    sent = list_requests(sim)
    assert result.requests == len(sent)
    assert remaining <= len(sent) <= remaining + checkpoint + slack


def newest(leads: list[dict[str, Any]]) -> str:
    return max(lead["updated_at"] for lead in leads)


def one_line_error(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text
    assert "Traceback" not in text
    return text


def cli_env(sim: SimulatorServer, root: Path, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    """Environment of a CLI run loading into ``root`` (the same files as ``Warehouse(root)``)."""
    env = dict(os.environ)
    env.update(
        SOURCES__MEGA__BASE_URL=sim.url,
        SOURCES__MEGA__API_TOKEN=token,
        SOURCES__MEGA__CUSTOMER_ID=DEFAULT_CUSTOMER_ID,
        DESTINATION__DUCKDB__CREDENTIALS=str(root / "leads.duckdb"),
        # dlt puts pipelines under $DLT_DATA_DIR/pipelines: Warehouse(root).pipelines_dir
        DLT_DATA_DIR=str(root),
        RUNTIME__DLTHUB_TELEMETRY="false",
    )
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.mega_leads", *args]


BIG_PAGES = 5


@pytest.fixture
def big_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """Five pages of 100 leads."""
    with make_sim(clock, BIG_PAGES * PAGE, seed=11) as server:
        yield server


# ----- 1. checkpoints and resume ------------------------------------------------------------------


@pytest.mark.parametrize("fail_page", [4, BIG_PAGES])
def test_run_failing_at_a_page_resumes_after_the_pages_it_received(
    tmp_path: Path, big_sim: SimulatorServer, fail_page: int
) -> None:
    checkpoint = 2
    warehouse = Warehouse(tmp_path, big_sim)
    big_sim.faults.add(faults.status(500), times=None, after=PROBE + fail_page - 1)

    with pytest.raises(RunFailed) as failed:
        warehouse.run(checkpoint_pages=checkpoint)

    message = one_line_error(failed.value)
    assert f"page {fail_page}" in message
    assert failed.value.result.outcome == "failed"
    # The failing page is tried exactly once plus the retry budget: nothing loops.
    assert len(list_requests(big_sim)) == PROBE + fail_page - 1 + ATTEMPTS
    # Every page received before the failure is committed, not only whole checkpoints.
    committed = fail_page - 1
    assert set(warehouse.leads()) == first_pages_ids(big_sim, committed)
    assert_no_duplicates(warehouse)
    state = warehouse.state()
    assert state["high_water_mark"] == newest(keyset_order(big_sim)[: committed * PAGE])
    assert state["cursor"]  # between checkpoints: the rerun continues this sweep
    assert destination_stream_state(warehouse)["high_water_mark"] == state["high_water_mark"]

    big_sim.faults.clear()
    big_sim.clear_requests()
    result = warehouse.run(checkpoint_pages=checkpoint)

    assert_exact(warehouse, big_sim)
    assert_rerun_requests(big_sim, result, remaining=BIG_PAGES - committed, checkpoint=0)
    assert result.outcome == "success"


# ----- 7. fault matrix over real HTTP -----------------------------------------------------------

# name: (fault, times, the run fails). Armed on page 2 of 2; checkpoints of one page.
FAULT_MATRIX: dict[str, tuple[Fault, int | None, bool]] = {
    "outage_503": (faults.status(503), None, True),
    "connection_drops": (faults.drop(), None, True),
    "truncated_body": (faults.truncate(), None, True),
    "read_timeout": (faults.hang(1.0), None, True),
    "transient_500": (faults.status(500), 2, False),
    "storm_429": (faults.rate_limited(1), 2, False),
    "slow_bodies": (faults.slow(0.5), 2, False),
    "truncated_once": (faults.truncate(), 2, False),
    "read_timeout_once": (faults.hang(1.0), 1, False),
    "dropped_once": (faults.drop(), 2, False),
}


@pytest.mark.parametrize("case", list(FAULT_MATRIX))
def test_fault_matrix_then_rerun_is_exact(
    case: str, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fault, times, fails = FAULT_MATRIX[case]
    if fault.kind == "hang":
        monkeypatch.setenv("SOURCES__MEGA__READ_TIMEOUT", "0.3")
    # A one-second rate window: RateLimit-Reset never asks for more than a second.
    with make_sim(clock, 150, rate_window_s=1) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(fault, times=times, after=PROBE + 1)

        if fails:
            with pytest.raises(RunFailed) as failed:
                warehouse.run(checkpoint_pages=1)
            message = one_line_error(failed.value)
            assert "page 2" in message
            assert f"gave up after {ATTEMPTS} attempts" in message
            assert len(list_requests(sim)) == PROBE + 1 + ATTEMPTS
            assert failed.value.result.retries == ATTEMPTS - 1
            assert set(warehouse.leads()) == first_pages_ids(sim, 1)
            assert_state_not_ahead(warehouse, sim)
            sim.faults.clear()
            sim.clear_requests()
            result = warehouse.run(checkpoint_pages=1)
            assert_rerun_requests(sim, result, remaining=1, checkpoint=1)
        else:
            result = warehouse.run(checkpoint_pages=1)
            assert times is not None
            injected = times if fault.kind != "slow" else 0
            assert len(list_requests(sim)) == result.requests == PROBE + 2 + injected
            assert result.retries == injected

        assert result.outcome == "success"
        assert_exact(warehouse, sim)


def test_one_429_costs_one_wait_capped_by_retry_after_max(
    tmp_path: Path, clock: ManualClock
) -> None:
    """RETRY_AFTER_MAX=1 (conftest) caps every server-requested wait, RateLimit-Reset included
    (dlt_config/config.toml: "cap of a server-requested wait (Retry-After, RateLimit-Reset)")."""
    with make_sim(clock, 150, rate_window_s=8) as sim:
        capped = Warehouse(tmp_path, sim)
        sim.faults.add(faults.rate_limited(1), times=1, after=PROBE + 1)
        started = datetime.now(timezone.utc)

        result = capped.run(checkpoint_pages=1)

        elapsed = (datetime.now(timezone.utc) - started).total_seconds()
        assert_exact(capped, sim)
        assert [r.status for r in sim.requests] == [200] * PROBE + [200, 429, 200]
        assert elapsed < 6, f"a 429 with RateLimit-Reset 8 s held the run {elapsed:.1f} s"
        assert result.rate_limit_wait_s <= 1.5


def test_real_rate_limit_is_respected_without_429s(tmp_path: Path, clock: ManualClock) -> None:
    """3 requests a second: the pacer waits for the window instead of running into 429s."""
    with make_sim(clock, 350, rate_limit=3, rate_window_s=1) as sim:
        warehouse = Warehouse(tmp_path, sim)

        result = warehouse.run(checkpoint_pages=2)

        assert_exact(warehouse, sim)
        statuses = [r.status for r in sim.requests]
        assert statuses == [200] * (PROBE + 4)
        assert result.requests == PROBE + 4
        assert result.rate_limit_waits >= 1


# ----- 4. bad input from the API ------------------------------------------------------------------

# name: (fault, a word the error must contain). Armed on page 2 of 2, forever.
MALFORMED: dict[str, tuple[Fault, str]] = {
    "non_json": (faults.non_json_200(), "JSON"),
    "html_200": (faults.html_200(), "JSON"),
    "missing_leads": (faults.missing_key("leads"), "`leads`"),
    "missing_next_cursor": (faults.missing_key("next_cursor"), "`next_cursor`"),
    "lead_without_id": (faults.bad_lead("no_id"), "`id`"),
    "lead_without_updated_at": (faults.bad_lead("no_updated_at"), "`updated_at`"),
    "wrong_types": (faults.bad_lead("wrong_types"), "`id`"),
    "repeating_cursor": (faults.repeat_cursor(), "next_cursor"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_page_fails_clearly_commits_nothing_after_and_rerun_recovers(
    case: str, tmp_path: Path, clock: ManualClock
) -> None:
    fault, word = MALFORMED[case]
    with make_sim(clock, 150) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(fault, times=None, after=PROBE + 1)

        with pytest.raises(RunFailed) as failed:
            warehouse.run(checkpoint_pages=1)

        message = one_line_error(failed.value)
        assert "page 2" in message
        assert word in message
        assert failed.value.result.outcome == "failed"
        assert len(list_requests(sim)) <= 1 + ATTEMPTS  # never loops
        # Page 1 was a checkpoint of its own; nothing of page 2 or later is committed.
        assert set(warehouse.leads()) == first_pages_ids(sim, 1)
        assert warehouse.state()["high_water_mark"] == newest(keyset_order(sim)[:PAGE])
        assert_state_not_ahead(warehouse, sim)

        sim.faults.clear()
        sim.clear_requests()
        result = warehouse.run(checkpoint_pages=1)

        assert_exact(warehouse, sim)
        assert_rerun_requests(sim, result, remaining=1, checkpoint=1)


# ----- SIGKILL of a CLI run ---------------------------------------------------------------------


PREFETCH = 2


@pytest.mark.parametrize("kill_at", [2, 4, BIG_PAGES])
def test_sigkill_of_cli_run_at_a_page_then_rerun_is_exact(
    tmp_path: Path, big_sim: SimulatorServer, kill_at: int
) -> None:
    """The CLI run is killed (SIGKILL) while request ``kill_at`` is being served; a rerun in
    another process on the same files reaches the source exactly."""
    procs: list[subprocess.Popen[str]] = []

    def kill(store: object) -> None:
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(timeout=30)  # dead before this page is answered

    big_sim.faults.add(faults.callback(kill), after=PROBE + kill_at - 1)
    env = cli_env(big_sim, tmp_path)
    env["SOURCES__MEGA__PREFETCH_PAGES"] = str(PREFETCH)
    proc = subprocess.Popen(
        cli("--checkpoint-pages", "1"),
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    try:
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while len(list_requests(big_sim)) < PROBE + kill_at and time.monotonic() < deadline:
        time.sleep(0.02)  # the killing request is logged once its callback returns
    assert len(list_requests(big_sim)) == PROBE + kill_at

    warehouse = Warehouse(tmp_path, big_sim)
    assert_no_duplicates(warehouse)
    assert_state_not_ahead(warehouse, big_sim)
    big_sim.clear_requests()

    result = warehouse.run(checkpoint_pages=1)

    assert_exact(warehouse, big_sim)
    # Up to `prefetch_pages` answered pages may not have reached a checkpoint yet, and if none
    # had, the rerun is a backfill into empty tables again (one probe).
    assert_rerun_requests(
        big_sim, result, remaining=BIG_PAGES - (kill_at - 1), checkpoint=1, slack=PREFETCH + PROBE
    )
    runs = warehouse.query("SELECT outcome FROM mega._mega_runs")
    assert runs == [("success",)]


def test_cli_failure_is_one_line_nonzero_and_rerun_completes(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    sim.faults.add(faults.status(500), times=None, after=PROBE + 1)

    proc = subprocess.run(
        cli("--checkpoint-pages", "1"),
        env=cli_env(sim, tmp_path),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("mega-leads: error:")]
    assert len(errors) == 1
    assert "page 2" in errors[0]
    assert f"gave up after {ATTEMPTS} attempts" in errors[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""

    warehouse = Warehouse(tmp_path, sim)
    assert set(warehouse.leads()) == first_pages_ids(sim, 1)
    sim.faults.clear()
    sim.clear_requests()
    result = warehouse.run(checkpoint_pages=3)
    assert_exact(warehouse, sim)
    assert_rerun_requests(sim, result, remaining=3, checkpoint=1)


# ----- the DuckDB file locked during the load ---------------------------------------------------

LOCKER = (
    "import sys, time, duckdb\n"
    "try:\n"
    "    con = duckdb.connect(sys.argv[1])\n"
    "except duckdb.IOException:\n"
    "    print('refused', flush=True)\n"
    "    sys.exit(0)\n"
    "print('locked', flush=True)\n"
    "time.sleep(300)\n"
)


class FileLocker:
    """Another process holding the DuckDB file open (DuckDB allows one writer process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[str] | None = None
        self.outcomes: list[str] = []

    def try_acquire(self) -> bool:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(self.path)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.outcomes.append(self.proc.stdout.readline().strip())
        return self.outcomes[-1] == "locked"

    def acquire(self) -> None:
        assert self.try_acquire(), self.outcomes

    def release(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


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


# ----- 5. the run manifest ------------------------------------------------------------------------

MANIFEST_FIELDS = (
    "run_id",
    "outcome",
    "started_at",
    "finished_at",
    "pages",
    "leads",
    "requests",
    "retries",
    "rate_limit_waits",
    "checkpoints",
    "high_water_mark_before",
    "high_water_mark_after",
    "api_total",
    "warehouse_count",
    "error",
)


def manifest(warehouse: Warehouse) -> list[dict[str, Any]]:
    rows = warehouse.query(f"SELECT {', '.join(MANIFEST_FIELDS)} FROM mega._mega_runs")
    records = [dict(zip(MANIFEST_FIELDS, row, strict=True)) for row in rows]
    return sorted(records, key=lambda record: record["started_at"])


def as_row(result: RunResult) -> dict[str, Any]:
    return {name: getattr(result, name) for name in MANIFEST_FIELDS}


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
