"""Ctrl-C or SIGTERM stops every loop over pages at the next page or request boundary (issue 23,
points 1 and 2): the incremental sweep, the parallel backfill, the reconcile, the Leads v1 sweep
(full and new-only). Each case: exit 130 with one line, an `interrupted` manifest row, nothing
pending, no request started after the signal (those in flight may finish), and the rerun exact.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from simulators.core import faults
from simulators.mega import ManualClock
from tests.helpers.leads_v1 import DETAIL_PATH

from .sources import LEADS_V1, MEGA, CliRun, SourceUnderTest

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


def _backfill(source: SourceUnderTest) -> Callable[[Any, Path], None]:
    def backfill(api: Any, root: Path) -> None:
        source.run(root, api)

    return backfill


def _backfill_then_add_leads(api: Any, root: Path) -> None:
    LEADS_V1.run(root, api)
    for number in range(600):  # three pages of leads created since the mark
        api.store.create(email=f"new-{number}@example.com")


LOOPS = {
    # The prefetch thread runs ten pages ahead: the signal comes while page 5 is served.
    "incremental": Loop(MEGA, 2_000, (), MEGA.at_page(5), 1, "at page"),
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
        run = CliRun(source, api, tmp_path, *loop.args)
        signalled: list[int] = []

        def send(store: Any) -> None:
            signalled.append(len(api.requests))
            # The signal comes while this request is in flight, as a user's Ctrl-C mostly does.
            # Its answer and those of the requests in flight with it are held until the process
            # has surely taken the signal: what the assertion counts is requests started after
            # the stop, not a race between a thread's next request and the signal's delivery.
            api.hold_answers(SIGNAL_TAKEN_S)
            run.send(sig, group=True)(store)

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
        rerun = source.run_cli(api, tmp_path, *loop.args)
        assert rerun.returncode == 0, rerun.stderr
        source.assert_exact(tmp_path, api)
