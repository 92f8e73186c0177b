"""Fixtures of the orchestrator examples' tests (run by scripts/test-orchestrators, each in the
venv of its orchestrator's extra; the default test run ignores this folder): the settings a user
exports, for a simulator and a DuckDB file of the test.

Airflow and Prefect read their home folders when first imported: scripts/test-orchestrators sets
them before pytest starts (dlt imports Airflow, when installed, as soon as the root conftest
loads); run by hand, export AIRFLOW_HOME too. Otherwise a folder of this test session: nothing
is written under ~ and nothing from a developer's own setup is read.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulators.leads_v1 import DEFAULT_TOKEN as V1_TOKEN
from simulators.leads_v1 import LeadsV1Server
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.helpers import Warehouse
from tests.helpers.accounts import AccountsWarehouse, accounts_env, fresh_database
from tests.helpers.leads_v1 import V1Warehouse

_HOME = Path(tempfile.mkdtemp(prefix="orchestrators-"))
os.environ.setdefault("AIRFLOW_HOME", str(_HOME / "airflow"))
os.environ.setdefault("PREFECT_HOME", str(_HOME / "prefect"))
os.environ.update(
    AIRFLOW__CORE__LOAD_EXAMPLES="false",
    # Offline: Prefect's local server would otherwise try to send usage telemetry.
    PREFECT_SERVER_ANALYTICS_ENABLED="false",
    DAGSTER_DISABLE_TELEMETRY="true",
    RUNTIME__DLTHUB_TELEMETRY="false",
    # Pipelines made when a module is imported (dagster-dlt's) before a test sets its own.
    DLT_DATA_DIR=str(_HOME / "dlt"),
)
for name in ("PREFECT_API_URL", "PREFECT_API_KEY", "DAGSTER_HOME"):
    os.environ.pop(name, None)


def pytest_configure(config: pytest.Config) -> None:
    # Dagster 1.13 reads pydantic's deprecated `__fields__` on every config class it builds:
    # a hundred warnings a run that say nothing about this project.
    config.addinivalue_line(
        "filterwarnings", "ignore:The `__fields__` attribute is deprecated:DeprecationWarning"
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def mega_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimulatorServer) -> Warehouse:
    """MEGA's settings as environment variables, loading into the test's DuckDB file."""
    monkeypatch.setenv("SOURCES__MEGA__BASE_URL", sim.url)
    monkeypatch.setenv("SOURCES__MEGA__API_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SOURCES__MEGA__CUSTOMER_ID", DEFAULT_CUSTOMER_ID)
    _warehouse_env(monkeypatch, tmp_path)
    return Warehouse(tmp_path, sim)


@pytest.fixture
def v1_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, v1_sim: LeadsV1Server) -> V1Warehouse:
    """Leads v1's settings as environment variables, loading into the test's DuckDB file."""
    monkeypatch.setenv("SOURCES__LEADS_V1__BASE_URL", v1_sim.url)
    monkeypatch.setenv("SOURCES__LEADS_V1__API_TOKEN", V1_TOKEN)
    _warehouse_env(monkeypatch, tmp_path)
    return V1Warehouse(tmp_path, v1_sim)


@pytest.fixture
def third_source() -> Iterator[Any]:
    """A third source registered while the test runs, as an entry added to
    ``pipelines/registry.py`` is: Leads v1's parts (settings, run class) under names, a dataset
    and schedules of its own. The test loads the orchestrator module again to see it; after it,
    the modules are loaded again without it."""
    from orchestrators.common import SOURCES, Schedule
    from pipelines.registry import LEADS_V1

    third = dataclasses.replace(
        LEADS_V1,
        name="leads_v2",
        title="Leads v2",
        command="leads-v2",
        pipeline_name="leads_v2",
        dataset="leads_v2",
        schedules=(
            Schedule("hourly", "15 * * * *"),
            Schedule("nightly", "0 3 * * *", "full", {"new_only": False}),
        ),
    )
    SOURCES[third.name] = third
    try:
        yield third
    finally:
        del SOURCES[third.name]
        for module in ("orchestrators.dagster_defs", "orchestrators.prefect_flow"):
            if module in sys.modules:
                importlib.reload(sys.modules[module])


def _warehouse_env(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    # The files of tests.helpers' Warehouse(root): the DuckDB file and dlt's pipelines folder.
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(root / "leads.duckdb"))
    monkeypatch.setenv("DLT_DATA_DIR", str(root))


# ----- many accounts into one PostgreSQL (README: Many accounts) ------------------------------

ACCOUNTS = tuple(f"account_{n}" for n in range(1, 9))
REVOKED = "account_5"


@pytest.fixture(scope="module")
def postgres_cluster() -> Iterator[str]:
    """A throwaway PostgreSQL server for the module (Debian's binaries: scripts/test installs
    them, as it does before CI runs these tests)."""
    from tests.postgres import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture
def accounts_pg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, postgres_cluster: str
) -> Iterator[AccountsWarehouse]:
    """Eight MEGA accounts of one simulator, one revoked, their settings exported as a user
    would, loading one fresh PostgreSQL database."""
    from simulators import mega

    accounts = [mega.account(name, 150 + 10 * i, seed=i + 1) for i, name in enumerate(ACCOUNTS)]
    with SimulatorServer(accounts=accounts) as sim:
        url = fresh_database(postgres_cluster)
        for key, value in accounts_env(sim, ACCOUNTS, "mega").items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", url)
        monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "leads.duckdb"))
        monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path))
        sim.revoke(REVOKED)
        yield AccountsWarehouse(sim, url)
