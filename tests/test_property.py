"""Property: whatever sequence of updates, inserts, `updated_at` ties, removed custom fields,
changes in the middle of a run and crashed runs happens, the warehouse equals the source after
every successful run, holds no duplicate, and its committed state never runs ahead of its data.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import STAGES, LeadStore, ManualClock, SimulatorServer
from tests.helpers import (
    CLOCK_START,
    Warehouse,
    assert_exact,
    assert_no_duplicates,
    assert_state_not_ahead,
    make_sim,
)

STEP = timedelta(seconds=1)
STATUSES = ("active", "won", "lost", "nurture", "archived")
VALUES: tuple[Any, ...] = (None, True, False, 0, 42, -7, 2.5, 1e20, "", "text", "500000")

Op = tuple[str, int]
OPS = st.one_of(
    st.tuples(st.just("update"), st.integers(0, 10_000)),
    st.tuples(st.just("insert"), st.integers(1, 3)),
    st.tuples(st.just("tie"), st.integers(2, 6)),
    st.tuples(st.just("remove_slug"), st.integers(0, 10_000)),
    st.tuples(st.just("run"), st.integers(1, 2)),  # checkpoint_pages
    st.tuples(st.just("crash"), st.integers(0, 2)),
    st.tuples(st.just("mid_run_change"), st.integers(0, 2)),
)


def pick(store: LeadStore, index: int) -> str:
    ids = sorted(store.ids())
    return ids[index % len(ids)]


def update(store: LeadStore, index: int) -> None:
    lead_id = pick(store, index)
    kind = index % 4
    if kind == 0:
        store.update(lead_id, status=STATUSES[index % len(STATUSES)])
    elif kind == 1:
        store.set_custom_field(lead_id, f"prop_{index % 3}", VALUES[index % len(VALUES)])
    elif kind == 2:
        store.update(lead_id, score=None if index % 5 == 0 else index % 101)
    else:
        stage = STAGES[index % len(STAGES)]
        store.update(lead_id, stage_slug=None if index % 7 == 0 else stage["slug"])


def insert(store: LeadStore, count: int) -> None:
    for number in range(count):
        serial = uuid.uuid4().hex[:10]
        fields = {"lead_line": "seller", "prop_n": number} if number % 2 else {}
        store.create_or_merge(
            {
                "contact_name": f"Property Lead {serial}",
                "contact_email": f"prop.{serial}@example.com",
                "custom_fields": fields,
            }
        )


def tie(store: LeadStore, clock: ManualClock, count: int) -> None:
    """``count`` edits sharing one `updated_at` (the clock stands still). The clock then moves
    on, so no later edit reuses that instant (a lead edited again within a loaded millisecond is
    the targeted test below)."""
    clock.step = timedelta(0)
    try:
        for number in range(count):
            update(store, number * 37 + count)
    finally:
        clock.step = STEP
        clock.advance(STEP)


def remove_slug(store: LeadStore, index: int) -> None:
    with_fields = sorted(lead["id"] for lead in store.snapshot() if lead["custom_fields"])
    if with_fields:
        lead_id = with_fields[index % len(with_fields)]
        lead = store.get(lead_id)
        assert lead is not None
        store.remove_custom_field(lead_id, sorted(lead["custom_fields"])[0])


def toucher(count: int, seed: int) -> Callable[[LeadStore], object]:
    """A fault callback editing ``count`` leads while a page is being served."""

    def touch(store: LeadStore) -> object:
        return store.touch(count, seed=seed)

    return touch


def run(warehouse: Warehouse, checkpoint_pages: int, crash_at: int | None = None) -> bool:
    """One run; with ``crash_at``, request ``crash_at + 1`` onwards fails past the retry
    budget. True when the run succeeded."""
    sim = warehouse.sim
    if crash_at is not None:
        sim.faults.add(faults.status(500), times=None, after=crash_at)
    try:
        warehouse.run(checkpoint_pages=checkpoint_pages)
    except RunFailed:
        assert crash_at is not None, "only an injected fault may fail a run"
        return False
    finally:
        sim.faults.clear()
    return True


def check(warehouse: Warehouse, sim: SimulatorServer, succeeded: bool) -> None:
    assert_no_duplicates(warehouse)
    assert_state_not_ahead(warehouse, sim)
    if succeeded:
        assert_exact(warehouse, sim)


@settings(
    max_examples=6,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(OPS, min_size=2, max_size=4),
    n_leads=st.integers(101, 160),
    seed=st.integers(0, 2**16),
    backfill_checkpoint=st.integers(1, 2),
)
@example(
    ops=[("mid_run_change", 0), ("tie", 4), ("crash", 1), ("update", 5), ("remove_slug", 3)],
    n_leads=150,
    seed=1,
    backfill_checkpoint=2,
)
def test_warehouse_equals_source_after_every_successful_run(
    ops: list[Op], n_leads: int, seed: int, backfill_checkpoint: int
) -> None:
    clock = ManualClock(CLOCK_START, step=STEP)
    with tempfile.TemporaryDirectory() as root, make_sim(clock, n_leads, seed=seed) as sim:
        warehouse = Warehouse(Path(root), sim)
        check(warehouse, sim, run(warehouse, backfill_checkpoint))
        store = sim.store
        for name, arg in [*ops, ("run", 1)]:
            if name == "update":
                update(store, arg)
            elif name == "insert":
                insert(store, arg)
            elif name == "tie":
                tie(store, clock, arg)
            elif name == "remove_slug":
                remove_slug(store, arg)
            elif name == "run":
                check(warehouse, sim, run(warehouse, checkpoint_pages=arg))
            elif name == "crash":
                # A sweep of two pages or more, failing past the retry budget on page arg + 1.
                store.touch(110 + 30 * arg, seed=arg)
                check(warehouse, sim, run(warehouse, checkpoint_pages=1, crash_at=arg))
            elif name == "mid_run_change":
                # While page 2 is served, leads of page 1 (and others) change: they come back
                # later in the same sweep, inside the same two-page checkpoint.
                store.touch(110 + 30 * arg, seed=100 + arg)
                sim.faults.add(faults.callback(toucher(20 + 20 * arg, seed=arg)), after=1)
                check(warehouse, sim, run(warehouse, checkpoint_pages=2))


def test_lead_changed_again_within_the_marks_millisecond_is_reloaded(
    warehouse: Warehouse, sim: SimulatorServer, clock: ManualClock
) -> None:
    """Two edits of one lead in the same millisecond (the API's resolution), with a run in
    between: the second edit has the `updated_at` the warehouse already holds for that lead,
    and must still arrive."""
    warehouse.run()
    store = sim.store
    first, second = sorted(store.ids())[:2]
    clock.step = timedelta(0)
    store.update(first, status="won")
    store.update(second, status="won")
    warehouse.run()
    assert warehouse.leads()[first]["status"] == "won"
    store.update(first, status="lost", score=3)  # same instant as the loaded version
    store.set_custom_field(second, "tied_again", "yes")

    warehouse.run()

    loaded = warehouse.leads()
    assert (loaded[first]["status"], loaded[first]["score"]) == ("lost", 3)
    assert warehouse.custom_fields()[(second, "tied_again")] == ("yes", "string")
    assert_exact(warehouse, sim)
