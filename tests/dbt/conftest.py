"""Fixtures of the dbt package's tests (run by scripts/test-dbt in a venv with the `dbt` extra;
the default test run ignores this folder): both sources loaded from their simulators into one
warehouse, and `dbt` run on it as a user runs it, from the command line with the package's own
profiles."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import Warehouse
from tests.helpers.leads_v1 import V1Warehouse

PACKAGE = Path(__file__).resolve().parents[2] / "dbt_package"
DBT = Path(sys.executable).parent / "dbt"
# Plain text to search, and nothing sent anywhere.
QUIET = {"DBT_USE_COLORS": "false", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}


@dataclass
class Dbt:
    """`dbt <command>` (`build`, `docs generate`) on the package, into a target folder of the
    test, with these settings."""

    target: Path
    env: dict[str, str]
    profile: str = "duckdb"
    project: Path = PACKAGE
    outputs: list[str] = field(default_factory=list)

    def __call__(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        # Folders as dbt's environment variables: every command reads them (`deps` takes no
        # --target-path); the profile as a flag, for the commands that connect.
        folders = {
            "DBT_PROJECT_DIR": self.project,
            "DBT_PROFILES_DIR": self.project,
            "DBT_TARGET_PATH": self.target / "target",
            "DBT_LOG_PATH": self.target / "logs",
        }
        profile = [] if command == "deps" else ["--profile", self.profile]
        done = subprocess.run(
            [str(DBT), *command.split(), *profile, *args],
            env={**os.environ, **QUIET, **{k: str(v) for k, v in folders.items()}, **self.env},
            capture_output=True,
            text=True,
            timeout=240,
        )
        self.outputs.append(done.stdout)
        return done

    def ok(self, command: str, *args: str) -> str:
        done = self(command, *args)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        return done.stdout


def postgres_env(url: str) -> dict[str, str]:
    """The profile's variables (those dlt's dbt runner sets) for a PostgreSQL URL."""
    parts = urlsplit(url)
    return {
        "DLT__CREDENTIALS__HOST": parts.hostname or "",
        "DLT__CREDENTIALS__PORT": str(parts.port),
        "DLT__CREDENTIALS__USERNAME": parts.username or "",
        "DLT__CREDENTIALS__PASSWORD": parts.password or "",
        "DLT__CREDENTIALS__DATABASE": parts.path.lstrip("/"),
    }


@pytest.fixture
def loaded(warehouse: Warehouse, v1_warehouse: V1Warehouse) -> Warehouse:
    """Both sources in one DuckDB file, each with a lead deleted at the source and found gone
    (MEGA by a reconcile sweep, which also records the API's total)."""
    warehouse.run()
    warehouse.sim.store.delete(warehouse.sim.store.ids()[0])
    warehouse.run(reconcile=True)
    v1_warehouse.run()
    v1_warehouse.sim.store.delete(v1_warehouse.sim.store.leads()[0]["id"])
    v1_warehouse.run()
    return warehouse


@pytest.fixture
def dbt(tmp_path: Path, warehouse: Warehouse) -> Dbt:
    return Dbt(tmp_path / "dbt", {"DLT__CREDENTIALS__DATABASE": str(warehouse.path)})
