"""The Prefect example (orchestrators/prefect_flow.py): its flows called in process against the
simulators, on a local Prefect API server with a throwaway database (Prefect's own test harness,
started once for the module: about 8 s, offline), settings from the environment or a Prefect
Secret block. Rows in
DuckDB equal the source's leads; a run's result is an artifact; a failed run fails the flow
with the run's one-line reason, retried only when a retry can help."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from prefect.artifacts import Artifact
from prefect.blocks.system import Secret
from prefect.states import State
from prefect.testing.utilities import prefect_test_harness
from pydantic import SecretStr

from orchestrators import prefect_flow
from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import DEFAULT_TOKEN
from tests.helpers import ATTEMPTS, PROBE, Warehouse
from tests.helpers import assert_exact as assert_mega_exact
from tests.helpers.accounts import AccountsWarehouse
from tests.helpers.leads_v1 import V1Warehouse
from tests.helpers.leads_v1 import assert_exact as assert_v1_exact
from tests.orchestrators import assert_one_line_reason
from tests.orchestrators.conftest import ACCOUNTS, REVOKED


@pytest.fixture(scope="module", autouse=True)
def prefect_server() -> Iterator[None]:
    # Stopped here rather than at exit (Prefect's own ephemeral server), while pytest still
    # captures the output its log line goes to. A slow CI machine gets two minutes to start it.
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks as deployed, their retries without the minutes between them."""
    for name, deployed in list(prefect_flow.TASKS.items()):
        monkeypatch.setitem(prefect_flow.TASKS, name, deployed.with_options(retry_delay_seconds=0))
    accounts = prefect_flow.mega_account_task.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(prefect_flow, "mega_account_task", accounts)


def artifact(key: str) -> str:
    found = Artifact.get(key)  # the latest of that key
    assert found is not None and not inspect.isawaitable(found)
    return str(found.data)


def failed_reason(state: State[Any]) -> str:
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, RunFailed)
    # The flow run's message in the UI ends with the same line.
    assert state.message is not None and state.message.endswith(str(error))
    return assert_one_line_reason(str(error))


def test_mega_flow_loads_every_lead_with_an_artifact(mega_env: Warehouse) -> None:
    result = prefect_flow.FLOWS["mega"]()

    assert result["outcome"] == "success" and result["leads"] == 350
    assert len(mega_env.leads()) == len(mega_env.sim.store.snapshot())
    assert_mega_exact(mega_env, mega_env.sim)
    report = artifact("mega-leads")
    assert "# MEGA leads: success" in report and result["run_id"] in report


def test_leads_v1_flow_new_only_then_full_sweep(v1_env: V1Warehouse) -> None:
    store = v1_env.sim.store
    assert prefect_flow.FLOWS["leads_v1"](new_only=True)["leads"] == 450
    assert len(v1_env.live()) == len(store.leads())

    gone = store.leads()[0]["id"]
    store.delete(gone)
    result = prefect_flow.FLOWS["leads_v1"]()

    assert result["outcome"] == "success" and result["deleted"] == 1
    assert len(v1_env.live()) == len(store.leads()) == 449
    assert_v1_exact(v1_env, v1_env.sim)
    assert "| deleted at the source | 1 |" in artifact("leads-v1")


def test_token_from_a_secret_block(mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__MEGA__API_TOKEN")
    Secret(value=SecretStr(DEFAULT_TOKEN)).save("mega-api-token", overwrite=True)

    assert prefect_flow.FLOWS["mega"](secret_block="mega-api-token")["leads"] == 350


def test_outage_is_retried_and_the_retry_loads(mega_env: Warehouse) -> None:
    # The first try's page 1 is answered 503 until the run's own retries are spent.
    mega_env.sim.faults.add(faults.status(503), times=ATTEMPTS, after=PROBE)

    result = prefect_flow.FLOWS["mega"]()

    assert result["outcome"] == "success" and result["leads"] == 350
    assert_mega_exact(mega_env, mega_env.sim)


@pytest.mark.parametrize("source", ["mega", "leads_v1"])
def test_refused_token_fails_the_flow_without_retries(
    mega_env: Warehouse, v1_env: V1Warehouse, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv(f"SOURCES__{source.upper()}__API_TOKEN", "not-the-token")
    flow = prefect_flow.FLOWS[source]
    sim = mega_env.sim if source == "mega" else v1_env.sim

    state = flow(return_state=True)

    assert "authentication failed (401" in failed_reason(state)
    assert len(sim.requests) == 1  # one try: the retries were skipped
    key = "mega-leads" if source == "mega" else "leads-v1"
    assert ": failed" in artifact(key)


def test_missing_setting_fails_the_flow_naming_it(
    mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__MEGA__CUSTOMER_ID")

    state = prefect_flow.FLOWS["mega"](return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert_one_line_reason(str(error), "SOURCES__MEGA__CUSTOMER_ID")
    assert mega_env.sim.requests == []


def test_deployments_follow_the_cron_schedules() -> None:
    built = {d.name: d for d in prefect_flow.deployments()}
    assert {name: d.schedules[0].schedule.cron for name, d in built.items()} == {
        "mega-every-15-min": "*/15 * * * *",
        "leads-v1-hourly-new-only": "5 * * * *",
        "leads-v1-nightly-full": "30 2 * * *",
    }
    assert built["leads-v1-hourly-new-only"].parameters == {"new_only": True}


def test_crm_leads_flow_loads_both_then_builds_the_models(
    mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    statuses = prefect_flow.crm_leads_flow()

    assert "success current_leads" in statuses and "pass unique_current_leads_lead_key" in statuses
    counts = mega_env.query(
        "SELECT source_system, COUNT(*) FROM crm_leads.current_leads GROUP BY 1 ORDER BY 1"
    )
    assert counts == [("leads_v1", 450), ("mega", 350)]


def test_a_failed_dbt_test_fails_the_flow_naming_it(
    mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    prefect_flow.crm_leads_flow()
    with duckdb.connect(str(mega_env.path)) as con:
        con.execute("INSERT INTO mega.leads SELECT * FROM mega.leads LIMIT 1")

    state = prefect_flow.crm_leads_flow(return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert_one_line_reason(str(error), "dbt_models: ", "unique_stg_mega__leads_lead_id")


def test_accounts_flow_maps_a_task_run_per_account_and_a_revoked_one_fails_alone(
    accounts_pg: AccountsWarehouse,
) -> None:
    state = prefect_flow.mega_accounts_flow(return_state=True)

    assert state.is_failed()
    assert state.message is not None
    assert state.message.endswith(f"1 of {len(ACCOUNTS)} accounts failed: {REVOKED}")
    live = [name for name in ACCOUNTS if name != REVOKED]
    assert accounts_pg.loaded() == accounts_pg.truth(live)
    for name in ACCOUNTS:  # each account's run, as its task run's artifact
        text = artifact(f"mega-leads-{name.replace('_', '-')}")
        assert ("failed" if name == REVOKED else "success") in text


def test_a_source_registered_gets_its_flow_and_deployments(
    third_source: Any, v1_env: V1Warehouse
) -> None:
    """The module loops over the registry: a third entry gets a task, a flow (its parameters the
    run's switches) and deployments on its schedules, with no line of the module naming it."""
    flows = importlib.reload(prefect_flow)
    third = flows.FLOWS["leads_v2"]
    assert third.name == "leads-v2" and flows.leads_v2_flow is third
    assert list(third.parameters.properties) == ["secret_block", "new_only", "full_refresh"]
    assert "leads_v2_secret_block" in flows.crm_leads_flow.parameters.properties
    built = {d.name: d for d in flows.deployments()}
    crons = {name: d.schedules[0].schedule.cron for name, d in built.items()}
    assert crons["leads-v2-hourly"] == "15 * * * *"
    assert crons["leads-v2-nightly-full"] == "0 3 * * *"
    assert built["leads-v2-nightly-full"].parameters == {"new_only": False}

    result = third(new_only=True)

    assert result["outcome"] == "success" and result["leads"] == 450
    assert v1_env.query("SELECT count(*) FROM leads_v2.leads") == [(450,)]
    assert "# Leads v2 leads: success" in artifact("leads-v2")
