"""Fixtures of the simulators' own tests: per API, one shared server per module (read only)
with its client, and a small private server for tests that mutate data or arm faults."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators import apollo, leads_v1
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, READ_SCOPE, SimulatorServer
from tests.simulator import apollo_api, leads_v1_api
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


# ----- Leads v1 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def v1_sim() -> Iterator[leads_v1.LeadsV1Server]:
    """1,200 generated leads (with created_at ties) on a manual clock; read only."""
    clock = leads_v1.ManualClock(leads_v1_api.START)
    with leads_v1.LeadsV1Server(n_leads=1200, seed=11, clock=clock) as server:
        yield server


@pytest.fixture(scope="module")
def v1_client(v1_sim: leads_v1.LeadsV1Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=v1_sim.url, headers=leads_v1_api.AUTH, timeout=10) as c:
        yield c


@pytest.fixture()
def v1_fresh() -> Iterator[tuple[leads_v1.LeadsV1Server, httpx.Client]]:
    """A small private Leads v1 server (the other organization's token too) for tests that
    mutate data or arm faults."""
    tokens = {
        leads_v1.DEFAULT_TOKEN: leads_v1.DEFAULT_ORGANIZATION_ID,
        leads_v1.OTHER_TOKEN: leads_v1.OTHER_ORGANIZATION_ID,
    }
    clock = leads_v1.ManualClock(leads_v1_api.START)
    with (
        leads_v1.LeadsV1Server(n_leads=120, seed=3, clock=clock, tokens=tokens) as server,
        httpx.Client(base_url=server.url, headers=leads_v1_api.AUTH, timeout=10) as c,
    ):
        yield server, c


# ----- Apollo ------------------------------------------------------------------------------


@pytest.fixture()
def apollo_fresh() -> Iterator[tuple[apollo.ApolloServer, httpx.Client]]:
    """A private Apollo server on a manual clock, with a client of the default token and
    organization (base URL: ``sim.url``, which ends in /v1)."""
    with (
        apollo.ApolloServer(clock=apollo.ManualClock(apollo_api.START)) as server,
        httpx.Client(base_url=server.url, headers=apollo_api.AUTH, timeout=10) as c,
    ):
        yield server, c
