"""Outages and retries over real HTTP: 5xx, dropped connections, truncated and slow bodies,
read timeouts, 429 storms (each wait capped) and a real rate limit paced without 429s.

Every failing run is followed by a rerun that must reach exact equality with the simulator's
truth (no duplicate rows) with no more requests than the pages left plus one checkpoint.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from pipelines.result import RunFailed
from simulators.core import faults
from simulators.core.faults import Fault
from simulators.mega import ManualClock
from tests.helpers import (
    ATTEMPTS,
    PROBE,
    Warehouse,
    assert_exact,
    assert_rerun_requests,
    assert_state_not_ahead,
    first_pages_ids,
    list_requests,
    make_sim,
    one_line_error,
)

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
