"""Fixtures of the destination suite: throwaway PostgreSQL, MariaDB and S3 (moto) servers (one
per session, started only if a case needs them) and a test's `Target` on each destination."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.mega import ManualClock, SimulatorServer
from tests.helpers import (
    PAGE,
    make_sim,
)
from tests.mariadb import mariadb_server
from tests.postgres import postgres_server
from tests.s3 import S3Server, s3_server
from tests.warehouses.target import BIG_PAGES, DESTINATIONS, Target, make_target


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """One throwaway PostgreSQL server for the session (started only if a postgres case runs);
    each test gets its own database in it."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def mariadb_cluster() -> Iterator[str]:
    """One throwaway MariaDB server for the session (started only if a mariadb case runs)."""
    with mariadb_server() as url:
        yield url


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """One S3-compatible server (moto) for the session (started only if an s3 case runs); each
    test gets its own bucket on it."""
    with s3_server() as server:
        yield server


@pytest.fixture(params=DESTINATIONS)
def target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    return make_target(request, tmp_path, sim, monkeypatch)


@pytest.fixture(params=DESTINATIONS)
def big_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Target]:
    """Five pages of 100 leads."""
    with make_sim(clock, BIG_PAGES * PAGE, seed=11) as server:
        yield make_target(request, tmp_path, server, monkeypatch)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The cases on an S3 bucket (moto's server) are marked ``object_storage``: scripts/test
    leaves them to scripts/test-object-storage (CI runs both), which keeps each under 12 min."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        on_s3 = any(str(value).startswith("s3-") for value in params.values())
        if on_s3 or item.path.name == "test_object_storage.py":
            item.add_marker(pytest.mark.object_storage)
