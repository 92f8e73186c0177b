"""A long sweep fetched by a child process (``sources/core/sweep/fetch_process.py``).

Its pages must load exactly what the in-process fetch loads, with the same requests; what
goes wrong in the child (outage, 401, a malformed page, the child dying) must come back as the
same one-line typed error with its requests counted, and a rerun must be exact.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.core.faults import Fault
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock
from sources.core.errors import FetchProcessError, Interrupted
from sources.core.sweep import fetch_process, sweep_stream
from sources.core.sweep.fetch_process import ChildPageStream
from sources.core.sweep.paging import StartPosition, peek_cursor
from sources.mega.client import MegaClient
from sources.mega.endpoint import LEADS_KEYSET
from tests.helpers import (
    ATTEMPTS,
    PROBE,
    Warehouse,
    assert_exact,
    assert_state_not_ahead,
    first_pages_ids,
    list_requests,
    make_sim,
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
            with caplog.at_level(logging.INFO, logger="crm_leads"):
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
        with caplog.at_level(logging.INFO, logger="crm_leads"):
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
        with caplog.at_level(logging.INFO, logger="crm_leads"):
            result = warehouse.run(fetch_process_min_leads=1)
        assert "the fetch process failed before its first page" in caplog.text
        assert "exit code 3" in caplog.text
        assert result.outcome == "success"
        assert result.requests == len(list_requests(sim)) == PROBE + 4
        assert_exact(warehouse, sim)


def _child_stream(
    sim_url: str, cursor: str, interrupt: threading.Event | None = None
) -> ChildPageStream:
    client = MegaClient(sim_url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID)
    params = {"sort_by": "updated_at", "sort_dir": "asc", "limit": "100"}
    start = StartPosition(cursor, None, cursor_saved=False)
    return ChildPageStream(
        LEADS_KEYSET, client, params, start, buffer_pages=2, first_number=2, interrupt=interrupt
    )


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
        assert (page.number, len(page.items)) == (2, 100)
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


def test_an_interrupt_ends_the_child_at_once_not_when_the_sweep_closes(
    clock: ManualClock,
) -> None:
    """Ctrl-C or SIGTERM, to the run's group or its pid alone, never reaches the child (its own
    session): the run ends it as soon as its stop flag is set, before it commits what it has."""
    with make_sim(clock, 5000) as sim:  # 50 pages: more than the buffer and the pipe hold
        first = MegaClient(sim.url, DEFAULT_TOKEN, DEFAULT_CUSTOMER_ID).list_leads(
            {"sort_by": "updated_at", "sort_dir": "asc", "limit": "100"}
        )
        interrupt = threading.Event()
        stream = _child_stream(sim.url, first["next_cursor"], interrupt)
        next(stream)
        interrupt.set()
        # Without this, the child would wait on a full pipe until the stream closes.
        assert stream._proc.wait(timeout=20) == -signal.SIGTERM
        assert len(list_requests(sim)) < 50
        with pytest.raises(Interrupted):
            next(stream)
        stream.close()


# --- the child peeks `next_cursor` instead of decoding the page

CURSOR = "eyJzb3J0X2J5IjoidXBkYXRlZF9hdCJ9"
UNSURE = (False, None)


@pytest.mark.parametrize(
    ("body", "peeked"),
    [
        (b'{"leads":[],"next_cursor":"' + CURSOR.encode() + b'"}', (True, CURSOR)),
        (b'{"next_cursor" : null , "leads":[{"id":"a"}]}', (True, None)),
        (b'{"leads":[],"total":3,"next_cursor":\n "a-b_c+/="}', (True, "a-b_c+/=")),
        # A custom field slug of the same name: two keys, so the page is decoded instead.
        (b'{"leads":[{"custom_fields":{"next_cursor":"x"}}],"next_cursor":"y"}', UNSURE),
        # Only a value spells it: the key is missing, for the decode to report.
        (b'{"leads":[{"contact_name":"next_cursor"}]}', UNSURE),
        (b'{"leads":[]}', UNSURE),
        (b'{"leads":[],"next_cursor":""}', UNSURE),  # not a cursor: the decode says why
        (b'{"leads":[],"next_cursor":"a\\/b"}', UNSURE),  # an escape: decoded
        (b'{"leads":[],"next_cursor":17}', UNSURE),
        (b"<html>next_cursor</html>", UNSURE),
    ],
)
def test_peek_cursor_is_sure_only_where_it_cannot_be_wrong(
    body: bytes, peeked: tuple[bool, str | None]
) -> None:
    assert peek_cursor(body) == peeked


_TEXT = st.text(alphabet=st.sampled_from([*'next_cursor"\\: {}[],', "é", "\n"]), max_size=14)
_VALUE = st.one_of(
    _TEXT, st.none(), st.integers(-(2**63), 2**63 - 1), st.dictionaries(_TEXT, _TEXT, max_size=3)
)
_LEAD = st.dictionaries(st.one_of(st.just("next_cursor"), _TEXT), _VALUE, max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    leads=st.lists(_LEAD, max_size=4),
    cursor=st.one_of(st.none(), st.text(alphabet="abcXYZ019+/=_-", min_size=1, max_size=20)),
    cursor_first=st.booleans(),
)
def test_a_peeked_cursor_is_the_decoded_one(
    leads: list[dict[str, Any]], cursor: str | None, cursor_first: bool
) -> None:
    pairs: list[tuple[str, Any]] = [("leads", leads), ("next_cursor", cursor)]
    body = orjson.dumps(dict(pairs[::-1] if cursor_first else pairs))
    sure, peeked = peek_cursor(body)
    assert (sure, peeked) == UNSURE or peeked == orjson.loads(body)["next_cursor"]


def _moved_to_last_page_with_slug(sim: Any, value: str) -> None:
    """One lead gets a custom field named `next_cursor` (which moves it to the last page)."""
    lead_id = sim.store.ids()[0]
    sim.store.set_custom_field(lead_id, "next_cursor", value)


def test_a_slug_named_next_cursor_loads_exactly_through_the_child(
    tmp_path: Path, clock: ManualClock
) -> None:
    with make_sim(clock, 350) as sim:
        _moved_to_last_page_with_slug(sim, CURSOR)
        warehouse = Warehouse(tmp_path, sim)
        result = warehouse.run(fetch_process_min_leads=1)
        assert result.outcome == "success"
        assert result.requests == len(list_requests(sim)) == PROBE + 4
        assert_exact(warehouse, sim)
        slug = warehouse.query(
            "SELECT value FROM mega.leads__custom_fields WHERE slug = 'next_cursor'"
        )
        assert slug == [(CURSOR,)]


def test_a_page_missing_its_cursor_fails_before_the_childs_guess_is_used(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Page 4's only `"next_cursor"` is a lead's slug: the child follows it, this process
    # decodes the page, finds the real key missing and stops the run there.
    with make_sim(clock, 350) as sim:
        _moved_to_last_page_with_slug(sim, CURSOR)
        warehouse = Warehouse(tmp_path, sim)
        sim.faults.add(faults.missing_key("next_cursor"), times=None, after=PROBE + 3)
        with pytest.raises(RunFailed) as failed:
            warehouse.run(fetch_process_min_leads=1, checkpoint_pages=1)
        message = one_line_error(failed.value)
        assert "page 4" in message and "no `next_cursor`" in message
        assert set(warehouse.leads()) == first_pages_ids(sim, 3)
        assert_state_not_ahead(warehouse, sim)

        sim.faults.clear()
        assert warehouse.run(fetch_process_min_leads=1).outcome == "success"
        assert_exact(warehouse, sim)


def test_a_child_that_follows_a_cursor_the_page_does_not_hold_is_stopped(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A child whose peek goes wrong after its first page (page 2): page 3 is refused.
    wrong_peek = (
        "import itertools, sources.core.sweep.paging as p; calls = itertools.count(); "
        "peek = p.peek_cursor; "
        "p.peek_cursor = lambda raw, *key: "
        "peek(raw, *key) if next(calls) == 0 else (True, 'eyJ3cm9uZyI6MX0'); "
    )
    start = "from sources.core.sweep.fetch_process"
    bootstrap = fetch_process._BOOTSTRAP.replace(start, wrong_peek + start)
    monkeypatch.setattr(fetch_process, "_BOOTSTRAP", bootstrap)
    with make_sim(clock, 350) as sim:
        warehouse = Warehouse(tmp_path, sim)
        with pytest.raises(RunFailed) as failed:
            warehouse.run(fetch_process_min_leads=1, checkpoint_pages=1)
        message = one_line_error(failed.value)
        assert "page 3" in message and "fetch process read `next_cursor`" in message
        assert set(warehouse.leads()) == first_pages_ids(sim, 2)
        assert_state_not_ahead(warehouse, sim)


# --- a fetch process started while the run sets up


def test_a_backfill_starts_its_fetch_process_ahead_and_a_scheduled_run_does_not(
    tmp_path: Path,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        spawned.append(fetch_process.spawn_fetch_process())
        return spawned[-1]

    monkeypatch.setattr(sweep_stream, "spawn_fetch_process", spawn)
    with make_sim(clock, 350) as sim:
        warehouse = Warehouse(tmp_path, sim)
        with caplog.at_level(logging.INFO, logger="crm_leads"):
            warehouse.run(fetch_process_min_leads=1)
        assert len(spawned) == 1 and CHILD_LOG in caplog.text  # the one started ahead
        assert spawned[0].poll() == 0

        sim.store.touch(5, seed=3)
        warehouse.run(fetch_process_min_leads=1)
        assert len(spawned) == 1  # a mark in the state: a short run, nothing started ahead

        # A backfill too small for the child: the one started ahead is ended, unused.
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="crm_leads"):
            result = warehouse.run(full_refresh=True)
        assert len(spawned) == 2 and CHILD_LOG not in caplog.text
        assert spawned[1].poll() is not None
        assert result.requests == PROBE + 4
        assert_exact(warehouse, sim)
