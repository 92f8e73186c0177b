"""A run that stops early commits the pages it received, then fails: an outage past the retry
budget, a 401 mid-run, a malformed page, Ctrl-C or SIGTERM (issue 13, points 2 and 6). The rerun
resumes right after them and reaches the source exactly.

What every source promises is tested in tests/contract, against each source; these are MEGA's
own cases. Interrupts are sent to a CLI run from the simulator's fault hooks, at a known
request, so every test is deterministic: exit 130, one line on stderr, a `_mega_runs` row, no
pending package.
"""

from __future__ import annotations

import functools
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import dlt
import pytest

from pipelines import keyset_run
from pipelines.progress import Progress
from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from simulators.mega.faults import bad_lead
from tests.contract.sources import BY_NAME, CliRun
from tests.helpers import (
    PAGE,
    PROBE,
    PROJECT,
    FileLocker,
    Warehouse,
    assert_exact,
    assert_state_not_ahead,
    cli,
    cli_env,
    first_pages_ids,
    keyset_order,
    list_requests,
    make_sim,
    newest,
    one_line_error,
)
from warehouses import duckdb as warehouse_module

MEGA = BY_NAME["mega"]

LEADS = 2_000  # 20 pages


@pytest.fixture
def twenty_pages(clock: ManualClock) -> Iterator[SimulatorServer]:
    with make_sim(clock, LEADS, seed=13) as server:
        yield server


def assert_committed_pages(warehouse: Warehouse, sim: SimulatorServer, pages: int) -> None:
    """Exactly the first ``pages`` pages are loaded, and the state claims no more."""
    assert set(warehouse.leads()) == first_pages_ids(sim, pages)
    assert warehouse.state()["high_water_mark"] == newest(keyset_order(sim)[: pages * PAGE])
    assert_state_not_ahead(warehouse, sim)


def rerun_resumes_after(
    warehouse: Warehouse, sim: SimulatorServer, failed_request: dict[str, str], left: int
) -> None:
    """The rerun asks first for the page that failed (its cursor), then only the pages left."""
    sim.faults.clear()
    sim.clear_requests()
    result = warehouse.run()
    sent = list_requests(sim)
    assert sent[0].get("cursor") == failed_request.get("cursor")
    assert result.requests == len(sent) == left
    assert_exact(warehouse, sim)


# ----- point 2: a failed run keeps the pages it already has --------------------------------------


@pytest.mark.parametrize("fetcher", ["thread", "child process"])
def test_outage_commits_the_pages_received_and_the_rerun_fetches_only_the_rest(
    tmp_path: Path,
    twenty_pages: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
    fetcher: str,
) -> None:
    """500s from page 8 on, default checkpoints (1000 pages): the retry budget is spent."""
    if fetcher == "child process":
        monkeypatch.setenv("SOURCES__MEGA__FETCH_PROCESS_MIN_LEADS", "100")
    warehouse = Warehouse(tmp_path, twenty_pages)
    twenty_pages.faults.add(faults.status(500), times=None, after=PROBE + 7)

    with pytest.raises(RunFailed) as failed:
        warehouse.run()

    assert "page 8" in one_line_error(failed.value)
    assert failed.value.result.outcome == "failed"
    assert (failed.value.result.pages, failed.value.result.leads) == (7, 7 * PAGE)
    assert_committed_pages(warehouse, twenty_pages, 7)
    rerun_resumes_after(warehouse, twenty_pages, list_requests(twenty_pages)[PROBE + 7], 13)


def test_401_mid_run_commits_the_pages_before_it(
    tmp_path: Path, twenty_pages: SimulatorServer
) -> None:
    warehouse = Warehouse(tmp_path, twenty_pages)
    twenty_pages.faults.add(faults.status(401), times=1, after=PROBE + 5)

    with pytest.raises(RunFailed) as failed:
        warehouse.run()

    message = one_line_error(failed.value)
    assert "401" in message and "page 6" in message
    assert len(list_requests(twenty_pages)) <= PROBE + 6 + 10  # the prefetched pages at most
    assert_committed_pages(warehouse, twenty_pages, 5)
    rerun_resumes_after(warehouse, twenty_pages, list_requests(twenty_pages)[PROBE + 5], 15)


@pytest.mark.parametrize(
    "fault",
    [faults.missing_key("leads"), bad_lead("no_updated_at")],
    ids=["missing_leads", "lead_without_updated_at"],
)
def test_malformed_page_mid_checkpoint_commits_the_pages_before_it(
    tmp_path: Path, twenty_pages: SimulatorServer, fault: Any
) -> None:
    warehouse = Warehouse(tmp_path, twenty_pages)
    twenty_pages.faults.add(fault, times=1, after=PROBE + 12)

    with pytest.raises(RunFailed) as failed:
        warehouse.run()

    assert "page 13" in one_line_error(failed.value)
    assert_committed_pages(warehouse, twenty_pages, 12)
    rerun_resumes_after(warehouse, twenty_pages, list_requests(twenty_pages)[PROBE + 12], 8)


# ----- point 6: Ctrl-C and SIGTERM -----------------------------------------------------------


def assert_interrupted(code: int, stderr: list[str], committed: int | None = None) -> None:
    assert code == 130, stderr
    assert len(stderr) == 1, stderr  # no traceback, from dlt, the run or the fetch process
    assert stderr[0].startswith("mega-leads: error: interrupted at page ")
    assert stderr[0].endswith("; run again to resume")
    if committed is not None:
        assert f"committed up to page {committed};" in stderr[0]


def assert_nothing_pending(root: Path) -> None:
    pipeline = dlt.attach(
        "mega_leads",
        pipelines_dir=str(root / "pipelines"),
        destination=dlt.destinations.duckdb(str(root / "leads.duckdb")),
    )
    assert not pipeline.has_pending_data


def manifest_outcomes(warehouse: Warehouse) -> list[tuple[str, int]]:
    return warehouse.query("SELECT outcome, pages FROM mega._mega_runs ORDER BY started_at")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_commits_the_pages_received_exits_130_and_the_rerun_resumes(
    tmp_path: Path, twenty_pages: SimulatorServer, sig: int
) -> None:
    """The signal comes while page 9 is served; the pages before it are committed."""
    run = CliRun(MEGA, twenty_pages, tmp_path, prefetch_pages="1")
    twenty_pages.faults.add(faults.callback(run.send(sig)), after=PROBE + 8)

    code, stderr = run.finish()

    assert_interrupted(code, stderr)
    warehouse = Warehouse(tmp_path, twenty_pages)
    committed = len(warehouse.leads()) // PAGE
    assert 8 <= committed <= 9  # page 9 itself may be answered before the sweep looks again
    assert f"committed up to page {committed};" in stderr[0]
    assert_committed_pages(warehouse, twenty_pages, committed)
    assert manifest_outcomes(warehouse) == [("interrupted", committed)]
    assert_nothing_pending(tmp_path)
    sent = list_requests(twenty_pages)
    # No request starts after the signal: when page 9 was committed, page 10 was never asked
    # for, and the cursor to ask for it with is the one committed with page 9.
    next_page = sent[PROBE + committed] if len(sent) > PROBE + committed else warehouse.state()
    rerun_resumes_after(warehouse, twenty_pages, next_page, 20 - committed)


def test_ctrl_c_to_the_process_group_with_a_fetch_process(
    tmp_path: Path, twenty_pages: SimulatorServer
) -> None:
    """The terminal sends Ctrl-C to every process of the group: the fetch process too."""
    run = CliRun(MEGA, twenty_pages, tmp_path, fetch_process_min_leads="100")
    twenty_pages.faults.add(faults.callback(run.send(signal.SIGINT, group=True)), after=PROBE + 5)

    code, stderr = run.finish()

    assert_interrupted(code, stderr)
    warehouse = Warehouse(tmp_path, twenty_pages)
    assert_state_not_ahead(warehouse, twenty_pages)
    assert [row[0] for row in manifest_outcomes(warehouse)] == ["interrupted"]
    assert_nothing_pending(tmp_path)
    twenty_pages.faults.clear()
    warehouse.run()
    assert_exact(warehouse, twenty_pages)


def test_sigterm_with_four_workers(tmp_path: Path, clock: ManualClock) -> None:
    with make_sim(clock, 8_000, seed=5) as sim:
        run = CliRun(MEGA, sim, tmp_path, "--workers", "4", "--checkpoint-pages", "10")
        sim.faults.add(faults.callback(run.send(signal.SIGTERM)), after=40)

        code, stderr = run.finish()

        assert_interrupted(code, stderr)
        warehouse = Warehouse(tmp_path, sim)
        assert [row[0] for row in manifest_outcomes(warehouse)] == ["interrupted"]
        assert_nothing_pending(tmp_path)
        committed = len(warehouse.leads())
        assert committed > 0 and f"committed up to page {committed // PAGE};" in stderr[0]
        sim.clear_requests()
        result = warehouse.run(workers=4)
        assert_exact(warehouse, sim)
        # The ranges resume at their cursors: the committed pages are not asked for again.
        assert result.requests <= 80 - committed // PAGE + 4 * 2


def test_interrupt_during_a_rate_limit_pause_acts_at_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Five requests a minute: after the fourth (reserve 1) the run pauses for ~60 s. Ctrl-C,
    sent once the run logs the pause, ends it within seconds."""
    with make_sim(clock, 1_000, rate_limit=5, rate_window_s=60) as sim:
        proc = subprocess.Popen(
            cli(),
            env=cli_env(sim, tmp_path) | {"SOURCES__MEGA__RETRY_AFTER_MAX": "120"},
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            lines = [proc.stderr.readline()]
            while lines[-1] and "pausing" not in lines[-1]:
                lines.append(proc.stderr.readline())
            assert "rate limit nearly spent: pausing" in lines[-1], lines
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, rest = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()

        assert time.monotonic() - sent < 15  # not the minute the pause would have lasted
        errors = [line for line in rest.splitlines() if line.startswith("mega-leads: error:")]
        assert_interrupted(proc.returncode, errors)
        assert "Traceback" not in rest
        assert len(list_requests(sim)) == 4
        warehouse = Warehouse(tmp_path, sim)
        committed = len(warehouse.leads()) // PAGE
        assert committed == 4 - PROBE
        assert f"committed up to page {committed};" in errors[0]
        assert_nothing_pending(tmp_path)


def test_run_in_main_thread_restores_the_signal_handlers_and_other_threads_install_none(
    warehouse: Warehouse,
) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    seen: list[object] = []
    warehouse.sim.faults.add(
        faults.callback(lambda store: seen.append(signal.getsignal(signal.SIGINT))), after=1
    )

    warehouse.run()
    thread = threading.Thread(target=warehouse.run)
    thread.start()
    thread.join(timeout=60)

    assert seen and seen[0] is not before[0]  # the run's own handler, during the run
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


# ----- point 7: the counts a run reports -------------------------------------------------------


def test_progress_counts_leads_received_and_the_summary_names_the_warehouse(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("SOURCES__MEGA__FETCH_PROCESS_MIN_LEADS", "1000")
    # A progress line for every page (a real run says one every few seconds).
    monkeypatch.setattr(keyset_run, "Progress", functools.partial(Progress, every_s=0.0))
    caplog.set_level("INFO", logger="crm_leads")
    with make_sim(clock, 10_000, seed=3) as sim:
        warehouse = Warehouse(tmp_path, sim)

        result = warehouse.run()

    lines = [record.getMessage() for record in caplog.records]
    assert "10000 leads due: fetching in a child process" in lines
    progress = [line for line in lines if " leads/s, " in line]
    assert progress[-1].startswith("10,000 / 10,000 leads (100.0 %), "), progress
    assert progress[-1].endswith(", page 100")
    assert f"into duckdb {warehouse.path}, dataset mega" in result.summary()


def test_a_resumed_parallel_backfill_does_not_compare_a_partial_api_total(
    tmp_path: Path, clock: ManualClock
) -> None:
    """The rerun's sweep counts only the leads its ranges had left: no false `complete`."""
    with make_sim(clock, 8_000, seed=5) as sim:
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(faults.status(500), times=None, after=60)
        with pytest.raises(RunFailed):
            warehouse.run(workers=4, checkpoint_pages=10)
        sim.faults.clear()

        result = warehouse.run(workers=4)

        assert_exact(warehouse, sim)
        assert result.complete is not False
        assert "API total" not in result.summary() or result.api_total == 8_000


def test_a_recovered_pending_load_counts_its_leads(
    warehouse: Warehouse, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load fails (the DuckDB file taken by another process mid-run: the run's own hold on
    it is switched off, as on a destination that goes away); the next run loads that package
    first and reports its leads with the rest."""
    locker = FileLocker(warehouse.path)
    held_open = warehouse_module.duckdb_held_open
    monkeypatch.setattr(warehouse_module, "duckdb_held_open", lambda pipeline: nullcontext())
    # No prefetch (as in test_pending_loads): page 3 is requested only after checkpoint 2 is
    # loaded, so the locker never races that load for the file.
    monkeypatch.setenv("SOURCES__MEGA__PREFETCH_PAGES", "0")
    sim.faults.add(faults.callback(lambda store: locker.acquire()), after=PROBE + 2)
    try:
        with pytest.raises(RunFailed):
            warehouse.run(checkpoint_pages=1)
    finally:
        locker.release()
    monkeypatch.setattr(warehouse_module, "duckdb_held_open", held_open)
    loaded_before = len(warehouse.leads())

    result = warehouse.run(checkpoint_pages=1)

    assert result.recovered_pending is True
    assert_exact(warehouse, sim)
    assert result.leads == result.rows["leads"] == 350 - loaded_before
