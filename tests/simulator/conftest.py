"""Fixtures of the simulator's own tests: one shared server per module (1,500 leads, read
only) with its client, and a small private server for tests that mutate data or arm faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, READ_SCOPE, SimulatorServer
from tests.simulator.api import AUTH, OTHER_CUSTOMER, OTHER_TOKEN, READ_ONLY_TOKEN, make_store


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(store=make_store(1500)) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, headers=AUTH, timeout=10) as c:
        yield c


@pytest.fixture()
def fresh() -> Iterator[tuple[SimulatorServer, httpx.Client]]:
    """A small private server for tests that mutate data or arm faults."""
    tokens = {
        DEFAULT_TOKEN: {"customer_id": DEFAULT_CUSTOMER_ID},
        READ_ONLY_TOKEN: {"customer_id": DEFAULT_CUSTOMER_ID, "scopes": [READ_SCOPE]},
        OTHER_TOKEN: {"customer_id": OTHER_CUSTOMER},
    }
    with (
        SimulatorServer(store=make_store(300, seed=3), tokens=tokens) as server,
        httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as c,
    ):
        yield server, c
