"""The DuckDB warehouse: its settings checked before anything runs, one clear line when the file
cannot be opened, and a file the DuckDB CLI and BI tools (DuckDB 1.x) can open."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from simulators.mega import SimulatorServer
from sources.core.errors import ConfigurationError
from tests.helpers import (
    PROJECT,
    FileLocker,
    Warehouse,
    assert_matches_source,
    cli_env,
    list_requests,
    run_cli,
)
from warehouses import resolve_warehouse
from warehouses.duckdb import DuckDbWarehouse

THREADS = max(1, (os.cpu_count() or 2) // 2)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The run's only line on stderr, which must be its error."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("mega-leads: error: "), lines[0]
    return lines[0].removeprefix("mega-leads: error: ")


# ----- settings, checked before anything runs --------------------------------------------------


def test_default_duckdb_settings_and_their_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "leads.duckdb"))
    default = resolve_warehouse(None, "mega").destination
    parquet = default.capabilities().parquet_format
    assert (parquet.compression, parquet.row_group_size) == ("none", DuckDbWarehouse.row_group)
    assert default.config_params["credentials"].global_config == {
        "memory_limit": "128MB",
        "threads": THREADS,
    }

    monkeypatch.setenv("DESTINATION__DUCKDB__MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("DESTINATION__DUCKDB__THREADS", "3")
    overridden = resolve_warehouse("duckdb", "mega").destination
    assert overridden.config_params["credentials"].global_config == {
        "memory_limit": "1GB",
        "threads": 3,
    }


def _duckdb_settings(destination: Any, tmp_path: Path) -> tuple[str, str, int]:
    """The settings DuckDB itself reports on a connection the pipeline opens (the statements
    and global config as dlt applies them, dlt's own included)."""
    pipeline = dlt.pipeline(
        "settings_probe",
        destination=destination,
        dataset_name="mega",
        pipelines_dir=str(tmp_path / "p"),
    )
    with pipeline.sql_client() as client:
        rows = client.execute_sql(
            "SELECT current_setting('checkpoint_threshold'), current_setting('memory_limit'), "
            "current_setting('threads')"
        )
    assert rows is not None
    threshold, memory, threads = rows[0]
    return str(threshold), str(memory), int(threads)


def test_duckdb_connections_get_the_connectors_settings_over_dlts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "leads.duckdb"))
    # DuckDB's own 16 MB (dlt would set 1 GB, shown as 953.6 MiB); 128 MB shows as 122.0 MiB.
    assert _duckdb_settings(resolve_warehouse(None, "mega").destination, tmp_path) == (
        "15.2 MiB",
        "122.0 MiB",
        THREADS,
    )

    monkeypatch.setenv("DESTINATION__DUCKDB__CHECKPOINT_THRESHOLD", "1GB")
    assert _duckdb_settings(resolve_warehouse(None, "mega").destination, tmp_path)[0] == "953.6 MiB"

    monkeypatch.setenv("DESTINATION__DUCKDB__CHECKPOINT_THRESHOLD", "16MB'; DROP TABLE x; --")
    with pytest.raises(ConfigurationError, match="checkpoint_threshold must be a size"):
        resolve_warehouse(None, "mega")


@pytest.mark.parametrize("threads", ["two", "0", "-1", "1.5"])
def test_a_bad_thread_count_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, threads: str
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "leads.duckdb"))
    monkeypatch.setenv("DESTINATION__DUCKDB__THREADS", threads)
    with pytest.raises(ConfigurationError) as refused:
        resolve_warehouse(None, "mega")
    assert str(refused.value) == (
        f"threads must be a whole number of at least 1, got {threads!r} "
        "(setting DESTINATION__DUCKDB__THREADS)"
    )


def test_an_unknown_storage_version_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / "leads.duckdb"))
    monkeypatch.setenv("DESTINATION__DUCKDB__STORAGE_VERSION", "1.0")
    with pytest.raises(ConfigurationError, match="DESTINATION__DUCKDB__STORAGE_VERSION"):
        resolve_warehouse(None, "mega")


@pytest.mark.parametrize(
    ("file_name", "dataset"),
    [("Mega.duckdb", "mega"), ("my_data.duckdb", "My Data"), (".mega.v2.duckdb", "MEGA")],
)
def test_a_file_named_like_the_dataset_as_duckdb_compares_them_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_name: str, dataset: str
) -> None:
    monkeypatch.setenv("DESTINATION__DUCKDB__CREDENTIALS", str(tmp_path / file_name))
    with pytest.raises(ConfigurationError, match=f"named like the dataset {dataset!r}"):
        resolve_warehouse(None, dataset)


def test_resolving_the_destination_creates_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DESTINATION__DUCKDB__CREDENTIALS", raising=False)
    resolve_warehouse(None, "mega")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (
            ["--dataset", ""],
            {},
            "the dataset name must not be empty, got '' (--dataset, or dataset_name in Python); "
            "give one such as 'mega'",
        ),
        (
            ["--dataset", "My Data"],
            {"DESTINATION__DUCKDB__CREDENTIALS": "{tmp}/my_data.duckdb"},
            "the DuckDB file '{tmp}/my_data.duckdb' is named like the dataset 'My Data' (schema "
            "'my_data'); DuckDB then cannot tell its catalog from the schema and the load fails. "
            "Pick another file name (DESTINATION__DUCKDB__CREDENTIALS) or dataset (--dataset)",
        ),
        (
            [],
            {"DESTINATION__DUCKDB__THREADS": "two"},
            "threads must be a whole number of at least 1, got 'two' "
            "(setting DESTINATION__DUCKDB__THREADS)",
        ),
    ],
)
def test_cli_stops_on_a_bad_warehouse_setting_before_anything_runs(
    tmp_path: Path,
    sim: SimulatorServer,
    args: list[str],
    extra_env: dict[str, str],
    message: str,
) -> None:
    env = cli_env(sim, tmp_path) | {k: v.format(tmp=tmp_path) for k, v in extra_env.items()}
    done = run_cli(env, *args)
    assert done.returncode == 2
    assert error_line(done) == message.format(tmp=tmp_path)
    assert sim.requests == []
    # No DuckDB file, no pipeline (so no package left pending).
    assert sorted(path.name for path in tmp_path.iterdir()) == []


# ----- a DuckDB file that cannot be opened: one line, the path, DuckDB's reason --------------


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` made read-only even for root (immutable: root ignores file modes)."""
    if os.geteuid() != 0:
        path.chmod(0o555 if path.is_dir() else 0o444)
    else:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755 if path.is_dir() else 0o644)


def make_file(path: Path) -> None:
    duckdb.connect(str(path), config={"storage_compatibility_version": "v1.0.0"}).close()


def expect_unopenable(
    sim: SimulatorServer,
    env: dict[str, str],
    path: Path,
    reason: str,
    fix: str,
    exit_code: int = 1,
) -> None:
    done = run_cli(env)
    assert done.returncode == exit_code, done.stderr
    line = error_line(done)
    assert line.startswith(f"the DuckDB file {path} cannot be "), line
    assert reason in line and fix in line, line
    assert list_requests(sim) == []


def test_a_duckdb_file_locked_by_another_process_names_the_pid(
    tmp_path: Path, sim: SimulatorServer
) -> None:
    path = tmp_path / "leads.duckdb"
    locker = FileLocker(path)
    locker.acquire()
    try:
        assert locker.proc is not None
        reason = f"Conflicting lock is held in {Path(sys.executable).resolve()}"
        fix = f"another process has it open (PID {locker.proc.pid}): stop it or wait for it"
        expect_unopenable(sim, cli_env(sim, tmp_path), path, reason, fix)
    finally:
        locker.release()


@pytest.mark.parametrize("case", ["missing folder", "directory"])
def test_a_duckdb_path_that_is_no_file_names_the_cause(
    tmp_path: Path, sim: SimulatorServer, case: str
) -> None:
    if case == "missing folder":
        path = tmp_path / "nowhere" / "leads.duckdb"
        reason, fix = "No such file or directory", f"its folder {path.parent} does not exist"
    else:
        path = tmp_path / "leads.duckdb"
        path.mkdir()
        reason, fix = "Is a directory", "that path is a directory"
    env = cli_env(sim, tmp_path) | {"DESTINATION__DUCKDB__CREDENTIALS": str(path)}
    # A folder that is not there is a setting to fix (exit 2); a directory DuckDB fails on.
    expect_unopenable(sim, env, path, reason, fix, 2 if case == "missing folder" else 1)


@pytest.mark.parametrize("case", ["file", "folder, new file", "folder, existing file"])
def test_a_read_only_duckdb_file_or_folder_names_the_cause(
    tmp_path: Path, sim: SimulatorServer, case: str
) -> None:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    path = folder / "leads.duckdb"
    if case != "folder, new file":
        make_file(path)
    env = cli_env(sim, tmp_path) | {"DESTINATION__DUCKDB__CREDENTIALS": str(path)}
    if case == "folder, existing file":
        # DuckDB opens it; only its first commit would fail (the .wal beside it).
        reason, fix = "does not take new files", "make the folder writable"
    else:
        reason, fix = f'Cannot open file "{path}"', "make the file and its folder writable"
    with read_only(path if case == "file" else folder):
        expect_unopenable(sim, env, path, reason, fix)


# ----- BI tools (DuckDB 1.x) open the warehouse ------------------------------------------------


def duckdb_cli_count(path: Path) -> str:
    """``SELECT count(*)`` by the DuckDB CLI from the registry (pip: duckdb-cli, DuckDB 1.5)."""
    binary = shutil.which("duckdb", path=str(Path(sys.executable).parent))
    assert binary, "the DuckDB CLI is not installed: it is in the dev extra (duckdb-cli)"
    done = subprocess.run(
        [
            binary,
            "-readonly",
            "-csv",
            "-noheader",
            str(path),
            "-c",
            "SELECT count(*) FROM mega.leads",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_duckdb_cli_opens_the_warehouse_after_a_backfill_and_an_update(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    warehouse.run()
    sim.store.update(sim.store.ids()[0], status="won")
    warehouse.run()
    assert_matches_source(warehouse, sim)
    assert duckdb_cli_count(warehouse.path) == "350"


def test_a_file_in_duckdb_2_format_is_loaded_with_a_warning_and_converts(
    warehouse: Warehouse, sim: SimulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    duckdb.connect(str(warehouse.path)).close()  # as an earlier version of this project made it
    with caplog.at_level(logging.WARNING, logger="crm_leads"):
        warehouse.run()
    warnings = [r.getMessage() for r in caplog.records if "storage format" in r.getMessage()]
    command = f"python -m warehouses.duckdb convert {warehouse.path}"
    assert len(warnings) == 1 and command in warnings[0], warnings

    converted = subprocess.run(
        [sys.executable, *command.split()[1:]], cwd=PROJECT, capture_output=True, text=True
    )
    assert converted.returncode == 0, converted.stderr
    assert duckdb_cli_count(warehouse.path) == "350"
    # The converted file carries the warehouse's state: the next run reads only what changed.
    sim.store.update(sim.store.ids()[0], status="won")
    sim.clear_requests()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="crm_leads"):
        result = warehouse.run()
    assert result.leads == 1
    assert not [r for r in caplog.records if "storage format" in r.getMessage()]
    assert_matches_source(warehouse, sim)
