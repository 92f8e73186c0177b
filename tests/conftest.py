"""Shared fixtures: a simulator with a deterministic clock, and a warehouse that runs the pipeline
(helpers the tests share are in tests/helpers.py).

Every test talks to the simulator over real HTTP on loopback and checks what a user would:
rows in DuckDB, the requests sent, the state kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import CLOCK_START, Warehouse, make_sim


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry settings through dlt config, as a user would set them; small so tests are quick."""
    monkeypatch.setenv("SOURCES__MEGA__BACKOFF_BASE", "0.01")
    monkeypatch.setenv("SOURCES__MEGA__BACKOFF_MAX", "0.05")
    monkeypatch.setenv("SOURCES__MEGA__RETRY_AFTER_MAX", "1")
    monkeypatch.setenv("SOURCES__MEGA__MAX_RETRIES", "4")
    monkeypatch.setenv("SOURCES__MEGA__READ_TIMEOUT", "5")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CLOCK_START, step=timedelta(seconds=1))


@pytest.fixture
def sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """350 leads: four pages of 100."""
    with make_sim(clock, 350) as server:
        yield server


@pytest.fixture
def warehouse(tmp_path: Path, sim: SimulatorServer) -> Warehouse:
    return Warehouse(tmp_path, sim)
