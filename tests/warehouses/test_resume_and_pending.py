"""Every destination: a CLI run killed with SIGKILL and resumed; a load that fails and is
left pending, then recovered or discarded."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

import pytest
from dlt.pipeline.pipeline import Pipeline

from pipelines.result import RunFailed
from simulators.core import faults
from tests.helpers import (
    PAGE,
    PROBE,
    PROJECT,
    cli,
    keyset_order,
    list_requests,
    newest,
    one_line_error,
)
from tests.warehouses.target import (
    BIG_PAGES,
    Target,
    assert_exact,
)

PREFETCH = 2
KILL_AT = 3


def test_sigkill_of_cli_run_then_rerun_is_exact(big_target: Target) -> None:
    """The CLI run is killed (SIGKILL) while page ``KILL_AT`` is being served; a rerun in
    another process on the same destination reaches the source exactly, no row twice."""
    sim = big_target.sim
    procs: list[subprocess.Popen[str]] = []

    def kill(store: object) -> None:
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(timeout=30)

    sim.faults.add(faults.callback(kill), after=PROBE + KILL_AT - 1)
    env = big_target.cli_env()
    env["SOURCES__MEGA__PREFETCH_PAGES"] = str(PREFETCH)
    proc = subprocess.Popen(
        cli("--checkpoint-pages", "1", *big_target.args),
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
    deadline = time.monotonic() + 10
    while len(list_requests(sim)) < PROBE + KILL_AT and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list_requests(sim)) == PROBE + KILL_AT
    big_target.leads()  # no duplicates in what the killed run committed
    big_target.custom_field_rows()
    sim.clear_requests()

    result = big_target.run(checkpoint_pages=1)

    assert result.outcome == "success"
    assert_exact(big_target)
    # At most the killed checkpoint, the prefetched pages and a probe are read again.
    sent = len(list_requests(sim))
    assert BIG_PAGES - (KILL_AT - 1) <= sent <= BIG_PAGES - (KILL_AT - 1) + 1 + PREFETCH + PROBE
    assert [row["outcome"] for row in big_target.manifest()] == ["success"]


class FailingLoads:
    """dlt's load step raises for the given calls (1-based, counted from arming), before it
    touches the destination: a warehouse that goes away between checkpoints, on any kind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_calls: set[int]) -> None:
        self.calls = 0
        self.fail_calls = fail_calls
        original = Pipeline.load

        def load(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self.fail_calls:
                raise ConnectionError("the warehouse went away (test)")
            return original(pipeline, *args, **kwargs)

        monkeypatch.setattr(Pipeline, "load", load)


def fail_third_load(
    target: Target, monkeypatch: pytest.MonkeyPatch, fail_calls: set[int]
) -> RunFailed:
    """Checkpoints of one page, no prefetch: checkpoints 1 and 2 are loaded, the third load
    fails, page 4 is never asked for."""
    monkeypatch.setenv("SOURCES__MEGA__PREFETCH_PAGES", "0")
    FailingLoads(monkeypatch, fail_calls)
    with pytest.raises(RunFailed) as failed:
        target.run(checkpoint_pages=1)
    one_line_error(failed.value)
    assert len(list_requests(target.sim)) == PROBE + 3
    return failed.value


def test_failed_load_left_pending_is_finished_by_the_next_run(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = target.sim
    fail_third_load(target, monkeypatch, fail_calls={3, 4})

    # The destination still fails when the next run starts: one line naming the pending data,
    # and nothing asked of the API.
    with pytest.raises(RunFailed) as still_failing:
        target.run(checkpoint_pages=1)
    message = one_line_error(still_failing.value)
    assert "pending" in message, message
    assert len(list_requests(sim)) == PROBE + 3
    # The destination holds checkpoints 1 and 2, each row once.
    assert set(target.leads()) == {lead["id"] for lead in keyset_order(sim)[: 2 * PAGE]}
    sim.clear_requests()

    result = target.run(checkpoint_pages=1)

    assert result.recovered_pending is True
    assert_exact(target)
    assert result.requests == len(list_requests(sim)) == 1  # only page 4 was never read
    assert [(row["outcome"], row["recovered_pending"]) for row in target.manifest()] == [
        ("success", True)
    ]


def test_failed_load_discarded_reverts_state_to_the_destination(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = target.sim
    fail_third_load(target, monkeypatch, fail_calls={3})
    third_page_cursor = list_requests(sim)[PROBE + 2]["cursor"]
    sim.clear_requests()

    result = target.run(checkpoint_pages=1, discard_pending=True)

    assert result.recovered_pending is False
    assert_exact(target)
    # The discarded checkpoint's page is read again, from the destination's own state.
    assert result.high_water_mark_before == newest(keyset_order(sim)[: 2 * PAGE])
    sent = list_requests(sim)
    assert result.requests == len(sent) == 2
    assert sent[0]["cursor"] == third_page_cursor
    assert [row["outcome"] for row in target.manifest()] == ["success"]
