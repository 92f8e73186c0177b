"""Dagster: both sources as assets (``pip install -e ".[dagster]"``; ``dagster dev -m
orchestrators.dagster_defs``).

Two ways in, both here:

- ``<source>_leads`` for every source registered (``pipelines/registry.py``): ``mega_leads``
  and ``leads_v1_leads``, plain ``@asset``\\ s calling the runner's ``run()``: the recommended
  ones, each with a job ``<command>_job`` and the source's schedules ``<source>_<schedule>``
  (MEGA every 15 minutes; Leads v1 new leads hourly and a full sweep nightly, which also finds
  the leads deleted at the source); their run config is the run's switches.
- ``crm_leads_dbt_models``: the dbt package's models and tests (``dbt_package/``) as assets, by
  dagster-dbt: the staging models downstream of the load assets (each dbt source maps to the
  asset that loads it), the marts downstream of those; ``dbt build``, so a failed dbt test fails
  the step. Dagster needs the package's manifest: ``dagster dev`` makes it (``prepare_if_dev``);
  a deployment runs ``dagster-dbt project prepare-and-package --file
  orchestrators/dagster_defs.py`` when it builds (or ``dbt parse`` in ``dbt_package/``).
  Materialize it after the loads (``crm_leads_job`` runs loads then models).
- Many MEGA accounts (README: Many accounts), into PostgreSQL, two ways. ``mega_account_leads``:
  one partition per account configured (dynamic partitions, which ``mega_accounts_sensor`` adds
  hourly, asking a run for each): a run per account, a failed account a failed run of its own,
  its history and backfills per partition; how many at once is the run queue's
  ``max_concurrent_runs``. Or ``mega_all_accounts_job``: one run mapping a step over the
  accounts configured when it starts, ``ACCOUNTS_AT_ONCE`` steps at once, each in a process of
  its own (the multiprocess executor), a failed account a failed step of its own while the
  others load; each step marks its account's partition of ``mega_account_leads`` materialized.
  One run an hour instead of one per account; schedule one of the two, not both.
- ``mega_dlt_assets``, dagster-dlt's ``@dlt_assets`` over the thin ``mega`` dlt source: one
  ``pipeline.run(source)`` per materialization, into its own dataset ``mega_dagster`` so that it
  never shares state or tables with the runner's. Fine for a quick incremental copy; no schedule.

Why the runner is not a plain ``pipeline.run(source)`` (so not ``@dlt_assets``): it commits
data and state per checkpoint (one ``pipeline.run`` every N pages, so a run killed at page
9,000 resumes there), it first finishes a package an earlier run left pending, where
dagster-dlt drops the local pipeline state and pending packages before every run; it writes a
manifest row per run, reconciles deletes (MEGA ``reconcile``; Leads v1's full sweep) against
what the warehouse holds, and reads Leads v1's details only for new or changed leads. The thin
Leads v1 source knows nothing of the warehouse: it reads every lead's detail and sees no
deletes, so Leads v1 has no ``@dlt_assets`` variant here.

Secrets: environment variables of the code location (``dagster dev``: a ``.env`` file beside
the workspace; Dagster+: its environment variables; Kubernetes: a Secret as env), named as dlt
reads them: ``SOURCES__MEGA__API_TOKEN``, ``SOURCES__MEGA__CUSTOMER_ID``,
``SOURCES__LEADS_V1__API_TOKEN``, ``SOURCES__LEADS_V1__BASE_URL``, and
``DESTINATION__DUCKDB__CREDENTIALS`` (the DuckDB file); or ``dlt_config/secrets.toml``. dlt
reads them itself when the asset runs, so none is copied into Dagster config (``EnvVar``): no
value reaches run config or the event log, and an unused source's token need not be set.

Failures: an asset fails with ``Failure(description=<the run's one-line reason>)``, with the
partial result as metadata; ``allow_retries=False`` when a retry cannot help (bad settings, a
refused token: ``common.retryable``), else the asset's ``RetryPolicy`` retries it. A run
terminated from Dagster signals the step's process: the runner takes SIGINT/SIGTERM as on the
command line (commits the pages it has, then stops as "interrupted", not retried).

DuckDB allows one writer: the ``run()`` assets share the concurrency pool ``crm_duckdb``; give it
one slot (``dagster instance concurrency set crm_duckdb 1``, or ``concurrency: pools:
default_limit: 1`` in dagster.yaml) so two schedules never write the file at once.
"""

# No `from __future__ import annotations`: Dagster reads the asset functions' annotations (their
# context and resources), and cannot resolve them as strings.
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dlt
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    Definitions,
    DynamicOut,
    DynamicOutput,
    DynamicPartitionsDefinition,
    Failure,
    Field,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SensorResult,
    asset,
    define_asset_job,
    job,
    multiprocess_executor,
    op,
    sensor,
)
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.extract import DltSource

# common registers dlt_config/ with dlt on import: before any dlt source is built here.
from orchestrators.common import (
    SOURCES,
    Schedule,
    Source,
    asset_name,
    mega_accounts,
    retryable,
    run_name,
    runner,
    switches,
)
from pipelines import mega_leads
from pipelines.failures import explain
from pipelines.result import RunFailed, RunResult
from pipelines.views import PACKAGE
from sources.mega import mega

GROUP = "crm_leads"
POOL = "crm_duckdb"
# Outages and rate limits often pass within minutes; a run resumes from its last checkpoint.
RETRY = RetryPolicy(max_retries=2, delay=300)


def materialized(context: AssetExecutionContext, run: Callable[[], RunResult]) -> MaterializeResult:
    """One ``run()`` as a materialization, or a failed asset whose description is the run's
    one-line reason."""
    result = loaded(run)
    context.log.info(result.summary())
    return MaterializeResult(metadata=metadata(result))


def loaded(run: Callable[[], RunResult]) -> RunResult:
    """One ``run()``'s result, or ``Failure`` with the run's one-line reason."""
    try:
        return run()
    except RunFailed as exc:
        raise Failure(
            description=str(exc), metadata=metadata(exc.result), allow_retries=retryable(exc)
        ) from None
    except Exception as exc:  # bad settings (ConfigurationError …): nothing ran
        raise Failure(description=explain(exc), allow_retries=retryable(exc)) from None


def metadata(result: RunResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome,
        "leads": result.leads,
        "rows_loaded": MetadataValue.json(result.rows),
        "deleted_at_source": result.deleted,
        "checkpoints": result.checkpoints,
        "high_water_mark": result.high_water_mark_after or "",
        "run_id": MetadataValue.text(result.run_id),
        "summary": MetadataValue.text(result.summary()),
    }


def load_asset(source: Source) -> AssetsDefinition:
    """``source``'s leads through the checkpointed runner: asset ``<source>_leads``, its run
    config the run's switches (MEGA: ``reconcile``; Leads v1: ``new_only``, for the hourly
    schedule's cheap run of new leads only; both ``full_refresh``)."""
    run = runner(source)
    config = {
        name: Field(bool, default_value=default) for name, default in switches(source).items()
    }

    @asset(
        name=asset_name(source),
        description=source.description,
        config_schema=config,
        group_name=GROUP,
        pool=POOL,
        retry_policy=RETRY,
        kinds={"dlt"},
    )
    def load(context: AssetExecutionContext) -> MaterializeResult:
        return materialized(context, lambda: run(**context.op_config))

    return load


# Per registered source: its load asset, a job of it and the job's schedules.
LOADS = {name: load_asset(source) for name, source in SOURCES.items()}
JOBS = {
    name: define_asset_job(f"{run_name(source)}_job", selection=[LOADS[name]])
    for name, source in SOURCES.items()
}


def schedule(source: Source, when: Schedule) -> ScheduleDefinition:
    """``<source>_<schedule>``: ``mega_every_15_min``, ``leads_v1_nightly_full`` …"""
    options = {"ops": {asset_name(source): {"config": dict(when.options)}}}
    return ScheduleDefinition(
        name=f"{source.name}_{when.name}",
        job=JOBS[source.name],
        cron_schedule=when.cron,
        run_config=options if when.options else None,
    )


schedules = [schedule(source, when) for source in SOURCES.values() for when in source.schedules]


def _spec_source() -> DltSource:
    """The source ``@dlt_assets`` names its assets after when the code location loads. Built
    with stand-in credentials so that the location loads without secrets; the source that runs
    is made in the asset, from the real settings (a missing one fails that run, not the whole
    location)."""
    return mega(
        api_token="resolved-when-the-asset-runs", customer_id="00000000-0000-4000-8000-000000000000"
    )


# dlt's plain DuckDB destination; DESTINATION__DUCKDB__CREDENTIALS names the file (else
# mega_dagster.duckdb in the working directory). Created when the module loads, as dagster-dlt
# needs it then: its pipelines folder is dlt's default ($DLT_DATA_DIR/pipelines) at that time.
MEGA_DLT_PIPELINE = dlt.pipeline(
    pipeline_name="mega_dagster", destination="duckdb", dataset_name="mega_dagster"
)


# Resource key `dlt_resource`, not the docs' `dlt`: that name is the dlt module here.
@dlt_assets(
    dlt_source=_spec_source(), dlt_pipeline=MEGA_DLT_PIPELINE, name="mega_dlt", group_name=GROUP
)
def mega_dlt_assets(
    context: AssetExecutionContext, dlt_resource: DagsterDltResource
) -> Iterator[Any]:
    try:
        yield from dlt_resource.run(context=context, dlt_source=mega())
    except Exception as exc:
        # dlt wraps what the source raised in a multi-line PipelineStepFailed: keep the cause.
        raise Failure(description=explain(exc), allow_retries=retryable(exc)) from None


# The dbt package; its profile `duckdb` reads the file from DESTINATION__DUCKDB__CREDENTIALS,
# as the loads do.
DBT_PROJECT = DbtProject(project_dir=PACKAGE, profiles_dir=PACKAGE, profile="duckdb")
# The dbt of this environment, also when its bin folder is not on PATH (a venv not activated):
# dagster-dbt's own preparer would look for `dbt` on PATH only.
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
# The asset graph needs the manifest: `dbt parse` on a first load, and under `dagster dev`
# (models edited since) as dagster-dbt's `prepare_if_dev` would.
if os.getenv("DAGSTER_IS_DEV_CLI") or not DBT_PROJECT.manifest_path.exists():
    DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE).cli(
        ["parse", "--quiet"], target_path=DBT_PROJECT.target_path
    ).wait()
# dbt source -> the asset that loads it.
LOADED_BY = {name: load.key for name, load in LOADS.items()}


class LoadedSources(DagsterDbtTranslator):
    """dbt sources are the load assets (not assets of their own), so lineage runs load ->
    staging -> marts."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return LOADED_BY[dbt_resource_props["source_name"]]
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return GROUP


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    # A source's tables (leads, custom fields, the manifest) are all the one load asset's.
    dagster_dbt_translator=LoadedSources(
        settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
    ),
    name="crm_leads_dbt_models",
    pool=POOL,
)
def crm_leads_dbt_models(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    yield from dbt.cli(["build"], context=context).stream()


# Every load, then the models (Dagster orders them by the asset graph).
crm_leads_job = define_asset_job("crm_leads_job", selection=[*LOADS.values(), crm_leads_dbt_models])

# ----- many accounts (README: Many accounts): a partition or a step per MEGA account ---------

MEGA_ACCOUNTS = DynamicPartitionsDefinition(name="mega_accounts")
# Into a warehouse that takes several writers (DESTINATION__POSTGRES__CREDENTIALS): the
# partitions' runs load at once, each account its own pipeline, staging tables and budget.
ACCOUNTS_DESTINATION = "postgres"
ACCOUNTS_AT_ONCE = 4


@asset(
    name="mega_account_leads",
    partitions_def=MEGA_ACCOUNTS,
    group_name=GROUP,
    retry_policy=RETRY,
    kinds={"dlt"},
)
def mega_account_leads(context: AssetExecutionContext) -> MaterializeResult:
    """One MEGA account's leads changed since its last run: the partition key is the account."""
    account = context.partition_key
    return materialized(
        context, lambda: mega_leads.run(account=account, destination=ACCOUNTS_DESTINATION)
    )


# One run per partition; a backfill over the partitions (UI or `dagster asset backfill`) runs
# them under the instance's run queue: `max_concurrent_runs` (or a tag limit) says how many at
# once, each run its own process.
mega_accounts_job = define_asset_job("mega_accounts_job", selection=[mega_account_leads])


@sensor(job=mega_accounts_job, minimum_interval_seconds=3600)
def mega_accounts_sensor(context: SensorEvaluationContext) -> SensorResult:
    """Hourly: the accounts configured become partitions (a new one is backfilled by its first
    run), and each gets a run."""
    names = mega_accounts()
    known = set(context.instance.get_dynamic_partitions(MEGA_ACCOUNTS.name or ""))
    return SensorResult(
        run_requests=[RunRequest(partition_key=name, run_key=None) for name in names],
        dynamic_partitions_requests=[
            MEGA_ACCOUNTS.build_add_request([name for name in names if name not in known])
        ],
    )


# The other way: one run for every account configured, a step each (mapped over the accounts
# when the run starts), ACCOUNTS_AT_ONCE steps at once, each in a process of its own; a failed
# account is a failed step of its own. Each step records its account's partition of
# mega_account_leads as materialized, so both ways fill in the same partitions.
@op(name="mega_accounts", out=DynamicOut(str))
def mega_accounts_op() -> Iterator[DynamicOutput[str]]:
    for name in mega_accounts():
        yield DynamicOutput(name, mapping_key=name)


@op(retry_policy=RETRY)
def mega_account(context: OpExecutionContext, account: str) -> None:
    """One MEGA account's leads changed since its last run."""
    result = loaded(lambda: mega_leads.run(account=account, destination=ACCOUNTS_DESTINATION))
    context.log.info(result.summary())
    context.log_event(
        AssetMaterialization(mega_account_leads.key, partition=account, metadata=metadata(result))
    )


# forkserver: each step's process forks from one that loaded this module once (spawn would load
# Dagster, dlt and dbt's integration again in every step's process: ~3 s of CPU each).
ACCOUNTS_EXECUTOR = multiprocess_executor.configured(
    {"max_concurrent": ACCOUNTS_AT_ONCE, "start_method": {"forkserver": {}}}
)


@job(executor_def=ACCOUNTS_EXECUTOR)
def mega_all_accounts_job() -> None:
    mega_accounts_op().map(mega_account)


defs = Definitions(
    assets=[
        *LOADS.values(),
        crm_leads_dbt_models,
        mega_dlt_assets,
        mega_account_leads,
    ],
    jobs=[*JOBS.values(), crm_leads_job, mega_accounts_job, mega_all_accounts_job],
    schedules=schedules,
    sensors=[mega_accounts_sensor],
    resources={
        "dlt_resource": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE),
    },
)
