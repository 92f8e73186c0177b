"""Settings are checked before anything runs: a bad one is one line naming the setting, its
environment variable and what is allowed, exit code 2, no request sent and no file made. And a
full disk is one line naming where, not pages of dlt tracebacks."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.mega_leads import SOURCE_OPTIONS
from simulators.mega import ManualClock, SimulatorServer
from sources.core.errors import ConfigurationError
from tests.helpers import Warehouse, cli_env, make_sim, run_cli


def refused(sim: SimulatorServer, tmp_path: Path, *args: str, **env: str) -> str:
    """The one stderr line of a CLI run refused on configuration, after checking that it sent no
    request and left no file behind."""
    done = run_cli(cli_env(sim, tmp_path) | env, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert sim.requests == []
    assert not (tmp_path / "leads.duckdb").exists()
    assert not (tmp_path / "pipelines").exists()
    return lines[0].removeprefix("mega-leads: error: ")


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WORKERS", "0", "workers must be a whole number from 1 to 32, got 0"),
        ("WORKERS", "-2", "workers must be a whole number from 1 to 32, got -2"),
        ("WORKERS", "1000", "workers must be a whole number from 1 to 32, got 1000"),
        ("WORKERS", "x", "workers must be a whole number, got 'x'"),
        ("CHECKPOINT_PAGES", "0", "checkpoint_pages must be a whole number of at least 1, got 0"),
        ("CHECKPOINT_PAGES", "ten", "checkpoint_pages must be a whole number, got 'ten'"),
        ("CHECKPOINT_SECONDS", "0", "checkpoint_seconds must be a number of seconds greater"),
        ("PREFETCH_PAGES", "-1", "prefetch_pages must be a whole number from 0 to 1000, got -1"),
        ("MAX_RETRIES", "-1", "max_retries must be a whole number from 0 to 100, got -1"),
        ("RATE_LIMIT_RESERVE", "-3", "rate_limit_reserve must be a whole number of at least 0"),
        ("READ_TIMEOUT", "0", "read_timeout must be a number of seconds greater than 0"),
        ("CONNECT_TIMEOUT", "soon", "connect_timeout must be a number, got 'soon'"),
        ("CUSTOMER_ID", "acme", "customer_id must be a UUID like"),
    ],
)
def test_a_bad_source_setting_is_one_line_naming_it(
    sim: SimulatorServer, tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    line = refused(sim, tmp_path, **{f"SOURCES__MEGA__{variable}": value})
    assert line.startswith(expected)
    assert line.endswith(f"(setting SOURCES__MEGA__{variable})")


def test_an_unknown_destination_is_one_line(sim: SimulatorServer, tmp_path: Path) -> None:
    line = refused(sim, tmp_path, "--destination", "foo")
    assert line.startswith("unknown destination 'foo': use a dlt destination name such as")


def test_a_malformed_config_toml_names_the_file_and_line(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    folder = tmp_path / "settings"
    folder.mkdir()
    (folder / "config.toml").write_text('[sources.mega]\nworkers = 2\nstatus = "active\n')
    line = refused(sim, tmp_path, MEGA_DLT_CONFIG_DIR=str(folder))
    assert line.startswith(f"{folder / 'config.toml'} cannot be read as TOML: ")
    assert "line 3" in line


def test_a_settings_folder_that_does_not_exist_is_refused(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    line = refused(sim, tmp_path, MEGA_DLT_CONFIG_DIR=str(missing))
    assert line.startswith(f"the settings folder {missing} does not exist")
    assert "MEGA_DLT_CONFIG_DIR" in line


def test_a_missing_secret_names_the_file_in_the_folder_actually_read(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    folder = tmp_path / "settings"
    folder.mkdir()
    env = {"SOURCES__MEGA__API_TOKEN": "", "MEGA_DLT_CONFIG_DIR": str(folder)}
    line = refused(sim, tmp_path, **env)
    assert line == (
        "missing api_token: set SOURCES__MEGA__API_TOKEN or `api_token` under [sources.mega] "
        f"in {folder.resolve() / 'secrets.toml'}"
    )


def test_python_callers_get_a_configuration_error_not_a_type_error(
    warehouse: Warehouse, sim: SimulatorServer
) -> None:
    with pytest.raises(ConfigurationError, match=r"workers must be a whole number.*got 'x'"):
        warehouse.run(workers="x")
    with pytest.raises(ConfigurationError, match="unknown source option"):
        warehouse.run(page_size=5)
    assert sim.requests == []
    assert not warehouse.path.exists()


def test_every_source_setting_is_accepted_by_run(warehouse: Warehouse) -> None:
    assert {"prefetch_pages", "checkpoint_seconds", "max_retries", "read_timeout"} <= set(
        SOURCE_OPTIONS
    )
    result = warehouse.run(prefetch_pages=2, checkpoint_seconds=30, read_timeout=5)
    assert result.leads == 350


# ----- a full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB file system (tmpfs; the tests run as root here and in CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def roomy_sim(clock: ManualClock) -> Iterator[SimulatorServer]:
    """More leads than 1 MB holds once loaded."""
    with make_sim(clock, 10_000) as server:
        yield server


@pytest.mark.parametrize("full", ["warehouse", "dlt working folder"])
def test_a_full_disk_is_one_line_naming_where(
    roomy_sim: SimulatorServer, tmp_path: Path, small_disk: Path, full: str
) -> None:
    env = cli_env(roomy_sim, tmp_path)
    if full == "warehouse":
        env["DESTINATION__DUCKDB__CREDENTIALS"] = str(small_disk / "leads.duckdb")
    else:
        env["DLT_DATA_DIR"] = str(small_disk)
    done = run_cli(env, "--quiet")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("mega-leads: error: disk full")
    assert str(small_disk) in last
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr
