"""Shared fixtures: a simulator with a deterministic clock, and a warehouse that runs the pipeline
(helpers the tests share are in tests/helpers.py).

Every test talks to the simulator over real HTTP on loopback and checks what a user would:
rows in DuckDB, the requests sent, the state kept.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pipelines.registry import SOURCES
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import CLOCK_START, Warehouse, make_sim
from tests.helpers.leads_v1 import V1Warehouse, make_v1_sim

# The orchestrator examples' tests need their extras: scripts/test-orchestrators runs each in a
# venv of its own (as CI does); a venv without an orchestrator does not collect its tests.
ORCHESTRATORS = ("dagster", "airflow", "prefect")
collect_ignore = [
    f"orchestrators/test_{tool}.py"
    for tool in ORCHESTRATORS
    if importlib.util.find_spec(tool) is None
]
if len(collect_ignore) == len(ORCHESTRATORS):
    collect_ignore = ["orchestrators"]
# The dbt package's tests need the dbt extra: scripts/test-dbt runs them in a venv of their own.
if importlib.util.find_spec("dbt") is None:
    collect_ignore.append("dbt")


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry settings through dlt config, as a user would set them; small so tests are quick."""
    for source in SOURCES:
        for name, value in (
            ("BACKOFF_BASE", "0.01"),
            ("BACKOFF_MAX", "0.05"),
            ("RETRY_AFTER_MAX", "1"),
            ("MAX_RETRIES", "4"),
            ("READ_TIMEOUT", "5"),
        ):
            monkeypatch.setenv(f"SOURCES__{source.upper()}__{name}", value)


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


@pytest.fixture
def v1_sim(clock: ManualClock) -> Iterator[LeadsV1Server]:
    """A Leads v1 API with 450 leads: three pages of 200."""
    with make_v1_sim(clock, 450) as server:
        yield server


@pytest.fixture
def v1_warehouse(tmp_path: Path, v1_sim: LeadsV1Server) -> V1Warehouse:
    return V1Warehouse(tmp_path, v1_sim)
