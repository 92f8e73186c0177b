"""Checkpoints and resume over real HTTP: a run failing at a page keeps the pages it
received, a CLI run killed with SIGKILL at a page, and a CLI failure that is one line.

Every failing run is followed by a rerun that must reach exact equality with the simulator's
truth (no duplicate rows) with no more requests than the pages left plus one checkpoint.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines import keyset_run
from pipelines.progress import Progress
from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import (
    ATTEMPTS,
    PAGE,
    PROBE,
    PROJECT,
    Warehouse,
    assert_exact,
    assert_no_duplicates,
    assert_rerun_requests,
    assert_state_not_ahead,
    cli,
    cli_env,
    destination_stream_state,
    first_pages_ids,
    keyset_order,
    list_requests,
    make_sim,
    newest,
    one_line_error,
)

BIG_PAGES = 5


@pytest.fixture
def big_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """Five pages of 100 leads."""
    with make_sim(clock, BIG_PAGES * PAGE, seed=11) as server:
        yield server


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


def test_a_resumed_backfill_counts_the_leads_still_due_and_one_page_is_singular(
    tmp_path: Path,
    big_sim: SimulatorServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A progress line for every page (off a terminal they come every few seconds).
    monkeypatch.setattr(keyset_run, "Progress", functools.partial(Progress, every_s=0.0, bar=False))
    warehouse = Warehouse(tmp_path, big_sim)
    big_sim.faults.add(faults.status(500), times=None, after=PROBE + 3)  # page 4 fails

    with caplog.at_level(logging.INFO, logger="crm_leads"), pytest.raises(RunFailed):
        warehouse.run(checkpoint_pages=2)

    # Pages 1-2, then page 3 alone before the failure.
    assert any(
        m.startswith("checkpoint 2: 1 page, 100 leads (run total: 3 pages, 300 leads, ")
        for m in caplog.messages
    )
    caplog.clear()
    big_sim.faults.clear()
    with caplog.at_level(logging.INFO, logger="crm_leads"):
        warehouse.run(checkpoint_pages=2)

    progress = [m for m in caplog.messages if " / " in m and " leads (" in m]
    # 300 of the 500 leads were loaded: 200 are due, not the API's 500.
    assert progress[0].startswith("100 / 200 leads (50.0 %)")
    assert progress[-1].startswith("200 / 200 leads (100.0 %)")


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
