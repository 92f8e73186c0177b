"""The Airflow example (orchestrators/airflow_dag.py): the DAG file loaded as Airflow's DAG
processor loads it (``DagBag``), its tasks' callables run in process against the simulators,
settings from the environment or an Airflow Connection, as a deployment sets them; no scheduler
and no metadata database. A failed run fails the task with the run's one-line reason."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk.exceptions import AirflowFailException

import orchestrators.airflow_dag
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

DAG_FILE = Path(orchestrators.airflow_dag.__file__)


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag


def run_task(dagbag: DagBag, dag_id: str, task_id: str) -> Any:
    """What the worker does with a ``@task``, minus the scheduler: call its function."""
    operator = dagbag.dags[dag_id].get_task(task_id)
    assert isinstance(operator, PythonOperator)  # what `@task` makes
    return operator.python_callable()


def test_dag_file_has_both_dags(dagbag: DagBag) -> None:
    crm, nightly = dagbag.dags["crm_leads"], dagbag.dags["crm_leads_nightly"]
    assert set(crm.task_ids) == {"mega_leads", "leads_v1_new_only", "dbt_models"}
    assert set(nightly.task_ids) == {"leads_v1_full", "dbt_models"}
    assert crm.get_task("dbt_models").upstream_task_ids == {"mega_leads", "leads_v1_new_only"}
    assert nightly.get_task("dbt_models").upstream_task_ids == {"leads_v1_full"}
    assert (crm.schedule, nightly.schedule) == ("@hourly", "30 2 * * *")
    assert all(task.retries == 2 for task in crm.tasks + nightly.tasks)


def test_mega_task_loads_every_lead(dagbag: DagBag, mega_env: Warehouse) -> None:
    xcom = run_task(dagbag, "crm_leads", "mega_leads")

    assert xcom["outcome"] == "success" and xcom["leads"] == 350
    json.dumps(xcom)  # what XCom stores
    assert len(mega_env.leads()) == len(mega_env.sim.store.snapshot())
    assert_mega_exact(mega_env, mega_env.sim)


def test_leads_v1_hourly_new_only_then_nightly_full_sweep(
    dagbag: DagBag, v1_env: V1Warehouse
) -> None:
    store = v1_env.sim.store
    assert run_task(dagbag, "crm_leads", "leads_v1_new_only")["leads"] == 450
    assert len(v1_env.live()) == len(store.leads())

    gone = store.leads()[0]["id"]
    store.delete(gone)
    xcom = run_task(dagbag, "crm_leads_nightly", "leads_v1_full")

    assert xcom["outcome"] == "success" and xcom["deleted"] == 1
    assert len(v1_env.live()) == len(store.leads()) == 449
    assert_v1_exact(v1_env, v1_env.sim)


def test_token_from_an_airflow_connection(
    dagbag: DagBag, mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__MEGA__API_TOKEN")
    connection = {"conn_type": "http", "password": DEFAULT_TOKEN}
    monkeypatch.setenv("AIRFLOW_CONN_MEGA_API", json.dumps(connection))

    assert run_task(dagbag, "crm_leads", "mega_leads")["leads"] == 350


@pytest.mark.parametrize(
    ("task_id", "variable"),
    [
        ("mega_leads", "SOURCES__MEGA__API_TOKEN"),
        ("leads_v1_new_only", "SOURCES__LEADS_V1__API_TOKEN"),
    ],
)
def test_refused_token_fails_the_task_at_once_with_the_reason(
    dagbag: DagBag,
    mega_env: Warehouse,
    v1_env: V1Warehouse,
    monkeypatch: pytest.MonkeyPatch,
    task_id: str,
    variable: str,
) -> None:
    monkeypatch.setenv(variable, "not-the-token")

    # AirflowFailException: the task fails without its retries.
    with pytest.raises(AirflowFailException) as failed:
        run_task(dagbag, "crm_leads", task_id)

    assert_one_line_reason(str(failed.value), "authentication failed (401")


def test_missing_setting_fails_the_task_at_once_naming_it(
    dagbag: DagBag, mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOURCES__MEGA__CUSTOMER_ID")

    with pytest.raises(AirflowFailException) as failed:
        run_task(dagbag, "crm_leads", "mega_leads")

    assert_one_line_reason(str(failed.value), "SOURCES__MEGA__CUSTOMER_ID")
    assert mega_env.sim.requests == []


def test_outage_fails_the_task_for_airflow_to_retry(dagbag: DagBag, mega_env: Warehouse) -> None:
    # Every request of the run answered 503, the run's own retries spent.
    mega_env.sim.faults.add(faults.status(503), times=ATTEMPTS, after=PROBE)

    with pytest.raises(RunFailed) as failed:  # not AirflowFailException: Airflow retries it
        run_task(dagbag, "crm_leads", "mega_leads")
    assert_one_line_reason(str(failed.value), "503")

    # The retry Airflow makes: the outage is over.
    assert run_task(dagbag, "crm_leads", "mega_leads")["outcome"] == "success"
    assert_mega_exact(mega_env, mega_env.sim)


def test_models_task_builds_the_dbt_package_after_the_loads(
    dagbag: DagBag, mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    run_task(dagbag, "crm_leads", "mega_leads")
    run_task(dagbag, "crm_leads", "leads_v1_new_only")

    statuses = run_task(dagbag, "crm_leads", "dbt_models")

    assert "success current_leads" in statuses and "pass unique_current_leads_lead_key" in statuses
    counts = mega_env.query(
        "SELECT source_system, COUNT(*) FROM crm_leads.current_leads GROUP BY 1 ORDER BY 1"
    )
    assert counts == [("leads_v1", 450), ("mega", 350)]


def test_a_failed_dbt_test_fails_the_models_task_at_once(
    dagbag: DagBag, mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    run_task(dagbag, "crm_leads", "mega_leads")
    run_task(dagbag, "crm_leads", "leads_v1_new_only")
    with duckdb.connect(str(mega_env.path)) as con:
        con.execute("INSERT INTO mega.leads SELECT * FROM mega.leads LIMIT 1")

    with pytest.raises(AirflowFailException) as failed:
        run_task(dagbag, "crm_leads", "dbt_models")

    assert_one_line_reason(str(failed.value), "dbt_models: ", "unique_stg_mega__leads_lead_id")


def test_accounts_dag_maps_a_task_per_account_and_a_revoked_one_fails_alone(
    dagbag: DagBag, accounts_pg: AccountsWarehouse
) -> None:
    """``crm_leads_accounts``: ``mega_account`` mapped over what ``accounts`` returns; run here
    as four workers would, four mapped instances at once into one PostgreSQL."""
    dag = dagbag.dags["crm_leads_accounts"]
    listing, mapped = dag.get_task("accounts"), dag.get_task("mega_account")
    assert isinstance(listing, PythonOperator)
    assert mapped.upstream_task_ids == {"accounts"}
    assert mapped.max_active_tis_per_dagrun == 4
    assert set(mapped.op_kwargs_expand_input.value) == {"account"}

    names = listing.python_callable()
    assert names == sorted(ACCOUNTS)
    with ThreadPoolExecutor(4) as workers:
        instances = {name: workers.submit(mapped.python_callable, account=name) for name in names}
        failed = {name: run.exception() for name, run in instances.items() if run.exception()}

    assert set(failed) == {REVOKED}, {name: str(error) for name, error in failed.items()}
    assert isinstance(failed[REVOKED], AirflowFailException)  # not retried: a refused token
    assert_one_line_reason(str(failed[REVOKED]), f"mega_leads[{REVOKED}]: ", "401")
    loaded = [instances[name].result() for name in names if name != REVOKED]
    assert all(xcom["outcome"] == "success" and xcom["account"] for xcom in loaded)
    live = [name for name in names if name != REVOKED]
    assert accounts_pg.loaded() == accounts_pg.truth(live)


def test_a_source_registered_gets_its_tasks(third_source: Any, v1_env: V1Warehouse) -> None:
    """The DAG file loops over the registry: a third entry's schedules become tasks of the
    hourly and nightly DAGs (with its run options), with no line of the file naming it."""
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    crm, nightly = bag.dags["crm_leads"], bag.dags["crm_leads_nightly"]
    assert {"leads_v2_leads", "mega_leads", "leads_v1_new_only"} <= set(crm.task_ids)
    assert set(nightly.task_ids) == {"leads_v1_full", "leads_v2_full", "dbt_models"}
    assert "leads_v2_leads" in crm.get_task("dbt_models").upstream_task_ids

    xcom = run_task(bag, "crm_leads_nightly", "leads_v2_full")

    assert xcom["outcome"] == "success" and xcom["leads"] == 450
    assert xcom["dataset_name"] == "leads_v2"
    assert v1_env.query("SELECT count(*) FROM leads_v2.leads") == [(450,)]
