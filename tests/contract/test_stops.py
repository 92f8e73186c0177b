"""Ctrl-C or SIGTERM stops every loop over pages at the next page or request boundary (issue 23,
points 1 and 2): the incremental sweep, the parallel backfill, the reconcile, the Leads v1 sweep
(full and new-only), and the push. Each case: exit 130 with one line, an `interrupted` manifest
row (a sweep) or the ledger keeping what was created (a push), nothing pending, no request started
after the signal (those in flight may finish), and the rerun exact.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from simulators.core import faults
from simulators.mega import ManualClock
from tests.helpers.leads_v1 import DETAIL_PATH
from tests.helpers.push import ledger, writes

from .sources import BY_NAME, CliRun, SignalledRun, SourceUnderTest
from .targets import TARGETS, PushTarget

# The loops of each source's own sweeps (MEGA's parallel backfill and reconcile, Leads v1's
# detail requests).
MEGA, LEADS_V1 = BY_NAME["mega"], BY_NAME["leads_v1"]
# Far longer than a signal takes to reach the run's stop flag, even on a loaded machine.
SIGNAL_TAKEN_S = 1.0


@dataclass(frozen=True)
class Loop:
    source: SourceUnderTest
    leads: int
    args: tuple[str, ...]
    after: int  # requests to ``path`` answered before the one the signal comes with
    in_flight: int  # requests that may be in flight when it comes (it included)
    stage: str  # where the error line says the run was interrupted
    path: str | None = None  # the requests counted for ``after``: the list's by default
    prepare: Callable[[Any, Path], None] | None = None  # runs before the signalled one
    settings: dict[str, str] = field(default_factory=dict)  # CliRun's
    group: bool = True  # the signal to the process group (a terminal's), else to the pid only


def _backfill(source: SourceUnderTest) -> Callable[[Any, Path], None]:
    def backfill(api: Any, root: Path) -> None:
        source.run(root, api)

    return backfill


def _backfill_then_add_leads(api: Any, root: Path) -> None:
    LEADS_V1.run(root, api)
    for number in range(600):  # three pages of leads created since the mark
        api.store.create(email=f"new-{number}@example.com")


FETCH_PROCESS = {"fetch_process_min_leads": "100"}
LOOPS = {
    # The prefetch thread runs ten pages ahead: the signal comes while page 5 is served.
    "incremental": Loop(MEGA, 2_000, (), MEGA.at_page(5), 1, "at page"),
    # Pages 2 onwards fetched by a child process, in its own session: a signal to the group
    # does not reach it, and an orchestrator may signal the run's pid alone.
    "fetch_process": Loop(MEGA, 2_000, (), MEGA.at_page(5), 1, "at page", settings=FETCH_PROCESS),
    "fetch_process_pid_only": Loop(
        MEGA, 2_000, (), MEGA.at_page(5), 1, "at page", settings=FETCH_PROCESS, group=False
    ),
    "parallel_backfill": Loop(MEGA, 8_000, ("--workers", "4"), 40, 4, "at page"),
    "reconcile": Loop(
        MEGA, 3_000, ("--reconcile",), 1 + 4, 1, "during the reconcile", prepare=_backfill(MEGA)
    ),
    # Eight detail requests in flight: the signal comes with the 50th of page 1's 200.
    "leads_v1_full": Loop(LEADS_V1, 1_000, (), 49, 8 + 1, "at page", path=DETAIL_PATH),
    "leads_v1_new_only": Loop(
        LEADS_V1,
        400,
        ("--new-only",),
        49,
        8 + 1,
        "at page",
        path=DETAIL_PATH,
        prepare=_backfill_then_add_leads,
    ),
}


@pytest.mark.parametrize("loop", LOOPS.values(), ids=LOOPS.keys())
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_loop_at_the_next_boundary(
    loop: Loop, sig: int, tmp_path: Path, clock: ManualClock
) -> None:
    source = loop.source
    with source.make_sim(clock, loop.leads) as api:
        if loop.prepare is not None:
            loop.prepare(api, tmp_path)
        api.clear_requests()
        run = CliRun(source, api, tmp_path, *loop.args, **loop.settings)
        signalled: list[int] = []

        def send(store: Any) -> None:
            signalled.append(len(api.requests))
            # The signal comes while this request is in flight, as a user's Ctrl-C mostly does.
            # Its answer and those of the requests in flight with it are held until the process
            # has surely taken the signal: what the assertion counts is requests started after
            # the stop, not a race between a thread's next request and the signal's delivery.
            api.hold_answers(SIGNAL_TAKEN_S)
            run.send(sig, group=loop.group)(store)

        api.faults.add(faults.callback(send), after=loop.after, path=loop.path)

        code, stderr = run.finish()

        assert code == 130, stderr
        assert len(stderr) == 1, stderr
        assert stderr[0].startswith(f"{source.prog}: error: interrupted {loop.stage}")
        assert stderr[0].endswith("; run again to resume")
        assert source.runs(tmp_path)[-1][0] == "interrupted"
        assert not source.has_pending(tmp_path)
        # The signalled request and those in flight with it finish; none starts after it.
        started_after = len(api.requests) - signalled[0]
        assert started_after <= loop.in_flight, started_after

        api.faults.clear()
        code, stderr = CliRun(source, api, tmp_path, *loop.args, **loop.settings).finish()
        assert code == 0, stderr
        source.assert_exact(tmp_path, api)


PUSH_ROWS, PUSH_CONCURRENCY = 300, 4


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Polls ``condition`` until it holds or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def settled(count: Callable[[], int], quiet_s: float) -> int:
    """``count()`` once it has not changed for ``quiet_s`` seconds."""
    while True:
        last = count()
        if not wait_for(partial(_changed, count, last), seconds=quiet_s):
            return last


def _changed(count: Callable[[], int], last: int) -> bool:
    return count() != last


@pytest.mark.parametrize("target", TARGETS, ids=[target.name for target in TARGETS])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_push_at_the_next_request(
    target: PushTarget, sig: int, tmp_path: Path
) -> None:
    with target.make_sim() as api:
        argv, env = target.command(api, tmp_path, PUSH_ROWS)
        argv += ["--concurrency", str(PUSH_CONCURRENCY)]
        run = SignalledRun(argv, env)
        signalled: list[int] = []

        def send(store: Any) -> None:
            signalled.append(len(writes(api)))
            api.hold_answers(SIGNAL_TAKEN_S)  # as in the sweeps' test above
            run.send(sig, group=True)(store)

        # The signal comes with the 50th create.
        api.faults.add(faults.callback(send), after=49, method="POST", path=target.create_path)

        code, stderr = run.finish()

        assert code == 130, stderr
        assert len(stderr) == 1, stderr
        assert stderr[0].startswith("push-leads: error: interrupted;"), stderr
        # The signalled create and those in flight with it finish; none starts after it.
        started_after = len(writes(api)) - signalled[0]
        assert started_after <= PUSH_CONCURRENCY, started_after
        created = target.emails(api)
        assert 50 <= len(created) < PUSH_ROWS
        # The ledger keeps every lead created, the ones in flight at the signal too.
        book = ledger(tmp_path / "w.duckdb", target.name)
        assert sorted(row["remote_id"] for row in book.values() if row["status"] == "created") == (
            sorted(lead["id"] for lead in target.leads(api))
        )

        api.faults.clear()
        api.clear_requests()
        code, stderr = SignalledRun(argv, env).finish()
        assert code == 0, stderr
        # Exactly the remaining rows are created, each once.
        assert len(writes(api)) == PUSH_ROWS - len(created)
        assert sorted(target.emails(api)) == sorted(
            target.row(n)[target.email_field] for n in range(PUSH_ROWS)
        )


@pytest.mark.parametrize("target", TARGETS, ids=[target.name for target in TARGETS])
def test_a_signal_ends_the_pushs_wait_for_a_rate_limit(target: PushTarget, tmp_path: Path) -> None:
    """A 429 says Retry-After: 60: every request waits (one budget), and SIGTERM during the wait
    ends the push at once, with no request sent after it (not 60 s later)."""
    with target.make_sim() as api:
        argv, env = target.command(api, tmp_path, PUSH_ROWS)
        argv += ["--concurrency", str(PUSH_CONCURRENCY)]
        run = SignalledRun(argv, env)
        api.faults.add(faults.rate_limited(60), after=29, method="POST", path=target.create_path)
        waiting = wait_for(lambda: any(r.status == 429 for r in api.requests), seconds=60)
        assert waiting, "the push never met the 429"
        # The requests in flight with the 429 are answered; then every thread waits.
        sent_before = settled(lambda: len(writes(api)), quiet_s=1.0)
        run.send(signal.SIGTERM, group=True)(api.store)

        code, stderr = run.finish()

        assert code == 130, stderr
        assert stderr[-1].startswith("push-leads: error: interrupted;"), stderr
        assert len(writes(api)) == sent_before  # the waits ended in no request
        book = ledger(tmp_path / "w.duckdb", target.name)
        assert sorted(row["remote_id"] for row in book.values() if row["status"] == "created") == (
            sorted(lead["id"] for lead in target.leads(api))
        )
        api.faults.clear()
        code, stderr = SignalledRun(argv, env).finish()
        assert code == 0, stderr
        assert sorted(target.emails(api)) == sorted(
            target.row(n)[target.email_field] for n in range(PUSH_ROWS)
        )
