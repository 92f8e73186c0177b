"""Prefect: a flow per source calling the runner's ``run()`` in a retried task, its result as a
markdown artifact (``pip install -e ".[prefect]"``).

- ``mega_leads_flow``: what changed at MEGA (``reconcile=True`` also marks deleted leads).
- ``leads_v1_flow``: Leads v1's new leads (``new_only=True``), or the full sweep that also
  finds updates and deletes of older leads.
- ``crm_leads_flow``: both sources, then ``dbt_models_task``: the dbt package (``dbt_package/``)
  built and tested through dlt's dbt runner (``pipelines.views.build``, the loads' settings;
  the ``dbt`` extra); a failed model or dbt test fails the task, naming it, without retries.
- ``mega_accounts_flow``: one mapped task run per MEGA account configured (README: Many
  accounts), ``ACCOUNTS_AT_ONCE`` at a time into PostgreSQL; a failed account is a failed task
  run of its own, and the flow fails naming it after the others loaded.
- ``python -m orchestrators.prefect_flow`` serves them on a schedule (``deployments()``): MEGA
  every 15 minutes, Leads v1 new leads hourly and the full sweep nightly.

Each task runs ``run()`` as is: its checkpoints, pending-package recovery and manifest are the
runner's, so a retry resumes from the last committed checkpoint.

Secrets: a Prefect ``Secret`` block holding the API token, named by the flow's
``secret_block`` parameter (``Secret(value="…").save("mega-api-token")`` or the UI; loaded in
the task, so the token is never a flow or task parameter that Prefect records). Without it, dlt
reads the environment of the worker or ``serve`` process: ``SOURCES__MEGA__API_TOKEN``,
``SOURCES__MEGA__CUSTOMER_ID``, ``SOURCES__LEADS_V1__API_TOKEN``, ``SOURCES__LEADS_V1__BASE_URL``,
``DESTINATION__DUCKDB__CREDENTIALS`` (a work pool's job variables ``env`` for workers), or
``dlt_config/secrets.toml``.

Failures: the task raises the run's ``RunFailed``, whose message is the one-line reason; the
flow run fails with it, after the task's retries. ``retry_condition_fn`` skips the retries a
retry cannot help: bad settings, a refused token (``common.retryable``). The artifact is made
for a failed run too: it says how far the run got. Cancelling a flow run sends SIGTERM to its
process: the runner commits the pages it has, then stops ("interrupted").

DuckDB allows one writer: the tasks carry the tag ``crm-duckdb``; ``prefect concurrency-limit
create crm-duckdb 1`` keeps two flows from writing the file at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from prefect import flow, serve, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import Task

from orchestrators.common import as_json, markdown, mega_accounts, retryable

# The entrypoints register dlt_config/ with dlt on import.
from pipelines import leads_v1, mega_leads, views
from pipelines.result import RunFailed, RunResult

TAG = "crm-duckdb"
# Outages and rate limits often pass within minutes; a run resumes from its last checkpoint.
RETRY_DELAYS: list[float] = [60, 300]


def retry_if_it_can_help(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: ``state.data`` holds what the task raised."""
    error = state.data
    return retryable(error) if isinstance(error, BaseException) else True


def load(
    title: str, run: Callable[..., RunResult], secret_block: str | None, options: dict[str, Any]
) -> dict[str, Any]:
    """One run of a source; its result as an artifact either way, and as the task's result."""
    if secret_block:
        # In a sync task `load` returns the block itself (typed as maybe a coroutine).
        secret = cast("Secret[str]", Secret.load(secret_block))
        options = {**options, "api_token": secret.get()}
    key = re.sub(r"[^a-z0-9-]", "-", title.lower())  # artifact keys: a-z, 0-9 and dashes
    try:
        result = run(**options)
    except RunFailed as exc:
        create_markdown_artifact(markdown=markdown(exc.result, title), key=key)
        raise
    create_markdown_artifact(markdown=markdown(result, title), key=key)
    return as_json(result)


# cache_policy NONE: every call loads; a cache hit would skip the run and report old figures.
@task(
    name="mega_leads",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_if_it_can_help,
    cache_policy=NONE,
    tags=[TAG],
)
def mega_leads_task(secret_block: str | None, options: dict[str, Any]) -> dict[str, Any]:
    return load("MEGA leads", mega_leads.run, secret_block, options)


@task(
    name="leads_v1",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_if_it_can_help,
    cache_policy=NONE,
    tags=[TAG],
)
def leads_v1_task(secret_block: str | None, options: dict[str, Any]) -> dict[str, Any]:
    return load("Leads v1", leads_v1.run, secret_block, options)


@flow(name="mega-leads")
def mega_leads_flow(
    secret_block: str | None = None, reconcile: bool = False, full_refresh: bool = False
) -> dict[str, Any]:
    """MEGA leads changed since the last run (``reconcile``: also mark deleted ones)."""
    options = {"reconcile": reconcile, "full_refresh": full_refresh}
    return mega_leads_task(secret_block, options)


@flow(name="leads-v1")
def leads_v1_flow(
    secret_block: str | None = None, new_only: bool = False, full_refresh: bool = False
) -> dict[str, Any]:
    """Leads v1 leads new, changed or deleted since the last run (``new_only``: new ones)."""
    options = {"new_only": new_only, "full_refresh": full_refresh}
    return leads_v1_task(secret_block, options)


@task(
    name="mega_account",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_if_it_can_help,
    cache_policy=NONE,
)
def mega_account_task(account: str, options: dict[str, Any]) -> dict[str, Any]:
    return load(f"MEGA leads {account}", mega_leads.run, None, {**options, "account": account})


# Accounts loading at once: each its own pipeline, staging tables and rate-limit budget, into a
# warehouse that takes several writers (DESTINATION__POSTGRES__CREDENTIALS).
ACCOUNTS_AT_ONCE = 4
ACCOUNTS_DESTINATION = "postgres"


@flow(name="mega-leads-accounts", task_runner=ThreadPoolTaskRunner(max_workers=ACCOUNTS_AT_ONCE))
def mega_accounts_flow(full_refresh: bool = False) -> dict[str, Any]:
    """Every MEGA account configured (README: Many accounts), a task run each, mapped; a failed
    account fails its own task run while the others load, then the flow, naming it."""
    names = mega_accounts()
    options = {"full_refresh": full_refresh, "destination": ACCOUNTS_DESTINATION}
    futures = mega_account_task.map(names, unmapped(options))
    futures.wait()
    by_account = dict(zip(names, futures, strict=True))
    failed = [name for name, future in by_account.items() if not future.state.is_completed()]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(names)} accounts failed: {', '.join(failed)}")
    return {name: future.result() for name, future in by_account.items()}


# No retries: a failed dbt test meets the same data again.
@task(name="dbt_models", cache_policy=NONE, tags=[TAG])
def dbt_models_task() -> list[str]:
    """The dbt package's models and tests on the warehouse the loads wrote (dlt's dbt runner);
    a failed model or test fails the task with its name."""
    try:
        results = views.build()
    except Exception as exc:
        raise RuntimeError(f"dbt_models: {views.failure(exc)}") from None
    return [f"{result.status} {result.model_name}" for result in results]


@flow(name="crm-leads")
def crm_leads_flow(
    mega_secret_block: str | None = None,
    leads_v1_secret_block: str | None = None,
    new_only: bool = False,
) -> list[str]:
    """Both sources, then the dbt package's models (only when both loads succeeded)."""
    mega_leads_task(mega_secret_block, {})
    leads_v1_task(leads_v1_secret_block, {"new_only": new_only})
    return dbt_models_task()


def deployments() -> list[Any]:
    """The schedules of orchestrators/cron.md, for ``serve``."""
    return [
        mega_leads_flow.to_deployment(name="mega-every-15-min", cron="*/15 * * * *"),
        leads_v1_flow.to_deployment(
            name="leads-v1-hourly-new-only", cron="5 * * * *", parameters={"new_only": True}
        ),
        leads_v1_flow.to_deployment(name="leads-v1-nightly-full", cron="30 2 * * *"),
    ]


if __name__ == "__main__":
    serve(*deployments())
