"""Prefect: a flow per source calling the runner's ``run()`` in a retried task, its result as a
markdown artifact (``pip install -e ".[prefect]"``).

- A flow per source registered (``pipelines/registry.py``), named as its command, its
  parameters the run's switches (``FLOWS``): ``mega_leads_flow`` (``mega-leads``), what changed
  at MEGA (``reconcile=True`` also marks deleted leads); ``leads_v1_flow`` (``leads-v1``),
  Leads v1's new leads (``new_only=True``), or the full sweep that also finds updates and
  deletes of older leads.
- ``crm_leads_flow``: every source, then ``dbt_models_task``: the dbt package (``dbt_package/``)
  built and tested through dlt's dbt runner (``pipelines.views.build``, the loads' settings;
  the ``dbt`` extra); a failed model or dbt test fails the task, naming it, without retries.
- ``mega_accounts_flow``: one mapped task run per MEGA account configured (README: Many
  accounts), ``ACCOUNTS_AT_ONCE`` at a time into PostgreSQL; a failed account is a failed task
  run of its own, and the flow fails naming it after the others loaded.
- ``python -m orchestrators.prefect_flow`` serves them on the sources' schedules
  (``deployments()``): MEGA every 15 minutes, Leads v1 new leads hourly and the full sweep
  nightly.

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

import inspect
import re
from collections.abc import Callable
from typing import Any, cast

from prefect import Flow, flow, serve, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.blocks.system import Secret
from prefect.cache_policies import NONE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.tasks import Task

# common registers dlt_config/ with dlt on import.
from orchestrators.common import (
    SOURCES,
    Source,
    as_json,
    markdown,
    mega_accounts,
    retryable,
    run_name,
    runner,
    switches,
)
from pipelines import mega_leads, views
from pipelines.result import RunFailed, RunResult

TAG = "crm-duckdb"
# Outages and rate limits often pass within minutes; a run resumes from its last checkpoint.
RETRY_DELAYS: list[float] = [60, 300]


def retry_if_it_can_help(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: ``state.data`` holds what the task raised."""
    error = state.data
    return retryable(error) if isinstance(error, BaseException) else True


def load(
    name: str,
    run: Callable[..., RunResult],
    secret_block: str | None,
    options: dict[str, Any],
    title: str,
) -> dict[str, Any]:
    """One run of a source; its result as an artifact titled ``title`` either way (its key:
    ``name``'s words, ``mega-leads``), and as the task's result."""
    if secret_block:
        # In a sync task `load` returns the block itself (typed as maybe a coroutine).
        secret = cast("Secret[str]", Secret.load(secret_block))
        options = {**options, "api_token": secret.get()}
    key = re.sub(r"[^a-z0-9-]", "-", name.lower())  # artifact keys: a-z, 0-9 and dashes
    try:
        result = run(**options)
    except RunFailed as exc:
        create_markdown_artifact(markdown=markdown(exc.result, title), key=key)
        raise
    create_markdown_artifact(markdown=markdown(result, title), key=key)
    return as_json(result)


def load_task(source: Source) -> Task[..., dict[str, Any]]:
    """Task ``mega_leads``, ``leads_v1`` …: one run of ``source``, retried when that can help;
    its artifact keyed by the source's command (``mega-leads``, ``leads-v1``)."""

    def load_source(secret_block: str | None, options: dict[str, Any]) -> dict[str, Any]:
        return load(source.command, runner(source), secret_block, options, f"{source.title} leads")

    # Prefect keys a task by its function's name (and code): one of its own per source.
    load_source.__name__ = load_source.__qualname__ = f"{run_name(source)}_task"
    # cache_policy NONE: every call loads; a cache hit would skip the run and report old figures.
    return task(
        name=run_name(source),
        retries=len(RETRY_DELAYS),
        retry_delay_seconds=RETRY_DELAYS,
        retry_condition_fn=retry_if_it_can_help,
        cache_policy=NONE,
        tags=[TAG],
    )(load_source)


def load_flow(source: Source) -> Flow[..., dict[str, Any]]:
    """Flow ``mega-leads``, ``leads-v1`` … (its command): ``source``'s task, its parameters a
    Secret block's name and the run's switches (``common.switches``: MEGA ``reconcile``, Leads
    v1 ``new_only``, both ``full_refresh``)."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [
            inspect.Parameter("secret_block", keyword, default=None, annotation=str | None),
            *(
                inspect.Parameter(name, keyword, default=default, annotation=bool)
                for name, default in switches(source).items()
            ),
        ],
        return_annotation=dict[str, Any],
    )

    def load_source(*args: Any, **kwargs: Any) -> dict[str, Any]:
        given = signature.bind(*args, **kwargs)
        given.apply_defaults()
        options = dict(given.arguments)
        return TASKS[source.name](options.pop("secret_block"), options)

    # Prefect reads the parameters from the signature, and a served deployment loads the flow
    # by its function's name from this module (``prefect_flow.py:mega_leads_flow``).
    load_source.__signature__ = signature  # type: ignore[attr-defined]
    load_source.__name__ = load_source.__qualname__ = f"{run_name(source)}_flow"
    load_source.__doc__ = source.description
    return flow(name=source.command)(load_source)


# Per registered source: its task and flow, the flows also as module attributes
# (``mega_leads_flow``, ``leads_v1_flow``) for a deployment's entrypoint.
TASKS = {name: load_task(source) for name, source in SOURCES.items()}
FLOWS = {name: load_flow(source) for name, source in SOURCES.items()}
globals().update({flow.fn.__name__: flow for flow in FLOWS.values()})


@task(
    name="mega_account",
    retries=len(RETRY_DELAYS),
    retry_delay_seconds=RETRY_DELAYS,
    retry_condition_fn=retry_if_it_can_help,
    cache_policy=NONE,
)
def mega_account_task(account: str, options: dict[str, Any]) -> dict[str, Any]:
    title = f"MEGA leads {account}"
    return load(title, mega_leads.run, None, {**options, "account": account}, title)


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


def crm_leads_flow_signature() -> inspect.Signature:
    """``crm_leads_flow``'s parameters: a Secret block per source (``mega_secret_block`` …),
    and the switches the sources' schedules set (``new_only``), for the sources that have it."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    blocks = [
        inspect.Parameter(f"{name}_secret_block", keyword, default=None, annotation=str | None)
        for name in SOURCES
    ]
    scheduled = {
        option: switches(source)[option]
        for source in SOURCES.values()
        for schedule in source.schedules
        for option in schedule.options
    }
    options = [
        inspect.Parameter(name, keyword, default=default, annotation=bool)
        for name, default in scheduled.items()
    ]
    return inspect.Signature([*blocks, *options], return_annotation=list[str])


CRM_LEADS_PARAMETERS = crm_leads_flow_signature()


def crm_leads(*args: Any, **kwargs: Any) -> list[str]:
    """Every registered source, then the dbt package's models (only when every load
    succeeded)."""
    given = CRM_LEADS_PARAMETERS.bind(*args, **kwargs)
    given.apply_defaults()
    for name, source in SOURCES.items():
        own = {key: value for key, value in given.arguments.items() if key in switches(source)}
        TASKS[name](given.arguments[f"{name}_secret_block"], own)
    return dbt_models_task()


crm_leads.__signature__ = CRM_LEADS_PARAMETERS  # type: ignore[attr-defined]
crm_leads.__name__ = crm_leads.__qualname__ = "crm_leads_flow"
crm_leads_flow = flow(name="crm-leads")(crm_leads)


def deployments() -> list[Any]:
    """Every registered source's schedules (orchestrators/cron.md), for ``serve``: deployments
    ``<source>-<schedule>`` (``mega-every-15-min``, ``leads-v1-nightly-full`` …)."""
    return [
        FLOWS[name].to_deployment(
            name=f"{name}_{schedule.name}".replace("_", "-"),
            cron=schedule.cron,
            parameters=dict(schedule.options),
        )
        for name, source in SOURCES.items()
        for schedule in source.schedules
    ]


if __name__ == "__main__":
    serve(*deployments())
