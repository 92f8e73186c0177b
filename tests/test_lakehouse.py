"""Filesystem + Delta holds the same truth as DuckDB; plain files are refused.

Every run goes over real HTTP against the simulator into a `file://` bucket; the tables are read
back with `deltalake` directly (not through the code under test) and compared with the
simulator's leads.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from pipelines.mega_leads import run
from pipelines.result import RunResult
from pipelines.warehouses.lakehouse import lakehouse_warehouse
from simulators.mega import DEFAULT_CUSTOMER_ID, DEFAULT_TOKEN, SimulatorServer
from sources.core.errors import ConfigurationError
from sources.mega.shaping import (
    CUSTOM_FIELDS_SCHEMA,
    LEADS_SCHEMA,
    TOMBSTONE,
    with_removed_slugs,
)
from tests.helpers import (
    LEAD_COLUMNS,
    assert_matches_source,
    clean_cli_env,
    list_requests,
    run_cli_clean,
)


class DeltaBucket:
    """A `file://` bucket of one test; ``run`` loads from ``sim`` into Delta tables there."""

    def __init__(self, root: Path, sim: SimulatorServer) -> None:
        self.bucket = root / "bucket"
        self.pipelines_dir = root / "pipelines"
        self.sim = sim

    def run(self, **options: Any) -> RunResult:
        options.setdefault("base_url", self.sim.url)
        options.setdefault("api_token", DEFAULT_TOKEN)
        options.setdefault("customer_id", DEFAULT_CUSTOMER_ID)
        return run(
            destination=dlt.destinations.filesystem(bucket_url=self.bucket.as_uri()),
            table_format="delta",
            pipelines_dir=str(self.pipelines_dir),
            **options,
        )

    def version(self, name: str) -> int:
        table = self.table(name)
        assert table is not None, name
        return table.version()

    def table(self, name: str) -> DeltaTable | None:
        path = self.bucket / "mega" / name
        return DeltaTable(str(path)) if DeltaTable.is_deltatable(str(path)) else None

    def rows(self, name: str) -> pa.Table | None:
        table = self.table(name)
        return None if table is None else table.to_pyarrow_table()

    def leads(self) -> dict[str, dict[str, Any]]:
        rows = self.rows("leads")
        if rows is None:
            return {}
        return {row["id"]: {c: row[c] for c in LEAD_COLUMNS} for row in rows.to_pylist()}

    def custom_fields(self) -> dict[tuple[str, str], tuple[str | None, str]]:
        rows = self.rows("leads__custom_fields")
        if rows is None:
            return {}
        return {(r["lead_id"], r["slug"]): (r["value"], r["value_type"]) for r in rows.to_pylist()}


@pytest.fixture
def bucket(tmp_path: Path, sim: SimulatorServer) -> DeltaBucket:
    return DeltaBucket(tmp_path, sim)


def test_delta_holds_the_same_truth_through_incremental_and_reconcile(
    bucket: DeltaBucket, sim: SimulatorServer
) -> None:
    backfill = bucket.run()
    assert backfill.leads == 350
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]
    leads_table, fields_table = bucket.rows("leads"), bucket.rows("leads__custom_fields")
    assert leads_table is not None and fields_table is not None
    # The README contract's columns, typed as on DuckDB; no variant columns.
    assert {*LEADS_SCHEMA.names} <= set(leads_table.schema.names)
    for field in LEADS_SCHEMA:
        assert leads_table.schema.field(field.name).type == field.type, field.name
    assert {"lead_id", "slug", "value", "value_type", "value_number", "value_bool", TOMBSTONE} <= (
        set(fields_table.schema.names)
    )
    assert not [name for name in fields_table.schema.names if "__v_" in name]

    store = sim.store
    with_fields = [lead for lead in store.snapshot() if len(lead["custom_fields"]) >= 2]
    changed, emptied, retyped = with_fields[0], with_fields[1], with_fields[2]
    removed_slug = next(iter(changed["custom_fields"]))
    store.remove_custom_field(changed["id"], removed_slug)
    store.update(changed["id"], status="won", score=99)
    for slug in list(emptied["custom_fields"]):
        store.remove_custom_field(emptied["id"], slug)
    slug, value = next(iter(retyped["custom_fields"].items()))
    store.set_custom_field(retyped["id"], slug, 12.5 if isinstance(value, str) else "twelve")
    created, was_created = store.create_or_merge(
        {"contact_name": "Ngozi Okafor", "contact_email": "ngozi@example.com"}
    )
    assert was_created

    incremental = bucket.run()

    assert incremental.leads == 4
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]
    assert (changed["id"], removed_slug) not in bucket.custom_fields()
    assert not [key for key in bucket.custom_fields() if key[0] == emptied["id"]]
    assert bucket.leads()[created["id"]]["contact_name"] == "Ngozi Okafor"
    # `_tombstone` is only a marker: no row keeps it set.
    for name in ("leads", "leads__custom_fields"):
        rows = bucket.rows(name)
        assert rows is not None and rows[TOMBSTONE].null_count == len(rows), name

    versions = {name: bucket.version(name) for name in ("leads", "leads__custom_fields")}
    sim.clear_requests()
    quiet = bucket.run()
    assert quiet.leads == 0 and len(list_requests(sim)) == 1
    assert {n: bucket.version(n) for n in versions} == versions  # nothing rewritten

    _reconcile_soft_then_hard(bucket, sim)
    manifest = bucket.rows("_mega_runs")
    assert manifest is not None
    runs = sorted(manifest.to_pylist(), key=lambda row: row["started_at"])
    assert [row["outcome"] for row in runs] == ["success"] * 5
    assert [row["warehouse_count"] for row in runs] == [350, None, None, 349, 347]


def _reconcile_soft_then_hard(bucket: DeltaBucket, sim: SimulatorServer) -> None:
    store = sim.store
    with_fields = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]]
    soft_gone, hard_gone = with_fields[:2], with_fields[2:4]
    for lead_id in soft_gone:
        store.delete(lead_id)
    soft = bucket.run(reconcile=True)
    assert (soft.deleted, soft.api_total, soft.warehouse_count) == (2, 349, 349)
    loaded = bucket.leads()
    assert all(loaded[lead_id]["_deleted_at"] is not None for lead_id in soft_gone)
    assert {lead_id for lead_id, _ in bucket.custom_fields()} >= set(soft_gone)

    for lead_id in hard_gone:
        store.delete(lead_id)
    hard = bucket.run(reconcile=True, delete_mode="hard")

    assert hard.deleted == 4  # the soft-deleted leads go too
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]
    assert hard.complete is True


def test_lookback_new_machine_and_full_refresh(bucket: DeltaBucket, sim: SimulatorServer) -> None:
    bucket.run()
    sim.store.update(sim.store.ids()[0], status="won")
    result = bucket.run(lookback="15m")
    assert result.leads == 1 and result.lookback_rereads == 0
    # A new machine: state and schema come back from the bucket, nothing is loaded twice.
    shutil.rmtree(bucket.pipelines_dir)
    sim.clear_requests()
    again = bucket.run()
    assert again.leads == 0 and len(list_requests(sim)) == 1
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]
    # A full refresh drops the Delta tables and loads them again, once.
    assert bucket.run(full_refresh=True).leads == 350
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]


def test_removed_slugs_become_tombstones_and_by_lead_tombstones_go() -> None:
    fields = pa.Table.from_pylist(
        [
            {"lead_id": "a", "slug": "x", "value": "1", "value_type": "string"},
            {"lead_id": "b", "slug": "", "value_type": "null", TOMBSTONE: True},
        ],
        schema=CUSTOM_FIELDS_SCHEMA,
    )
    stored = {"a": {"x", "y"}, "b": {"z"}, "c": {"w"}}
    asked: list[list[str]] = []

    def read(ids: list[str]) -> dict[str, set[str]]:
        asked.append(ids)
        return {lead_id: stored[lead_id] for lead_id in ids}

    out = with_removed_slugs(fields, read).to_pylist()

    assert asked == [["a", "b"]]
    assert [(r["lead_id"], r["slug"], r[TOMBSTONE]) for r in out] == [
        ("a", "x", None),
        ("a", "y", True),
        ("b", "z", True),
    ]


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        ([], "without a table format only appends"),
    ],
)
def test_cli_refuses_a_filesystem_that_cannot_delete(
    tmp_path: Path, sim: SimulatorServer, args: list[str], cause: str
) -> None:
    env = {**clean_cli_env(sim, tmp_path), "DESTINATION__FILESYSTEM__BUCKET_URL": tmp_path.as_uri()}

    proc = run_cli_clean(["--destination", "filesystem", *args], env)

    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and cause in lines[0] and "--table-format delta" in lines[0]
    assert not list_requests(sim)
    assert not (tmp_path / "mega").exists()


def test_table_format_setting_and_missing_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DESTINATION__FILESYSTEM__BUCKET_URL", raising=False)
    monkeypatch.setenv("DESTINATION__FILESYSTEM__TABLE_FORMAT", "delta")
    with pytest.raises(ConfigurationError, match="DESTINATION__FILESYSTEM__BUCKET_URL"):
        lakehouse_warehouse(dlt.destinations.filesystem())
    warehouse = lakehouse_warehouse(dlt.destinations.filesystem(bucket_url="file:///tmp/x"))
    assert warehouse.table_format == "delta" and warehouse.custom_fields_upsert
    monkeypatch.setenv("DESTINATION__FILESYSTEM__TABLE_FORMAT", "hudi")
    with pytest.raises(ConfigurationError, match="unknown table format 'hudi'"):
        lakehouse_warehouse(dlt.destinations.filesystem(bucket_url="file:///tmp/x"))
