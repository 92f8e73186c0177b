"""Several accounts on the Apollo simulator, over real HTTP: each account's creates land in
its own organization, its token cannot act in another's, a revoked account gets 401 while the
other keeps answering, and rate-limit budgets and the request log are per account."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulators import apollo

LEADS = "/leads"


def _headers(settings: dict[str, str]) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {settings['api_token']}",
        "X-Organization-Id": settings["organization_id"],
    }


def _create(settings: dict[str, str], name: str) -> httpx.Response:
    body = {"contact_name": name, "pipeline_id": settings["pipeline_id"]}
    return httpx.post(settings["base_url"] + LEADS, json=body, headers=_headers(settings))


@pytest.fixture()
def sim() -> Iterator[apollo.ApolloServer]:
    accounts = [apollo.account("acme"), apollo.account("globex")]
    with apollo.ApolloServer(accounts=accounts, rate_limit=3) as server:
        yield server


def test_creates_land_in_the_account_own_organization(sim: apollo.ApolloServer) -> None:
    acme, globex = sim.account_settings("acme"), sim.account_settings("globex")
    assert _create(acme, "Ana Souza").status_code == 201
    assert _create(globex, "Bruno Lima").status_code == 201
    assert [lead["contact_name"] for lead in sim.store.leads(acme["organization_id"])] == [
        "Ana Souza"
    ]
    assert [lead["contact_name"] for lead in sim.store.leads(globex["organization_id"])] == [
        "Bruno Lima"
    ]


def test_one_account_token_cannot_act_in_another_organization(sim: apollo.ApolloServer) -> None:
    acme, globex = sim.account_settings("acme"), sim.account_settings("globex")
    crossed = {**acme, "organization_id": globex["organization_id"]}
    response = _create(crossed, "Ana Souza")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert sim.store.leads(globex["organization_id"]) == []


def test_a_revoked_account_gets_401_while_the_other_keeps_answering(
    sim: apollo.ApolloServer,
) -> None:
    sim.revoke("acme")
    refused = _create(sim.account_settings("acme"), "Ana Souza")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    assert _create(sim.account_settings("globex"), "Bruno Lima").status_code == 201
    assert [r.status for r in sim.requests_of("acme")] == [401]


def test_rate_limit_budgets_are_counted_per_account(sim: apollo.ApolloServer) -> None:
    acme, globex = sim.account_settings("acme"), sim.account_settings("globex")
    statuses = [_create(acme, f"Lead {i}").status_code for i in range(4)]
    assert statuses == [201, 201, 201, 429]
    assert [_create(globex, f"Lead {i}").status_code for i in range(3)] == [201, 201, 201]
    assert (len(sim.requests_of("acme")), len(sim.requests_of("globex"))) == (4, 3)
