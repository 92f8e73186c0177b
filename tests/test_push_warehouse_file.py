"""One DuckDB file, whatever the working directory: a relative DESTINATION__DUCKDB__CREDENTIALS
(default mega_leads.duckdb) is taken from the project folder (the one holding the settings
folder), by runs and pushes alike; summaries and errors name it whole; the files a push makes
are in the runs' storage format, which the DuckDB 1.5 CLI opens."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest

from push_targets.mega import mega as mega_destination
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock, SimulatorServer
from tests.helpers import CLOCK_START, PROJECT, make_sim
from tests.helpers.push import ledger, writes

DUCKDB_CLI = Path(sys.executable).parent / "duckdb"  # the duckdb-cli package: DuckDB 1.5


def duckdb_cli(path: Path, sql: str) -> str:
    done = subprocess.run(
        [str(DUCKDB_CLI), "-readonly", "-csv", "-noheader", str(path), sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def target() -> Iterator[SimulatorServer]:
    with SimulatorServer(n_leads=0) as server:
        yield server


def run_in(
    folder: Path, env: dict[str, str], module: str, *args: str
) -> subprocess.CompletedProcess[str]:
    folder.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**env, "PYTHONPATH": str(PROJECT)},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_runs_and_pushes_from_any_folder_use_the_one_file_of_the_project(
    tmp_path: Path, target: SimulatorServer
) -> None:
    project = tmp_path / "project"
    (project / "dlt_config").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(
        MEGA_DLT_CONFIG_DIR=str(project / "dlt_config"),
        DLT_DATA_DIR=str(tmp_path / "dlt"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        SOURCES__MEGA__CUSTOMER_ID=DEFAULT_CUSTOMER_ID,
        SOURCES__MEGA__API_TOKEN=DEFAULT_TOKEN,
        DESTINATION__MEGA__BASE_URL=target.url,
        DESTINATION__MEGA__API_TOKEN=DEFAULT_TOKEN,
        DESTINATION__MEGA__CUSTOMER_ID=DEFAULT_CUSTOMER_ID,
    )
    warehouse = project / "mega_leads.duckdb"
    query = "SELECT id, contact_name, contact_email FROM mega.leads WHERE contact_email > ''"
    push_args = ("--target", "mega", "--query", query + " ORDER BY id LIMIT 5")

    early = run_in(tmp_path / "b", env, "pipelines.push", *push_args)  # before any run

    assert early.returncode == 2
    assert f"the DuckDB file {warehouse} does not exist" in early.stderr
    assert not warehouse.exists() and list((tmp_path / "b").iterdir()) == []

    with make_sim(ManualClock(CLOCK_START), 40) as source:
        loaded = run_in(
            tmp_path / "a", {**env, "SOURCES__MEGA__BASE_URL": source.url}, "pipelines.mega_leads"
        )
    assert loaded.returncode == 0, loaded.stderr
    assert str(warehouse) in loaded.stdout

    pushed = run_in(tmp_path / "b", env, "pipelines.push", *push_args)

    assert pushed.returncode == 0, pushed.stderr
    assert f"the ledger in {warehouse}" in pushed.stdout and "5 created" in pushed.stdout
    assert len(writes(target)) == 5 and len(ledger(warehouse, "mega")) == 5
    assert list((tmp_path / "a").iterdir()) == [] and list((tmp_path / "b").iterdir()) == []
    # The DuckDB 1.5 CLI opens the file the run made and the push wrote its ledger into.
    assert duckdb_cli(warehouse, "SELECT count(*) FROM push._push_ledger") == "5"
    assert duckdb_cli(warehouse, "SELECT count(*) FROM mega.leads") == "40"


def test_the_dlt_destinations_ledger_is_a_file_the_duckdb_cli_opens(
    tmp_path: Path, target: SimulatorServer
) -> None:
    destination = mega_destination(
        base_url=target.url,
        api_token=DEFAULT_TOKEN,
        customer_id=DEFAULT_CUSTOMER_ID,
        field_map="contact_name=name",
        key_column="key",
        ledger_path=str(tmp_path / "ledger.duckdb"),
    )
    pipeline = dlt.pipeline("cli_reads", destination=destination, pipelines_dir=str(tmp_path / "p"))

    pipeline.run([{"key": "k1", "name": "Ana"}], table_name="people")

    assert (
        duckdb_cli(tmp_path / "ledger.duckdb", "SELECT status FROM push._push_ledger") == "created"
    )
