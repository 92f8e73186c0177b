"""Several accounts on one simulator, over real HTTP: each sees only its own leads, one
account's token cannot reach another's tenant, a revoked account gets 401 while the others
keep answering, rate-limit budgets and faults are per account, and the request log tells the
accounts apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from simulators import leads_v1, mega
from simulators.core import faults
from tests.simulator.accounts_kit import KITS, LEADS_V1, MEGA, Kit


@pytest.fixture(params=KITS, ids=lambda kit: kit.name)
def kit(request: pytest.FixtureRequest) -> Kit:
    kit: Kit = request.param
    return kit


def test_each_account_sees_only_its_own_leads(kit: Kit) -> None:
    accounts = [kit.account("acme", 70, 1), kit.account("globex", 40, 2)]
    with kit.serve(accounts) as sim:
        seen = {}
        for account in accounts:
            with kit.client(sim, account.name) as client:
                leads = kit.all_leads(client)
            assert len(leads) == account.n_leads
            assert {lead[kit.tenant_field] for lead in leads} == {account.tenant_id}
            seen[account.name] = {lead["id"] for lead in leads}
        assert not seen["acme"] & seen["globex"]


def test_many_accounts_read_at_once_each_get_their_own(kit: Kit) -> None:
    accounts = [kit.account(f"tenant-{i}", 3 + i, i) for i in range(8)]
    with kit.serve(accounts) as sim:

        def read(name: str) -> int:
            with kit.client(sim, name) as client:
                return len(kit.all_leads(client))

        with ThreadPoolExecutor(4) as pool:
            counts = list(pool.map(read, [a.name for a in accounts]))
        assert counts == [a.n_leads for a in accounts]
        assert {a.name: len(sim.requests_of(a.name)) for a in accounts} == {
            a.name: 1 for a in accounts
        }


def test_an_account_settings_point_a_run_at_it(kit: Kit) -> None:
    with kit.serve([kit.account("acme", 3, 1), kit.account("globex", 0, 2)]) as sim:
        acme = sim.account_settings("acme")
        assert acme["base_url"] == sim.url
        assert acme["api_token"] == sim.account("acme").token
        assert acme != sim.account_settings("globex")
        assert [a.name for a in sim.accounts] == ["acme", "globex"]
        with pytest.raises(KeyError, match="no account named 'initech'"):
            sim.account_settings("initech")


def test_a_revoked_account_gets_401_while_the_other_keeps_answering(kit: Kit) -> None:
    with kit.two() as (sim, acme, globex):
        assert acme.get(kit.path).status_code == 200
        sim.revoke("acme")
        refused = acme.get(kit.path)
        assert refused.status_code == 401
        assert sim.account("acme").token not in refused.text
        assert globex.get(kit.path).status_code == 200
        # A simulator in another process is revoked through its admin endpoint.
        admin = httpx.post(sim.url + "/_sim/reinstate", params={"account": "acme"})
        assert admin.status_code == 200
        assert acme.get(kit.path).status_code == 200
        httpx.post(sim.url + "/_sim/revoke", params={"account": "globex"})
        assert globex.get(kit.path).status_code == 401
        unknown = httpx.post(sim.url + "/_sim/revoke", params={"account": "initech"})
        assert unknown.status_code == 404 and "initech" in unknown.text


def test_rate_limit_budgets_are_counted_per_account(kit: Kit) -> None:
    with kit.two(rate_limit=3) as (sim, acme, globex):
        assert [acme.get(kit.path).status_code for _ in range(4)] == [200, 200, 200, 429]
        answers = [globex.get(kit.path) for _ in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 200]
        assert [r.headers["RateLimit-Remaining"] for r in answers] == ["2", "1", "0"]
        assert acme.get(kit.path).status_code == 429
        sim.account_limiter("acme").reset()
        assert acme.get(kit.path).status_code == 200


def test_an_outage_of_one_account_leaves_the_other_answering(kit: Kit) -> None:
    with kit.two() as (sim, acme, globex):
        sim.account_faults("acme").add(faults.status(503), times=None)
        assert [acme.get(kit.path).status_code for _ in range(2)] == [503, 503]
        assert globex.get(kit.path).status_code == 200
        sim.api.faults.add(faults.status(500))  # the server's own plan: whoever asks next
        assert globex.get(kit.path).status_code == 500
        assert globex.get(kit.path).status_code == 200


def test_the_single_tenant_credentials_can_be_one_of_the_accounts() -> None:
    default = mega.Account("default", mega.DEFAULT_TOKEN, mega.DEFAULT_CUSTOMER_ID, 4, 0)
    with mega.SimulatorServer(accounts=[default, mega.account("globex", 6, 1)]) as sim:
        assert sim.account_settings("default") == {
            "base_url": sim.url,
            "api_token": mega.DEFAULT_TOKEN,
            "customer_id": mega.DEFAULT_CUSTOMER_ID,
        }
        with MEGA.client(sim, "default") as client:
            assert len(MEGA.all_leads(client)) == 4
        assert len(sim.store) == 4  # the first account's store


def test_a_callback_fault_of_an_account_edits_that_account_store() -> None:
    accounts = [mega.account("acme", 3, 1), mega.account("globex", 3, 2)]
    with mega.SimulatorServer(accounts=accounts) as sim, MEGA.client(sim, "globex") as client:
        edited: list[int] = []
        sim.account_faults("globex").add(faults.callback(lambda store: edited.append(id(store))))
        assert client.get(MEGA.path).status_code == 200
        assert edited == [id(sim.store_of("globex"))]


def test_the_request_log_counts_each_account(kit: Kit) -> None:
    with kit.two() as (sim, acme, globex):
        for _ in range(3):
            acme.get(kit.path)
        globex.get(kit.path)
        sim.revoke("globex")
        globex.get(kit.path)  # refused, still globex's request
        httpx.get(sim.url + kit.path, headers={"Authorization": "Bearer nobody"})
        assert len(sim.requests_of("acme")) == 3
        assert [r.status for r in sim.requests_of("globex")] == [200, 401]
        assert [r.account for r in sim.requests] == ["acme"] * 3 + ["globex"] * 2 + [None]
        stats = httpx.get(sim.url + "/_sim/stats").json()
        assert stats["accounts"] == {
            "acme": {"requests": 3, "revoked": False},
            "globex": {"requests": 2, "revoked": True},
        }


def test_mega_refuses_one_account_token_with_another_customer_id() -> None:
    with MEGA.two() as (sim, _acme, _globex):
        acme, globex = sim.account_settings("acme"), sim.account_settings("globex")
        crossed = {**acme, "customer_id": globex["customer_id"]}
        response = httpx.get(sim.url + MEGA.path, headers=MEGA.headers(crossed))
        assert response.status_code == 403
        assert response.json()["error"]["type"] == "authorization_error"
        assert httpx.get(sim.url + MEGA.path, headers=MEGA.headers(acme)).status_code == 200


def test_leads_v1_hides_another_organization_lead() -> None:
    with LEADS_V1.two() as (_sim, acme, globex):
        theirs = LEADS_V1.all_leads(globex)[0]["id"]
        assert globex.get(f"{LEADS_V1.path}/{theirs}").status_code == 200
        response = acme.get(f"{LEADS_V1.path}/{theirs}")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_mega_writes_land_in_the_account_own_store() -> None:
    with mega.SimulatorServer(accounts=[mega.account("acme"), mega.account("globex")]) as sim:
        with MEGA.client(sim, "acme") as acme:
            created = acme.post(MEGA.path, json={"contact_name": "Ana", "contact_email": "a@x.io"})
        assert created.status_code == 201, created.text
        assert len(sim.store_of("acme")) == 1 and len(sim.store_of("globex")) == 0


def test_accounts_that_share_a_token_or_a_seed_are_refused() -> None:
    acme = mega.account("acme")
    twin = mega.Account("twin", acme.token, "00000000-0000-4000-8000-0000000000ff")
    with pytest.raises(ValueError, match="two accounts share a token"):
        mega.SimulatorServer(accounts=[acme, twin])
    with pytest.raises(ValueError, match="own token and data: drop tokens, n_leads"):
        mega.SimulatorServer(accounts=[acme], tokens={}, n_leads=5)
    same_seed = [leads_v1.account("acme", 5, 1), leads_v1.account("globex", 5, 1)]
    with pytest.raises(ValueError, match="share the seed 1"):
        leads_v1.LeadsV1Server(accounts=same_seed)


def test_a_server_started_the_single_tenant_way_has_no_accounts() -> None:
    with mega.SimulatorServer(n_leads=3) as sim:
        assert sim.accounts == []
        with pytest.raises(LookupError, match="without accounts"):
            sim.revoke("acme")
        answer = httpx.post(sim.url + "/_sim/revoke", params={"account": "acme"})
        assert answer.status_code == 404 and "without accounts" in answer.text
