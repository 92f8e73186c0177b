"""The contract orchestrators build on: CLI, exit codes, config names, filters, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dlt
import pytest

from pipelines.mega_leads import run
from pipelines.registry import SOURCES
from pipelines.result import RunFailed
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from sources.core.errors import ConfigurationError
from tests.helpers import (
    PROJECT,
    Warehouse,
    assert_matches_source,
    clean_cli_env,
    list_requests,
    run_cli_clean,
)


def test_help_lists_the_documented_options() -> None:
    result = run_cli_clean(["--help"], {})
    assert result.returncode == 0
    for option in (
        "--destination",
        "--dataset",
        "--full-refresh",
        "--initial-updated-since",
        "--status",
        "--stage-id",
        "--lead-line",
        "--search",
        "--created-since",
        "--reconcile",
        "--lookback",
        "--workers",
    ):
        assert option in result.stdout


def test_cli_loads_with_settings_from_environment(sim: SimulatorServer, tmp_path: Path) -> None:
    result = run_cli_clean([], clean_cli_env(sim, tmp_path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("success: 350 leads in 4 pages")
    assert "checkpoint 1" in result.stderr  # progress while paging
    warehouse = Warehouse(tmp_path, sim)
    assert_matches_source(warehouse, sim)
    assert (tmp_path / "dlt" / "pipelines" / "mega_leads" / "state.json").exists()

    again = run_cli_clean([], clean_cli_env(sim, tmp_path))  # nothing changed: one page
    assert again.stdout.startswith("success: 0 leads in 1 page into "), again.stdout


def test_any_registered_source_runs_as_python_m_pipelines(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    """``python -m pipelines <source>`` is the source's own command, under its name."""
    result = run_cli_clean(["mega"], clean_cli_env(sim, tmp_path), module="pipelines")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("success: 350 leads in 4 pages")
    assert_matches_source(Warehouse(tmp_path, sim), sim)
    unknown = run_cli_clean(["megaa"], {}, module="pipelines")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "python -m pipelines: the first argument names the source "
        f"({', '.join(SOURCES)}), got 'megaa'"
    ]


def test_cli_fails_in_one_line_on_bad_token(sim: SimulatorServer, tmp_path: Path) -> None:
    token = "mega_" + "f" * 64
    result = run_cli_clean([], clean_cli_env(sim, tmp_path, token=token))

    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("mega-leads: error: authentication failed (401 authentication_error)")
    )
    assert token not in result.stderr + result.stdout
    assert [r.status for r in sim.requests] == [401]  # 401 is not retried


def test_cli_names_the_missing_setting(sim: SimulatorServer, tmp_path: Path) -> None:
    env = clean_cli_env(sim, tmp_path)
    del env["SOURCES__MEGA__API_TOKEN"]
    result = run_cli_clean([], env)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "mega-leads: error: missing api_token: set SOURCES__MEGA__API_TOKEN or `api_token` "
        f"under [sources.mega] in {PROJECT / 'dlt_config' / 'secrets.toml'}"
    )
    assert sim.requests == []


def test_settings_come_from_the_dlt_config_folder(sim: SimulatorServer, tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "config.toml").write_text(
        f'[sources.mega]\nbase_url = "{sim.url}"\ncustomer_id = "{DEFAULT_CUSTOMER_ID}"\n'
    )
    (folder / "secrets.toml").write_text(f'[sources.mega]\napi_token = "{DEFAULT_TOKEN}"\n')
    env = {
        "MEGA_DLT_CONFIG_DIR": str(folder),
        "DESTINATION__DUCKDB__CREDENTIALS": str(tmp_path / "leads.duckdb"),
        "DLT_DATA_DIR": str(tmp_path / "dlt"),
    }
    result = run_cli_clean(["--quiet"], env)

    assert result.returncode == 0, result.stderr
    assert_matches_source(Warehouse(tmp_path, sim), sim)


def test_auth_errors_leave_warehouse_and_state_untouched(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    sim.store.touch(5, seed=1)
    before = (warehouse.leads(), warehouse.custom_fields(), warehouse.state())

    with pytest.raises(RunFailed, match=r"^authentication failed \(401"):
        warehouse.run(api_token="mega_" + "0" * 64)
    with pytest.raises(RunFailed, match=r"^not authorized \(403 authorization_error\)"):
        warehouse.run(customer_id="00000000-0000-4000-8000-000000000999")

    assert (warehouse.leads(), warehouse.custom_fields(), warehouse.state()) == before
    assert warehouse.run().leads >= 5  # the next good run picks the changes up


def test_filters_are_sent_and_keep_their_own_state(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    stage = sim.store.snapshot()[0]["current_stage"] or sim.store.stages[0]
    result = warehouse.run(status="active", stage_id=stage["id"], lead_line="buyer")

    query = list_requests(sim)[0]
    assert (query["status"], query["stageId"], query["lead_line"]) == (
        "active",
        stage["id"],
        "buyer",
    )
    loaded = warehouse.leads()
    assert loaded and all(row["status"] == "active" for row in loaded.values())
    assert result.stream and result.stream.startswith("filtered_")
    sim.clear_requests()

    unfiltered = warehouse.run()

    assert "updated_since" not in list_requests(sim)[0]  # no mark earned under other filters
    assert unfiltered.leads == 350
    assert_matches_source(warehouse, sim)


def test_initial_updated_since_starts_the_backfill(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    since = "2025-09-01T00:00:00Z"
    warehouse.run(initial_updated_since=since)

    assert list_requests(sim)[0]["updated_since"] == "2025-09-01T00:00:00.000Z"
    expected = {x["id"] for x in sim.store.snapshot() if x["updated_at"] >= "2025-09-01T00"}
    assert set(warehouse.leads()) == expected


def test_full_refresh_reloads_everything(warehouse: Warehouse, sim: SimulatorServer) -> None:
    warehouse.run()
    gone = sim.store.ids()[0]
    sim.store.delete(gone)
    sim.clear_requests()

    result = warehouse.run(full_refresh=True)

    assert "updated_since" not in list_requests(sim)[0]
    assert result.leads == 349
    assert_matches_source(warehouse, sim)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lead_line": "both"}, "lead_line must be 'buyer' or 'seller'"),
        ({"initial_updated_since": "yesterday"}, "initial_updated_since must be an ISO-8601"),
        ({"lookback": "a while"}, "lookback must be a duration"),
        ({"base_url": "http://crm.example.com"}, "plain http:// on a non-loopback host"),
        ({"customer_id": ""}, "missing customer_id: set SOURCES__MEGA__CUSTOMER_ID"),
    ],
)
def test_bad_settings_fail_before_any_request(
    warehouse: Warehouse, sim: SimulatorServer, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        warehouse.run(**options)
    assert sim.requests == []


def test_duckdb_file_named_like_the_dataset_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sim: SimulatorServer
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "mega.duckdb"))
    with pytest.raises(ConfigurationError, match="named like the dataset 'mega'"):
        run(
            dataset_name="mega",
            base_url=sim.url,
            api_token=DEFAULT_TOKEN,
            customer_id=DEFAULT_CUSTOMER_ID,
            pipelines_dir=str(tmp_path),
        )


def test_any_dlt_destination_is_accepted(tmp_path: Path, sim: SimulatorServer) -> None:
    destination = dlt.destinations.duckdb(str(tmp_path / "other.duckdb"))
    result = run(
        destination=destination,
        dataset_name="crm",
        pipelines_dir=str(tmp_path / "p"),
        base_url=sim.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
    )
    assert (result.destination, result.dataset_name, result.leads) == ("duckdb", "crm", 350)


def test_a_bad_duckdb_memory_limit_is_a_config_error_not_a_connection_error(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    env = clean_cli_env(sim, tmp_path) | {"DESTINATION__DUCKDB__MEMORY_LIMIT": "lots"}
    done = run_cli_clean([], env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "mega-leads: error: memory_limit must be a size such as '16MB' or '1GB', got 'lots' "
        "(setting DESTINATION__DUCKDB__MEMORY_LIMIT)"
    )
    assert sim.requests == []


def test_an_unknown_status_is_refused_with_the_values_003_lists(
    sim: SimulatorServer, tmp_path: Path, warehouse: Warehouse
) -> None:
    result = run_cli_clean(["--status", "open"], clean_cli_env(sim, tmp_path))
    assert result.returncode == 2
    assert "invalid choice: 'open'" in result.stderr
    assert "'active', 'won', 'lost', 'nurture', 'archived'" in result.stderr
    with pytest.raises(ConfigurationError) as refused:
        warehouse.run(status="open")
    assert str(refused.value) == (
        "status must be one of active, won, lost, nurture, archived, got 'open' "
        "(setting SOURCES__MEGA__STATUS)"
    )
    assert sim.requests == []


def test_a_filtered_backfill_that_matches_nothing_names_the_filter(
    warehouse: Warehouse, sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="crm_leads"):
        result = warehouse.run(stage_id="00000000-0000-4000-8000-00000000dead")
    assert result.leads == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "the filters stage_id='00000000-0000-4000-8000-00000000dead' match no lead, "
        "though the API holds leads: check their values"
    ]
    probe = list_requests(sim)[-1]
    assert "stageId" not in probe and probe["limit"] == "1"


def test_a_filtered_backfill_that_loads_leads_warns_nothing(
    warehouse: Warehouse, sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="crm_leads"):
        result = warehouse.run(status="won")
    assert result.leads > 0
    assert [r for r in caplog.records if r.levelname == "WARNING"] == []
    assert all(query.get("status") == "won" for query in list_requests(sim))


@pytest.mark.parametrize("where", ["environment", "secrets.toml"])
def test_a_refused_token_names_its_variable_and_where_it_was_read(
    sim: SimulatorServer, tmp_path: Path, where: str
) -> None:
    token = "mega_" + "f" * 64
    env = clean_cli_env(sim, tmp_path, token=token)
    if where == "environment":
        origin = "read from the environment"
    else:
        folder = tmp_path / "conf"
        folder.mkdir()
        (folder / "config.toml").write_text("")
        (folder / "secrets.toml").write_text(f'[sources.mega]\napi_token = "{token}"\n')
        del env["SOURCES__MEGA__API_TOKEN"]
        env["MEGA_DLT_CONFIG_DIR"] = str(folder)
        origin = f"read from {folder.resolve() / 'secrets.toml'}"
    result = run_cli_clean(["--quiet"], env)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "mega-leads: error: authentication failed (401 authentication_error): Invalid API key. "
        f"[probing the newest lead]; check SOURCES__MEGA__API_TOKEN ({origin})"
    )
    assert token not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("flag", "value", "line"),
    [
        (
            "--lookback",
            "15x",
            "lookback must be a duration like 900, '15m', '2h' or 'PT15M', got '15x' "
            "(setting SOURCES__MEGA__LOOKBACK)",
        ),
        (
            "--initial-updated-since",
            "yesterday",
            "initial_updated_since must be an ISO-8601 timestamp like 2026-01-01T00:00:00Z, "
            "got 'yesterday' (setting SOURCES__MEGA__INITIAL_UPDATED_SINCE)",
        ),
    ],
)
def test_a_bad_setting_value_names_its_variable(
    sim: SimulatorServer, tmp_path: Path, flag: str, value: str, line: str
) -> None:
    result = run_cli_clean([flag, value], clean_cli_env(sim, tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"mega-leads: error: {line}"
    assert sim.requests == []


def test_help_shows_the_defaults_of_dataset_and_pipeline_name() -> None:
    shown = " ".join(run_cli_clean(["--help"], {}).stdout.split())
    assert "dataset / schema to load into (default mega)" in shown
    assert "dlt pipeline, its state and working folder (default mega_leads)" in shown


def test_views_help_reads_as_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pipelines.views", "--help"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0
    assert shown.stdout.startswith("usage: python -m pipelines.views ")
    assert "``" not in shown.stdout
