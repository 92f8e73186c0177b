"""One test's warehouse on one destination (`Destination`: its settings as a user sets them, and
a reader of its tables with its own driver; `Target`: the MEGA source's runs into it), and the
typed comparisons with the source."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.mega_leads import run
from pipelines.result import RunResult
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from tests.helpers import (
    LEAD_COLUMNS,
    cli_env,
    source_truth,
)
from tests.helpers.accounts import fresh_database as new_database
from tests.mariadb import drop_databases
from tests.s3 import S3Bucket
from tests.warehouse_readers import DATASET, Row, WarehouseReader, make_reader
from tests.warehouses.bucket_reader import BucketReader

# s3-*: the filesystem destination on a bucket of the session's S3-compatible server (moto).
DESTINATIONS = [
    "duckdb",
    "postgres",
    "sqlite",
    "mariadb",
    "delta",
    "iceberg",
    "s3-delta",
    "s3-iceberg",
]
S3_PREFIX = "s3-"

CUSTOM_FIELD_COLUMNS = ["lead_id", "slug", "value", "value_type", "value_number", "value_bool"]
# README, "Warehouse contract".
MANIFEST_COLUMNS = [
    "run_id",
    "outcome",
    "error",
    "started_at",
    "finished_at",
    "duration_s",
    "pages",
    "leads",
    "requests",
    "retries",
    "rate_limit_waits",
    "rate_limit_wait_s",
    "checkpoints",
    "high_water_mark_before",
    "high_water_mark_after",
    "api_total",
    "warehouse_count",
    "complete",
    "stream",
    "filters",
    "lookback_rereads",
    "late_changes",
    "max_lateness_s",
    "reconciled",
    "deleted",
    "restored",
    "recovered_pending",
    "rows",
    "load_ids",
]
TABLES = ("leads", "leads__custom_fields", "_mega_runs")


def fresh_mariadb(cluster_url: str) -> str:
    """On MySQL the dataset is a database of the server (``mega``, and dlt's ``mega_staging``),
    not of the URL: each test starts with them dropped."""
    drop_databases(cluster_url)
    return cluster_url


# ----- one test's warehouse on one destination -------------------------------------------------


class Destination:
    """Where a test's runs load, whatever the source: a destination kind, its settings (as
    environment variables, the way a user configures it, set for in-process runs and CLI runs
    alike) and a reader of ``dataset`` with the destination's own driver."""

    def __init__(
        self, kind: str, root: Path, location: str | S3Bucket, dataset: str = DATASET
    ) -> None:
        self.kind = kind
        self.root = root
        self.pipelines_dir = root / "pipelines"
        self.env: dict[str, str] = {}
        self.options: dict[str, Any] = {}
        self.args: list[str] = []
        if isinstance(location, S3Bucket):
            self.env.update(location.settings())
            self.options.update(destination="filesystem", table_format=kind[len(S3_PREFIX) :])
        elif kind == "duckdb":
            self.env["DESTINATION__DUCKDB__CREDENTIALS"] = location
            self.options["destination"] = "duckdb"
        elif kind == "postgres":
            self.env["DESTINATION__POSTGRES__CREDENTIALS"] = location
            self.options["destination"] = "postgres"
        elif kind == "sqlite":
            self.env["DESTINATION__SQLALCHEMY__CREDENTIALS"] = f"sqlite:///{location}"
            self.options["destination"] = "sqlalchemy"
        elif kind == "mariadb":
            self.env["DESTINATION__SQLALCHEMY__CREDENTIALS"] = location
            self.options["destination"] = "sqlalchemy"
        else:
            self.env["DESTINATION__FILESYSTEM__BUCKET_URL"] = Path(location).as_uri()
            self.options.update(destination="filesystem", table_format=kind)
        self.args = ["--destination", self.options["destination"]]
        if "table_format" in self.options:
            self.args += ["--table-format", self.options["table_format"]]
        self.reader: WarehouseReader = (
            BucketReader(location, dataset)
            if isinstance(location, S3Bucket)
            else make_reader(kind, location, dataset)
        )


class Target(Destination):
    """The MEGA source's runs into one test's destination (dataset ``mega``)."""

    def __init__(
        self, kind: str, root: Path, sim: SimulatorServer, location: str | S3Bucket
    ) -> None:
        super().__init__(kind, root, location)
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        options.setdefault("base_url", self.sim.url)
        options.setdefault("api_token", DEFAULT_TOKEN)
        options.setdefault("customer_id", DEFAULT_CUSTOMER_ID)
        return run(pipelines_dir=str(self.pipelines_dir), **self.options, **options)

    def cli_env(self, token: str = DEFAULT_TOKEN) -> dict[str, str]:
        env = cli_env(self.sim, self.root, token=token)
        env.update(self.env)
        return env

    # --- what is loaded, typed as the destination's driver returns it ---

    def leads(self) -> dict[str, Row]:
        rows = self.reader.rows("leads")
        assert_no_duplicates([row["id"] for row in rows], "leads")
        return {row["id"]: {name: row.get(name) for name in LEAD_COLUMNS} for row in rows}

    def custom_field_rows(self) -> dict[tuple[str, str], Row]:
        rows = self.reader.rows("leads__custom_fields")
        assert_no_duplicates([(row["lead_id"], row["slug"]) for row in rows], "custom fields")
        return {(row["lead_id"], row["slug"]): row for row in rows}

    def custom_fields(self) -> dict[tuple[str, str], tuple[Any, Any]]:
        return {
            key: (row["value"], row["value_type"]) for key, row in self.custom_field_rows().items()
        }

    def manifest(self) -> list[Row]:
        rows = self.reader.rows("_mega_runs")
        return sorted(rows, key=lambda row: str(row.get("started_at")))


def destination_location(request: pytest.FixtureRequest, root: Path) -> str | S3Bucket:
    """Where the test's destination (``request.param``) keeps its data: a file or folder under
    ``root``, a new database on the session's PostgreSQL server, the emptied MariaDB server, or
    a new bucket on the session's S3 server."""
    kind: str = request.param
    locations = {
        "duckdb": str(root / "leads.duckdb"),
        "sqlite": str(root / "warehouse.db"),
        "delta": str(root / "lake"),
        "iceberg": str(root / "lake"),
    }
    if kind == "postgres":
        return new_database(request.getfixturevalue("postgres_cluster"))
    if kind == "mariadb":
        return fresh_mariadb(request.getfixturevalue("mariadb_cluster"))
    if kind.startswith(S3_PREFIX):
        return request.getfixturevalue("s3").new_bucket()
    return locations[kind]


def use_settings(destination: Destination, monkeypatch: pytest.MonkeyPatch) -> None:
    """The destination's settings in the environment, for in-process runs."""
    for name, value in destination.env.items():
        monkeypatch.setenv(name, value)


def make_target(
    request: pytest.FixtureRequest,
    root: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    target = Target(request.param, root, sim, destination_location(request, root))
    use_settings(target, monkeypatch)
    return target


BIG_PAGES = 5


# ----- comparisons ------------------------------------------------------------------------------


def assert_no_duplicates(keys: list[Any], table: str) -> None:
    dupes = sorted(key for key, count in Counter(keys).items() if count > 1)
    assert not dupes, f"{len(dupes)} duplicate keys in {table}, e.g. {dupes[:3]}"


def typed(value: Any) -> tuple[str, Any]:
    """A value with its kind: `1 == True` and a naive datetime would otherwise pass."""
    if isinstance(value, datetime):
        return ("datetime with tz" if value.tzinfo is not None else "naive datetime"), value
    return type(value).__name__, value


def assert_row_equal(loaded: Row, expected: Row, key: Any) -> None:
    got = {name: typed(value) for name, value in loaded.items()}
    want = {name: typed(value) for name, value in expected.items()}
    diff = {name: (got.get(name), want[name]) for name in want if got.get(name) != want[name]}
    assert not diff, f"{key}: (loaded, expected) differ: {diff}"


def assert_custom_field_row(row: Row) -> None:
    """value_number / value_bool carry the typed value, as the contract says."""
    kind, value = row["value_type"], row["value"]
    number = float(value) if kind == "number" else None
    flag = {"true": True, "false": False}.get(value) if kind == "boolean" else None
    assert typed(row["value_number"]) == typed(number), row
    assert typed(row["value_bool"]) == typed(flag), row


def assert_columns(target: Target) -> None:
    """The contract's columns exist; no dlt variant column (`__v_`) anywhere."""
    tables = target.reader.tables()
    expected = {"leads": LEAD_COLUMNS, "leads__custom_fields": CUSTOM_FIELD_COLUMNS}
    for table, contract in expected.items():
        assert table in tables, f"no table {table}: {sorted(tables)}"
        columns = target.reader.columns(table)
        assert set(contract) <= set(columns), set(contract) - set(columns)
    for table in TABLES:
        variants = [name for name in target.reader.columns(table) if "__v_" in name]
        assert variants == [], f"variant columns in {table}: {variants}"


def assert_tombstones_null(target: Target) -> None:
    for table in ("leads", "leads__custom_fields"):
        marked = [row for row in target.reader.rows(table) if row.get("_tombstone") is not None]
        assert marked == [], f"{table}: {len(marked)} rows with _tombstone set"


def assert_exact(target: Target, live_only: bool = False) -> None:
    """The destination holds exactly the source's leads and custom fields, typed, each once.
    ``live_only``: soft-deleted rows (``_deleted_at`` set) and their fields are not compared."""
    expected_leads, expected_fields = source_truth(target.sim)
    loaded = target.leads()
    field_rows = target.custom_field_rows()
    if live_only:
        deleted = {key for key, row in loaded.items() if row["_deleted_at"] is not None}
        loaded = {key: row for key, row in loaded.items() if key not in deleted}
        field_rows = {key: row for key, row in field_rows.items() if key[0] not in deleted}
    assert sorted(loaded) == sorted(expected_leads)
    for lead_id, expected in expected_leads.items():
        assert_row_equal(loaded[lead_id], expected, lead_id)
    assert sorted(field_rows) == sorted(expected_fields)
    for key, (value, value_type) in expected_fields.items():
        row = field_rows[key]
        assert typed(row["value"]) == typed(value), (key, row)
        assert row["value_type"] == value_type, (key, row)
        assert_custom_field_row(row)
    assert_columns(target)
    assert_tombstones_null(target)


def lead_with_fields(sim: SimulatorServer, at_least: int = 1, skip: int = 0) -> dict[str, Any]:
    leads = [lead for lead in sim.store.snapshot() if len(lead["custom_fields"]) >= at_least]
    return leads[skip]
