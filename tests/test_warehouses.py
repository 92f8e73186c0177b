"""One scenario suite, every destination (issue 14, points 1 and 7).

The same scenarios run against DuckDB, PostgreSQL (a throwaway server this module starts),
sqlalchemy on SQLite and on MariaDB (a throwaway server too), and the filesystem destination with
delta and with iceberg tables: backfill; incremental runs with updated and new leads, a removed
slug, ``''`` values and a slug whose value changes type; a no-change run; soft and hard reconcile;
the run manifest; a CLI run killed with SIGKILL and resumed; a load that fails and is left pending,
then recovered or discarded; a wrong token. After each, the destination's tables are read back with
its own driver (`tests/warehouse_readers.py`) and compared with the simulator's truth row by row,
values and their Python types alike. Nothing is skipped: without PostgreSQL or MariaDB their cases
fail.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dlt.pipeline.pipeline import Pipeline

from pipelines.mega_leads import run
from pipelines.result import RunFailed, RunResult
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, ManualClock, SimulatorServer, faults
from tests.conftest import LEAD_COLUMNS, list_requests, make_sim, source_truth
from tests.mariadb import drop_databases, mariadb_server
from tests.postgres import postgres_server
from tests.test_failures import (
    MANIFEST_FIELDS,
    PAGE,
    PROBE,
    PROJECT,
    as_row,
    cli,
    cli_env,
    keyset_order,
    newest,
    one_line_error,
)
from tests.warehouse_readers import Row, WarehouseReader, make_reader

DESTINATIONS = ["duckdb", "postgres", "sqlite", "mariadb", "delta", "iceberg"]

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


# ----- servers --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[str]:
    """One throwaway PostgreSQL server for the session (started only if a postgres case runs);
    each test gets its own database in it."""
    with postgres_server() as url:
        yield url


_databases = itertools.count(1)


def new_database(cluster_url: str) -> str:
    server, _, _ = cluster_url.rpartition("/")
    name = f"warehouse_{os.getpid()}_{next(_databases)}"
    connection = psycopg2.connect(cluster_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()
    return f"{server}/{name}"


@pytest.fixture(scope="session")
def mariadb_cluster() -> Iterator[str]:
    """One throwaway MariaDB server for the session (started only if a mariadb case runs)."""
    with mariadb_server() as url:
        yield url


def fresh_mariadb(cluster_url: str) -> str:
    """On MySQL the dataset is a database of the server (``mega``, and dlt's ``mega_staging``),
    not of the URL: each test starts with them dropped."""
    drop_databases(cluster_url)
    return cluster_url


# ----- one test's warehouse on one destination -------------------------------------------------


class Target:
    """Where a test's runs load: a destination kind, its settings (as environment variables,
    the way a user configures it, set for in-process runs and CLI runs alike) and a reader."""

    def __init__(self, kind: str, root: Path, sim: SimulatorServer, location: str) -> None:
        self.kind = kind
        self.root = root
        self.sim = sim
        self.pipelines_dir = root / "pipelines"
        self.env: dict[str, str] = {}
        self.options: dict[str, Any] = {}
        self.args: list[str] = []
        if kind == "duckdb":
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
            self.args += ["--table-format", kind]
        self.reader: WarehouseReader = make_reader(kind, location)

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


@pytest.fixture(params=DESTINATIONS)
def target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    return make_target(request, tmp_path, sim, monkeypatch)


def make_target(
    request: pytest.FixtureRequest,
    root: Path,
    sim: SimulatorServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Target:
    kind: str = request.param
    locations = {
        "duckdb": str(root / "leads.duckdb"),
        "sqlite": str(root / "warehouse.db"),
        "delta": str(root / "lake"),
        "iceberg": str(root / "lake"),
    }
    if kind == "postgres":
        location = new_database(request.getfixturevalue("postgres_cluster"))
    elif kind == "mariadb":
        location = fresh_mariadb(request.getfixturevalue("mariadb_cluster"))
    else:
        location = locations[kind]
    target = Target(kind, root, sim, location)
    for name, value in target.env.items():
        monkeypatch.setenv(name, value)
    return target


BIG_PAGES = 5


@pytest.fixture(params=DESTINATIONS)
def big_target(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Target]:
    """Five pages of 100 leads."""
    with make_sim(clock, BIG_PAGES * PAGE, seed=11) as server:
        yield make_target(request, tmp_path, server, monkeypatch)


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


# ----- backfill, incremental, no change --------------------------------------------------------


def test_backfill(target: Target) -> None:
    result = target.run()

    assert (result.outcome, result.leads) == ("success", 350)
    assert_exact(target)
    assert result.api_total == result.warehouse_count == 350


def test_incremental_updates_new_leads_removed_slug_empty_strings_and_type_changes(
    target: Target,
) -> None:
    target.run()
    store = target.sim.store
    updated = lead_with_fields(target.sim, 2, skip=0)
    store.update(updated["id"], status="won", score=99, qualified=False)
    removed_slug = sorted(updated["custom_fields"])[0]
    store.remove_custom_field(updated["id"], removed_slug)
    emptied = lead_with_fields(target.sim, 1, skip=1)
    store.update(emptied["id"], contact_name="", owner=None)
    empty_slug = sorted(emptied["custom_fields"])[0]
    store.set_custom_field(emptied["id"], empty_slug, "")
    store.set_custom_field(emptied["id"], "nickname", "")
    # The same slug's value changes type from run to run: number, then text, bool, null.
    retyped = lead_with_fields(target.sim, 1, skip=2)
    store.set_custom_field(retyped["id"], "budget", 1250000)
    store.set_custom_field(retyped["id"], "pre_approved", "maybe")
    store.set_custom_field(retyped["id"], "lead_line", True)
    store.set_custom_field(retyped["id"], "timeline", None)
    store.set_custom_field(retyped["id"], "ratio", 0.25)
    new, created = store.create_or_merge(
        {
            "contact_name": "Ngozi Okafor",
            "contact_email": "ngozi@example.com",
            "custom_fields": {"budget": "", "pre_approved": False, "notes": "call back"},
        }
    )
    assert created

    result = target.run()

    assert result.leads == 4
    assert_exact(target)
    fields = target.custom_fields()
    assert (updated["id"], removed_slug) not in fields
    assert fields[(emptied["id"], empty_slug)] == ("", "string")
    assert target.leads()[emptied["id"]]["contact_name"] == ""
    assert fields[(new["id"], "budget")] == ("", "string")

    # Types change again in the next run: the columns keep their types, no variant appears.
    store.set_custom_field(retyped["id"], "budget", "n/a")
    store.set_custom_field(retyped["id"], "pre_approved", 3)
    store.set_custom_field(new["id"], "budget", False)
    store.update(emptied["id"], contact_name=None)

    again = target.run()

    assert again.leads == 3
    assert_exact(target)
    assert target.leads()[emptied["id"]]["contact_name"] is None


def test_no_change_run_loads_nothing(target: Target) -> None:
    target.run()
    before = (target.leads(), target.custom_field_rows())
    target.sim.clear_requests()

    result = target.run()

    assert (result.outcome, result.leads, result.load_ids) == ("success", 0, [])
    assert len(list_requests(target.sim)) <= 2
    assert (target.leads(), target.custom_field_rows()) == before
    assert_exact(target)


# ----- reconcile --------------------------------------------------------------------------------


def test_soft_reconcile_marks_vanished_leads(target: Target) -> None:
    target.run()
    store = target.sim.store
    gone = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]][:3]
    before = target.leads()
    for lead_id in gone:
        store.delete(lead_id)
    started = datetime.now().astimezone()

    result = target.run(reconcile=True)

    finished = datetime.now().astimezone()
    assert (result.reconciled, result.deleted, result.restored) == (True, 3, 0)
    assert result.api_total == result.warehouse_count == 347
    loaded = target.leads()
    assert sorted(loaded) == sorted(before)  # soft: every row stays
    for lead_id in gone:
        stamp = loaded[lead_id]["_deleted_at"]
        assert isinstance(stamp, datetime) and stamp.tzinfo is not None, stamp
        assert started <= stamp <= finished
        assert_row_equal({**loaded[lead_id], "_deleted_at": None}, before[lead_id], lead_id)
    assert_exact(target, live_only=True)
    manifest = {row["run_id"]: row for row in target.manifest()}
    assert manifest[result.run_id]["deleted"] == 3


def test_hard_reconcile_removes_rows_and_custom_fields(target: Target) -> None:
    target.run()
    store = target.sim.store
    with_fields = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]]
    soft_gone, hard_gone = with_fields[:1], with_fields[1:3]
    store.delete(soft_gone[0])
    target.run(reconcile=True)
    for lead_id in hard_gone:
        store.delete(lead_id)

    result = target.run(reconcile=True, delete_mode="hard")

    assert result.deleted == 3  # the soft-deleted row goes too
    assert result.api_total == result.warehouse_count == 347
    assert_exact(target)
    gone = set(soft_gone + hard_gone)
    assert not {lead_id for lead_id, _ in target.custom_fields()} & gone


# ----- the manifest -----------------------------------------------------------------------------


def test_manifest_has_one_typed_row_per_run(target: Target) -> None:
    backfill = target.run(checkpoint_pages=2)
    target.sim.store.update(target.sim.store.ids()[0], status="won")
    target.sim.faults.add(faults.status(503), times=None, after=0)
    with pytest.raises(RunFailed) as failed:
        target.run(checkpoint_pages=1)
    target.sim.faults.clear()
    recovery = target.run(checkpoint_pages=1)

    rows = target.manifest()
    results = [backfill, failed.value.result, recovery]
    assert [row["outcome"] for row in rows] == ["success", "failed", "success"]
    loaded = [{name: row.get(name) for name in MANIFEST_FIELDS} for row in rows]
    for got, result in zip(loaded, results, strict=True):
        assert_row_equal(got, as_row(result), result.run_id)
    columns = target.reader.columns("_mega_runs")
    assert set(MANIFEST_COLUMNS) <= set(columns), set(MANIFEST_COLUMNS) - set(columns)
    assert [name for name in columns if "__v_" in name] == []
    assert_exact(target)


# ----- SIGKILL and resume -----------------------------------------------------------------------

PREFETCH = 2
KILL_AT = 3


def test_sigkill_of_cli_run_then_rerun_is_exact(big_target: Target) -> None:
    """The CLI run is killed (SIGKILL) while page ``KILL_AT`` is being served; a rerun in
    another process on the same destination reaches the source exactly, no row twice."""
    sim = big_target.sim
    procs: list[subprocess.Popen[str]] = []

    def kill(store: object) -> None:
        os.kill(procs[0].pid, signal.SIGKILL)
        procs[0].wait(timeout=30)

    sim.faults.add(faults.callback(kill), after=PROBE + KILL_AT - 1)
    env = big_target.cli_env()
    env["SOURCES__MEGA__PREFETCH_PAGES"] = str(PREFETCH)
    proc = subprocess.Popen(
        cli("--checkpoint-pages", "1", *big_target.args),
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(proc)
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
    deadline = time.monotonic() + 10
    while len(list_requests(sim)) < PROBE + KILL_AT and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(list_requests(sim)) == PROBE + KILL_AT
    big_target.leads()  # no duplicates in what the killed run committed
    big_target.custom_field_rows()
    sim.clear_requests()

    result = big_target.run(checkpoint_pages=1)

    assert result.outcome == "success"
    assert_exact(big_target)
    # At most the killed checkpoint, the prefetched pages and a probe are read again.
    sent = len(list_requests(sim))
    assert BIG_PAGES - (KILL_AT - 1) <= sent <= BIG_PAGES - (KILL_AT - 1) + 1 + PREFETCH + PROBE
    assert [row["outcome"] for row in big_target.manifest()] == ["success"]


# ----- a load that fails and is left pending ----------------------------------------------------


class FailingLoads:
    """dlt's load step raises for the given calls (1-based, counted from arming), before it
    touches the destination: a warehouse that goes away between checkpoints, on any kind."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_calls: set[int]) -> None:
        self.calls = 0
        self.fail_calls = fail_calls
        original = Pipeline.load

        def load(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self.fail_calls:
                raise ConnectionError("the warehouse went away (test)")
            return original(pipeline, *args, **kwargs)

        monkeypatch.setattr(Pipeline, "load", load)


def fail_third_load(
    target: Target, monkeypatch: pytest.MonkeyPatch, fail_calls: set[int]
) -> RunFailed:
    """Checkpoints of one page, no prefetch: checkpoints 1 and 2 are loaded, the third load
    fails, page 4 is never asked for."""
    monkeypatch.setenv("SOURCES__MEGA__PREFETCH_PAGES", "0")
    FailingLoads(monkeypatch, fail_calls)
    with pytest.raises(RunFailed) as failed:
        target.run(checkpoint_pages=1)
    one_line_error(failed.value)
    assert len(list_requests(target.sim)) == PROBE + 3
    return failed.value


def test_failed_load_left_pending_is_finished_by_the_next_run(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = target.sim
    fail_third_load(target, monkeypatch, fail_calls={3, 4})

    # The destination still fails when the next run starts: one line naming the pending data,
    # and nothing asked of the API.
    with pytest.raises(RunFailed) as still_failing:
        target.run(checkpoint_pages=1)
    message = one_line_error(still_failing.value)
    assert "pending" in message, message
    assert len(list_requests(sim)) == PROBE + 3
    # The destination holds checkpoints 1 and 2, each row once.
    assert set(target.leads()) == {lead["id"] for lead in keyset_order(sim)[: 2 * PAGE]}
    sim.clear_requests()

    result = target.run(checkpoint_pages=1)

    assert result.recovered_pending is True
    assert_exact(target)
    assert result.requests == len(list_requests(sim)) == 1  # only page 4 was never read
    assert [(row["outcome"], row["recovered_pending"]) for row in target.manifest()] == [
        ("success", True)
    ]


def test_failed_load_discarded_reverts_state_to_the_destination(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = target.sim
    fail_third_load(target, monkeypatch, fail_calls={3})
    third_page_cursor = list_requests(sim)[PROBE + 2]["cursor"]
    sim.clear_requests()

    result = target.run(checkpoint_pages=1, discard_pending=True)

    assert result.recovered_pending is False
    assert_exact(target)
    # The discarded checkpoint's page is read again, from the destination's own state.
    assert result.high_water_mark_before == newest(keyset_order(sim)[: 2 * PAGE])
    sent = list_requests(sim)
    assert result.requests == len(sent) == 2
    assert sent[0]["cursor"] == third_page_cursor
    assert [row["outcome"] for row in target.manifest()] == ["success"]


# ----- wrong token ------------------------------------------------------------------------------


def test_wrong_token_is_one_line_exit_1_and_loads_nothing(target: Target) -> None:
    proc = subprocess.run(
        cli("-q", *target.args),
        env=target.cli_env(token="mega_" + "0" * 64),
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mega-leads: error: authentication failed (401"), lines[0]
    assert proc.stdout == ""
    assert target.reader.rows("leads") == []
    assert target.reader.rows("leads__custom_fields") == []
    assert len(list_requests(target.sim)) == 1
