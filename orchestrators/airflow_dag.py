"""Airflow: two DAGs calling the runner's ``run()`` from plain tasks (``pip install -e
".[airflow]"`` into Airflow's environment, then put this file in the dags folder, or a file
there that does ``from orchestrators.airflow_dag import crm_leads_dag, crm_leads_nightly_dag``).

- ``crm_leads``, hourly: a task per load that the registered sources (``pipelines/registry.py``)
  schedule more often than daily: ``mega_leads`` (what changed at MEGA) and ``leads_v1_new_only``
  (leads created at Leads v1). MEGA more often: change the schedule, e.g. ``*/15 * * * *``.
- ``crm_leads_nightly``, 02:30: the loads they schedule daily: ``leads_v1_full``, the full sweep
  that also finds updates and deletes of older Leads v1 leads.
- ``crm_leads_accounts``, hourly: one mapped task per MEGA account configured (README: Many
  accounts): ``mega_account.expand(account=…)``, each ``run(account=…)``, a failed account a
  failed task instance of its own while the others load; ``max_active_tis_per_dagrun`` of them
  at once (the warehouse must take several writers: PostgreSQL, not DuckDB).
- Both end with ``dbt_models``: the dbt package (``dbt_package/``) built and tested after the
  loads through dlt's dbt runner (``pipelines.views.build``, the loads' settings; the ``dbt``
  extra). A failed model or dbt test fails the task at once, naming it: a retry would meet the
  same data.

Why not dlt's ``PipelineTasksGroup`` (``dlt.helpers.airflow_helper``): its tasks each call
``pipeline.run(source)`` once, on a pipeline it first drops, in a fresh temporary data folder
(and it sets ``DLT_DATA_DIR`` / ``DLT_PROJECT_DIR`` for the whole process when the DAG file is
parsed). The runner commits data and state per checkpoint (one ``pipeline.run`` every N pages,
so a run stopped at page 9,000 resumes there), finishes a package an earlier run left pending
(the helper's fresh folder has none to finish: it is lost), writes a manifest row per run, and
judges deletes against what the warehouse holds. Decomposing the source into tasks per resource
gains nothing either: each source has one resource, ``leads``. So: one ``@task`` per run.

Secrets: an Airflow Connection per API, whose password is the token: ``<source>_api``, so
``mega_api`` and ``leads_v1_api`` (``airflow connections add mega_api --conn-type http
--conn-password …``; or a secrets backend such as Vault; or
``AIRFLOW_CONN_MEGA_API='{"conn_type": "http", "password": "…"}'``). Without the connection,
or for the other settings, dlt reads the environment of the workers:
``SOURCES__MEGA__API_TOKEN``, ``SOURCES__MEGA__CUSTOMER_ID``, ``SOURCES__LEADS_V1__API_TOKEN``,
``SOURCES__LEADS_V1__BASE_URL``, ``DESTINATION__DUCKDB__CREDENTIALS``; or
``dlt_config/secrets.toml``.

Failures: a failed run raises, so the task fails, and its log ends with the run's one-line
reason (``RunFailed: server error (503 …) …``), the partial result's summary logged before it;
Airflow retries it (``DEFAULT_ARGS``). Bad settings and refused credentials raise
``AirflowFailException("mega_leads: authentication failed (401 …) …")`` instead: failed at
once, without retries (``common.retryable``). When Airflow stops a task it sends SIGTERM: the
runner commits the pages it has received, then the task fails.

DuckDB allows one writer: ``max_active_tasks=1`` keeps a DAG's tasks apart; the two DAGs can
still meet (the nightly sweep running past the hour). A retry 5 minutes later gets past that; to
rule it out, give every task one pool of one slot (``airflow pools set crm_duckdb 1 "DuckDB"``,
then ``pool="crm_duckdb"`` in ``DEFAULT_ARGS``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Connection, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

# common registers dlt_config/ with dlt on import.
from orchestrators.common import (
    SOURCES,
    Schedule,
    Source,
    as_json,
    asset_name,
    daily,
    mega_accounts,
    retryable,
    run_name,
    runner,
)
from pipelines import mega_leads, views
from pipelines.result import RunFailed, RunResult

log = logging.getLogger(__name__)

DEFAULT_ARGS: dict[str, Any] = {
    # Outages and rate limits often pass within minutes; a run resumes from its last checkpoint.
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": True,
    "execution_timeout": timedelta(hours=6),  # a first backfill of millions of leads
}


def token_from_connection(conn_id: str) -> dict[str, str]:
    """``api_token`` from the Airflow Connection's password; nothing if there is no such
    connection (dlt config then has the token)."""
    try:
        password = Connection.get(conn_id).password
    except AirflowNotFoundException:
        return {}
    return {"api_token": password} if password else {}


def load(name: str, run: Callable[..., RunResult], conn_id: str, **options: Any) -> dict[str, Any]:
    """One run of a source, as a task: the result as XCom, or the task fails with the reason."""
    options = {**token_from_connection(conn_id), **options}
    try:
        result = run(**options)
    except Exception as exc:
        if isinstance(exc, RunFailed):
            log.error("%s: %s", name, exc.result.summary())
        if not retryable(exc):
            # Retrying cannot fix bad settings or a refused token: fail now, with the reason.
            raise AirflowFailException(f"{name}: {exc}") from None
        raise
    log.info("%s: %s", name, result.summary())
    return as_json(result)


def load_task(source: Source, schedule: Schedule) -> Any:
    """A task running ``source`` as ``schedule`` says (its options): ``mega_leads``,
    ``leads_v1_new_only``, ``leads_v1_full``; the token from the Connection ``<source>_api``."""
    task_id = f"{source.name}_{schedule.run}" if schedule.run else asset_name(source)

    @task(task_id=task_id)
    def load_source() -> dict[str, Any]:
        return load(run_name(source), runner(source), f"{source.name}_api", **schedule.options)

    return load_source()


def load_tasks(nightly: bool) -> list[Any]:
    """Every registered source's scheduled loads that run at most daily, or those more often."""
    return [
        load_task(source, schedule)
        for source in SOURCES.values()
        for schedule in source.schedules
        if daily(schedule) == nightly
    ]


def build_models() -> list[str]:
    """The dbt package's models and tests on the warehouse the loads wrote; each node's status."""
    try:
        results = views.build()
    except Exception as exc:
        raise AirflowFailException(f"dbt_models: {views.failure(exc)}") from None
    return [f"{result.status} {result.model_name}" for result in results]


@dag(
    dag_id="crm_leads",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,  # each run loads all that changed since the last: no backfill of intervals
    max_active_runs=1,
    max_active_tasks=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "dlt"],
)
def crm_leads() -> None:
    @task
    def dbt_models() -> list[str]:
        return build_models()

    # The loads are independent: one failing does not stop another; the models wait for all.
    load_tasks(nightly=False) >> dbt_models()


@dag(
    dag_id="crm_leads_nightly",
    schedule="30 2 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "dlt"],
)
def crm_leads_nightly() -> None:
    @task
    def dbt_models() -> list[str]:
        return build_models()

    load_tasks(nightly=True) >> dbt_models()


# Accounts loading at once: each its own pipeline, staging tables and rate-limit budget, into a
# warehouse that takes several writers (DESTINATION__POSTGRES__CREDENTIALS).
ACCOUNTS_AT_ONCE = 4
ACCOUNTS_DESTINATION = "postgres"


@dag(
    dag_id="crm_leads_accounts",
    schedule="@hourly",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["crm", "dlt", "accounts"],
)
def crm_leads_accounts() -> None:
    @task
    def accounts() -> list[str]:
        """Read when the DAG runs: an account added to the config is mapped on the next run."""
        return mega_accounts()

    @task(max_active_tis_per_dagrun=ACCOUNTS_AT_ONCE)
    def mega_account(account: str) -> dict[str, Any]:
        return load(
            f"mega_leads[{account}]",
            mega_leads.run,
            f"mega_api_{account}",
            account=account,
            destination=ACCOUNTS_DESTINATION,
        )

    mega_account.expand(account=accounts())


crm_leads_dag = crm_leads()
crm_leads_nightly_dag = crm_leads_nightly()
crm_leads_accounts_dag = crm_leads_accounts()
