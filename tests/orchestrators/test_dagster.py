"""The Dagster example (orchestrators/dagster_defs.py), materialized in process with Dagster's
``materialize`` (the accounts job: ``execute_job``, in processes) against the simulators,
settings from the environment as a deployment sets them: rows in DuckDB equal the source's
leads; a failed run is a failed asset whose message is the run's one-line reason, not retried
when a retry cannot help."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import dagster
import duckdb
import pytest
from dagster_dlt import DagsterDltResource

import orchestrators.dagster_defs
from tests.helpers import Warehouse
from tests.helpers import assert_exact as assert_mega_exact
from tests.helpers.accounts import AccountsWarehouse
from tests.helpers.leads_v1 import V1Warehouse
from tests.helpers.leads_v1 import assert_exact as assert_v1_exact
from tests.orchestrators import assert_one_line_reason
from tests.orchestrators.conftest import ACCOUNTS, REVOKED

DBT_MODELS = {
    "stg_mega__leads",
    "stg_mega__custom_fields",
    "stg_leads_v1__leads",
    "current_leads",
    "lead_custom_fields_wide",
    "leads_by_day",
}


@pytest.fixture
def defs(mega_env: Warehouse) -> Iterator[ModuleType]:
    """The module loaded as Dagster loads it, with the test's environment: its dlt pipeline
    (made at import, as dagster-dlt needs) keeps its files in the test's folder."""
    yield importlib.reload(orchestrators.dagster_defs)


def materialize(asset: Any, **kwargs: Any) -> dagster.ExecuteInProcessResult:
    resources = {"dlt_resource": DagsterDltResource()}
    return dagster.materialize([asset], resources=resources, raise_on_error=False, **kwargs)


def failure(result: dagster.ExecuteInProcessResult) -> dagster.DagsterEvent:
    assert not result.success
    failures = result.get_step_failure_events()
    assert len(failures) == 1
    # Failed without a retry: a retry cannot fix what these tests break.
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert retried == []
    return failures[0]


def reason(event: dagster.DagsterEvent) -> str:
    data = event.step_failure_data
    assert data is not None and data.user_failure_data is not None
    description = data.user_failure_data.description
    assert description is not None
    return description


def leads_v1_config(new_only: bool) -> dict[str, Any]:
    return {"ops": {"leads_v1_leads": {"config": {"new_only": new_only}}}}


def test_definitions_load_with_their_schedules(defs: ModuleType) -> None:
    dagster.Definitions.validate_loadable(defs.defs)
    repo = defs.defs.get_repository_def()
    assert {s.name: s.cron_schedule for s in repo.schedule_defs} == {
        "mega_every_15_min": "*/15 * * * *",
        "leads_v1_hourly_new_only": "5 * * * *",
        "leads_v1_nightly_full": "30 2 * * *",
    }
    jobs = {job.name for job in repo.get_all_jobs() if not job.name.startswith("__")}
    assert jobs == {
        "mega_leads_job",
        "leads_v1_job",
        "crm_leads_job",
        "mega_accounts_job",
        "mega_all_accounts_job",
    }
    assert [sensor.name for sensor in repo.sensor_defs] == ["mega_accounts_sensor"]
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert keys == {
        "mega_leads",
        "leads_v1_leads",
        "dlt_mega_leads",
        "mega_account_leads",
        *DBT_MODELS,
    }


def test_asset_graph_runs_load_then_staging_then_marts(defs: ModuleType) -> None:
    graph = defs.defs.get_repository_def().asset_graph

    def upstream(key: str) -> set[str]:
        return {k.to_user_string() for k in graph.get(dagster.AssetKey(key)).parent_keys}

    assert upstream("stg_mega__leads") == {"mega_leads"}
    assert upstream("stg_mega__custom_fields") == {"mega_leads"}
    assert upstream("stg_leads_v1__leads") == {"leads_v1_leads"}
    assert upstream("current_leads") == {"stg_mega__leads", "stg_leads_v1__leads"}
    assert upstream("lead_custom_fields_wide") == {"stg_mega__leads", "stg_mega__custom_fields"}
    assert upstream("leads_by_day") == {"current_leads"}


def test_crm_leads_job_loads_both_sources_then_builds_the_models(
    defs: ModuleType, mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    job = defs.defs.get_job_def("crm_leads_job")

    result = job.execute_in_process(raise_on_error=False)

    assert result.success
    counts = mega_env.query(
        "SELECT source_system, COUNT(*) FROM crm_leads.current_leads GROUP BY 1 ORDER BY 1"
    )
    assert counts == [("leads_v1", 450), ("mega", 350)]
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert built == {"mega_leads", "leads_v1_leads", *DBT_MODELS}


def test_a_failed_dbt_test_fails_the_models_step(
    defs: ModuleType, mega_env: Warehouse, v1_env: V1Warehouse
) -> None:
    assert materialize(defs.LOADS["mega"]).success
    assert materialize(defs.LOADS["leads_v1"], run_config=leads_v1_config(False)).success
    with duckdb.connect(str(mega_env.path)) as con:
        con.execute("INSERT INTO mega.leads SELECT * FROM mega.leads LIMIT 1")

    result = dagster.materialize(
        [defs.crm_leads_dbt_models], resources=defs.defs.resources, raise_on_error=False
    )

    assert not result.success
    checks = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    failed = {check.check_name for check in checks if not check.passed}
    assert failed == {"unique_stg_mega__leads_lead_id"}


def test_mega_asset_loads_every_lead(mega_env: Warehouse) -> None:
    mega_leads_asset = orchestrators.dagster_defs.LOADS["mega"]

    result = materialize(mega_leads_asset)

    assert result.success
    assert len(mega_env.leads()) == len(mega_env.sim.store.snapshot()) == 350
    assert_mega_exact(mega_env, mega_env.sim)
    metadata = result.asset_materializations_for_node("mega_leads")[0].metadata
    assert metadata["leads"].value == 350
    assert metadata["outcome"].value == "success"


def test_leads_v1_asset_new_only_then_nightly_full_sweep(v1_env: V1Warehouse) -> None:
    leads_v1_asset = orchestrators.dagster_defs.LOADS["leads_v1"]

    store = v1_env.sim.store
    assert materialize(leads_v1_asset, run_config=leads_v1_config(True)).success
    assert len(v1_env.live()) == len(store.leads()) == 450

    gone = store.leads()[0]["id"]
    store.delete(gone)
    result = materialize(leads_v1_asset, run_config=leads_v1_config(False))

    assert result.success
    assert len(v1_env.live()) == len(store.leads()) == 449
    assert v1_env.rows()[gone]["_deleted_at"] is not None
    assert_v1_exact(v1_env, v1_env.sim)
    metadata = result.asset_materializations_for_node("leads_v1_leads")[0].metadata
    assert metadata["deleted_at_source"].value == 1


def test_mega_dlt_assets_load_every_lead_into_their_own_dataset(
    defs: ModuleType, mega_env: Warehouse
) -> None:
    for _ in range(2):  # the second run: incremental, nothing doubled
        result = materialize(defs.mega_dlt_assets)
        assert result.success
        with duckdb.connect(str(mega_env.path), read_only=True) as con:
            rows = con.sql("SELECT count(*), count(DISTINCT id) FROM mega_dagster.leads").fetchall()
        assert rows == [(350, 350)]
    assert "leads" not in mega_env.tables()  # the runner's dataset `mega` is left alone


@pytest.mark.parametrize("variant", ["mega_leads", "mega_dlt_assets"])
def test_mega_refused_token_fails_the_asset_with_the_reason(
    defs: ModuleType, mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    monkeypatch.setenv("SOURCES__MEGA__API_TOKEN", "not-the-token")
    asset = defs.LOADS["mega"] if variant == "mega_leads" else defs.mega_dlt_assets

    event = failure(materialize(asset))

    assert_one_line_reason(reason(event), "authentication failed (401")
    assert "Invalid API key" in reason(event)
    assert len(mega_env.sim.requests) == 1  # one request, no retry


def test_leads_v1_refused_token_fails_the_asset_with_the_reason(
    v1_env: V1Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    leads_v1_asset = orchestrators.dagster_defs.LOADS["leads_v1"]

    monkeypatch.setenv("SOURCES__LEADS_V1__API_TOKEN", "not-the-token")

    event = failure(materialize(leads_v1_asset, run_config=leads_v1_config(True)))

    assert_one_line_reason(reason(event), "authentication failed (401")
    # The partial result rides along: the operator sees how far it got.
    data = event.step_failure_data
    assert data is not None and data.user_failure_data is not None
    assert data.user_failure_data.metadata["outcome"].value == "failed"


def test_missing_setting_fails_the_asset_naming_it(
    mega_env: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    mega_leads_asset = orchestrators.dagster_defs.LOADS["mega"]

    monkeypatch.delenv("SOURCES__MEGA__CUSTOMER_ID")

    event = failure(materialize(mega_leads_asset))

    assert_one_line_reason(reason(event), "customer_id", "SOURCES__MEGA__CUSTOMER_ID")
    assert mega_env.sim.requests == []


def test_account_partitions_load_each_account_and_a_revoked_one_fails_alone(
    defs: ModuleType, accounts_pg: AccountsWarehouse
) -> None:
    """The sensor makes a partition per account configured and asks a run for each; each
    partition's run loads its account into PostgreSQL, the revoked one fails on its own."""
    with dagster.instance_for_test() as instance:
        context = dagster.build_sensor_context(instance=instance)
        evaluated = defs.mega_accounts_sensor(context)
        assert isinstance(evaluated, dagster.SensorResult)
        [added] = evaluated.dynamic_partitions_requests or []
        assert sorted(added.partition_keys) == sorted(ACCOUNTS)
        instance.add_dynamic_partitions("mega_accounts", list(added.partition_keys))
        requested = [request.partition_key for request in evaluated.run_requests or []]
        assert sorted(requested) == sorted(ACCOUNTS)

        outcomes = {
            name: materialize(defs.mega_account_leads, partition_key=name, instance=instance)
            for name in requested
        }

    assert {name for name, result in outcomes.items() if not result.success} == {REVOKED}
    assert_one_line_reason(reason(failure(outcomes[REVOKED])), "401", REVOKED.upper())
    live = [name for name in ACCOUNTS if name != REVOKED]
    assert accounts_pg.loaded() == accounts_pg.truth(live)


def test_a_source_registered_gets_its_asset_job_and_schedules(
    third_source: Any, v1_env: V1Warehouse
) -> None:
    """``dagster_defs`` loops over the registry: a third entry gets an asset, a job and its
    schedules, its run config the run's switches, with no line of the module naming it."""
    defs = importlib.reload(orchestrators.dagster_defs)
    dagster.Definitions.validate_loadable(defs.defs)
    repo = defs.defs.get_repository_def()
    third = [s for s in repo.schedule_defs if s.name.startswith("leads_v2_")]
    assert {s.name: (s.cron_schedule, s.job_name) for s in third} == {
        "leads_v2_hourly": ("15 * * * *", "leads_v2_job"),
        "leads_v2_nightly_full": ("0 3 * * *", "leads_v2_job"),
    }
    ticks = {s.name: s.evaluate_tick(dagster.build_schedule_context()) for s in third}
    assert {name: [r.run_config for r in t.run_requests or []] for name, t in ticks.items()} == {
        "leads_v2_hourly": [{}],
        "leads_v2_nightly_full": [{"ops": {"leads_v2_leads": {"config": {"new_only": False}}}}],
    }
    job = repo.get_job("leads_v2_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"leads_v2_leads"}

    config = {"ops": {"leads_v2_leads": {"config": {"new_only": True}}}}
    result = materialize(defs.LOADS["leads_v2"], run_config=config)

    assert result.success
    assert (
        result.asset_materializations_for_node("leads_v2_leads")[0].metadata["leads"].value == 450
    )
    with duckdb.connect(str(v1_env.path), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM leads_v2.leads").fetchall() == [(450,)]


def test_all_accounts_job_loads_accounts_at_once_in_processes_and_a_revoked_one_fails_alone(
    defs: ModuleType, accounts_pg: AccountsWarehouse
) -> None:
    """``mega_all_accounts_job`` run by Dagster itself (``execute_job``, an instance on disk):
    a step per account, the multiprocess executor running several at once, each in a process
    of its own that loads the code location again, as a deployment runs it."""
    with dagster.instance_for_test() as instance:
        result = dagster.execute_job(
            dagster.reconstructable(defs.mega_all_accounts_job), instance=instance
        )
        records = instance.all_logs(result.run_id)

    assert not result.success
    [failed] = result.get_step_failure_events()
    assert failed.step_key == f"mega_account[{REVOKED}]"
    assert_one_line_reason(reason(failed), "401", REVOKED.upper())
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    live = [name for name in ACCOUNTS if name != REVOKED]
    assert accounts_pg.loaded() == accounts_pg.truth(live)
    materialized = {e.partition for e in result.get_asset_materialization_events()}
    assert materialized == set(live)  # mega_account_leads' partitions

    steps = step_spans(records, "mega_account[")
    assert len(steps) == len(ACCOUNTS)
    assert len({pid for _, _, pid in steps.values()}) == len(ACCOUNTS)  # a process each
    assert os.getpid() not in {pid for _, _, pid in steps.values()}
    assert 2 <= most_at_once(steps.values()) <= defs.ACCOUNTS_AT_ONCE


def step_spans(records: Any, prefix: str) -> dict[str, tuple[float, float, int]]:
    """Each step whose key starts with ``prefix``: when it started and ended, and the process
    that ran it, from the run's event log."""
    spans: dict[str, Any] = {}
    for record in records:
        event = record.dagster_event
        if event is None or not (event.step_key or "").startswith(prefix):
            continue
        if event.event_type_value == "STEP_START":
            spans[event.step_key] = [record.timestamp, None, event.pid]
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            spans[event.step_key][1] = record.timestamp
    return {key: (start, end, pid) for key, (start, end, pid) in spans.items()}


def most_at_once(spans: Any) -> int:
    """The most steps running at one moment."""
    moments = sorted(
        [(start, 1) for start, _, _ in spans] + [(end, -1) for _, end, _ in spans],
        key=lambda moment: (moment[0], moment[1]),  # an end before a start at the same time
    )
    running = most = 0
    for _, change in moments:
        running += change
        most = max(most, running)
    return most
