"""Filesystem + Delta and filesystem + Iceberg hold the same truth as DuckDB; plain files are
refused. dlt merges Iceberg tables by upsert and ignores the hard-delete column, so the connector
deletes there itself before each merged batch is loaded (`IcebergWarehouse.before_load`).

Every run goes over real HTTP against the simulator into a `file://` bucket; the tables are read
back with each format's own library directly (not through the code under test): `deltalake`, and
pyiceberg with an in-memory SQL catalog in which each table is registered from its newest
metadata file, as dlt does. They are compared with the simulator's leads.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pytest
from dlt.pipeline.pipeline import Pipeline

from pipelines.mega_run import MegaRun
from pipelines.result import RunFailed
from simulators.core import faults
from simulators.mega import SimulatorServer
from sources.core.errors import ConfigurationError
from sources.mega.hints import FIELDS_TABLE
from sources.mega.shaping import (
    CUSTOM_FIELDS_SCHEMA,
    LEADS_SCHEMA,
    TOMBSTONE,
    with_removed_slugs,
)
from tests.helpers import (
    assert_matches_source,
    clean_cli_env,
    list_requests,
    run_cli_clean,
)
from tests.helpers.lakehouse import BUCKETS, LakehouseBucket, each_format, iceberg_only
from warehouses.filesystem import lakehouse_warehouse
from warehouses.iceberg import IcebergWarehouse


@pytest.fixture
def bucket(request: pytest.FixtureRequest, tmp_path: Path, sim: SimulatorServer) -> Any:
    return BUCKETS[request.param](tmp_path, sim)


def assert_bucket_matches_source(bucket: LakehouseBucket, sim: SimulatorServer) -> None:
    assert_matches_source(bucket, sim)  # type: ignore[arg-type]


@each_format
def test_the_bucket_holds_the_same_truth_through_incremental_and_reconcile(
    bucket: LakehouseBucket, sim: SimulatorServer
) -> None:
    backfill = bucket.run()
    assert backfill.leads == 350
    assert_bucket_matches_source(bucket, sim)
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
    changed, emptied, retyped, blanked = with_fields[:4]
    removed_slug = next(iter(changed["custom_fields"]))
    store.remove_custom_field(changed["id"], removed_slug)
    store.update(changed["id"], status="won", score=99)
    for slug in list(emptied["custom_fields"]):
        store.remove_custom_field(emptied["id"], slug)
    slug, value = next(iter(retyped["custom_fields"].items()))
    store.set_custom_field(retyped["id"], slug, 12.5 if isinstance(value, str) else "twelve")
    store.set_custom_field(blanked["id"], next(iter(blanked["custom_fields"])), "")
    store.update(blanked["id"], contact_phone="")
    created, was_created = store.create_or_merge(
        {"contact_name": "Ngozi Okafor", "contact_email": "ngozi@example.com"}
    )
    assert was_created

    incremental = bucket.run()

    assert incremental.leads == 5
    assert_bucket_matches_source(bucket, sim)
    assert (changed["id"], removed_slug) not in bucket.custom_fields()
    assert not [key for key in bucket.custom_fields() if key[0] == emptied["id"]]
    assert bucket.leads()[blanked["id"]]["contact_phone"] == ""
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


def _reconcile_soft_then_hard(bucket: LakehouseBucket, sim: SimulatorServer) -> None:
    store = sim.store
    with_fields = [lead["id"] for lead in store.snapshot() if lead["custom_fields"]]
    soft_gone, hard_gone = with_fields[:2], with_fields[2:4]
    for lead_id in soft_gone:
        store.delete(lead_id)
    soft = bucket.run(reconcile=True)
    assert (soft.deleted, soft.api_total, soft.warehouse_count) == (2, 349, 349)
    loaded = bucket.leads()
    assert all(loaded[lead_id]["_deleted_at"] is not None for lead_id in soft_gone)
    # A soft delete keeps the lead's custom fields.
    assert {lead_id for lead_id, _ in bucket.custom_fields()} >= set(soft_gone)

    for lead_id in hard_gone:
        store.delete(lead_id)
    hard = bucket.run(reconcile=True, delete_mode="hard")

    assert hard.deleted == 4  # the soft-deleted leads go too
    assert_bucket_matches_source(bucket, sim)
    assert hard.complete is True


@each_format
def test_lookback_new_machine_and_full_refresh(
    bucket: LakehouseBucket, sim: SimulatorServer
) -> None:
    bucket.run()
    sim.store.update(sim.store.ids()[0], status="won")
    result = bucket.run(lookback="15m")
    assert result.leads == 1 and result.lookback_rereads == 0
    # A new machine: state and schema come back from the bucket, nothing is loaded twice.
    shutil.rmtree(bucket.pipelines_dir)
    sim.clear_requests()
    again = bucket.run()
    assert again.leads == 0 and len(list_requests(sim)) == 1
    assert_bucket_matches_source(bucket, sim)
    # A full refresh drops the tables and loads them again, once.
    assert bucket.run(full_refresh=True).leads == 350
    assert_bucket_matches_source(bucket, sim)


@iceberg_only
def test_a_run_stopped_after_its_deletes_is_healed_by_the_next(
    bucket: LakehouseBucket, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deletes are committed, the load never happens (the process dies in between): the
    state did not move, so the next run reads the same leads again and reloads them."""
    bucket.run()
    store = sim.store
    touched = [lead for lead in store.snapshot() if len(lead["custom_fields"]) >= 2][:3]
    for lead in touched:
        store.update(lead["id"], status="won")
    store.remove_custom_field(touched[0]["id"], next(iter(touched[0]["custom_fields"])))
    original = IcebergWarehouse.before_load

    def dies_after_deleting(self: IcebergWarehouse, *args: Any) -> Any:
        original(self, *args)
        raise RuntimeError("killed between the deletes and the load (test)")

    monkeypatch.setattr(IcebergWarehouse, "before_load", dies_after_deleting)
    with pytest.raises(RunFailed, match="killed between the deletes"):
        bucket.run()
    # The deletes happened: the touched leads have lost their custom fields for now.
    assert not {lead_id for lead_id, _ in bucket.custom_fields()} & {x["id"] for x in touched}
    monkeypatch.setattr(IcebergWarehouse, "before_load", original)
    sim.clear_requests()

    again = bucket.run()

    assert again.leads == 3
    assert_bucket_matches_source(bucket, sim)


@iceberg_only
def test_a_lead_updated_mid_backfill_is_merged_after_its_first_load(
    bucket: LakehouseBucket, sim: SimulatorServer
) -> None:
    """Loads of one page: the lead changed while page 2 is served is read again at the end of
    the sweep, in a merged load whose deletes remove its first version's custom fields."""
    lead = next(lead for lead in sim.store.snapshot() if len(lead["custom_fields"]) >= 2)
    slug = next(iter(lead["custom_fields"]))

    def edit(store: Any) -> None:
        store.remove_custom_field(lead["id"], slug)
        store.set_custom_field(lead["id"], "late_slug", True)

    sim.faults.add(faults.callback(edit), after=2)

    result = bucket.run(checkpoint_pages=1)

    assert result.leads == 351
    assert_bucket_matches_source(bucket, sim)
    assert (lead["id"], slug) not in bucket.custom_fields()


@iceberg_only
@pytest.mark.parametrize("discard", [False, True])
def test_a_failed_load_after_the_deletes_is_recovered_or_discarded(
    bucket: LakehouseBucket, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch, discard: bool
) -> None:
    """The deletes are done, dlt's load fails and the package stays pending: the next run
    loads it, or (``--discard-pending``) reads the leads again from the bucket's state."""
    bucket.run()
    store = sim.store
    lead = next(lead for lead in store.snapshot() if len(lead["custom_fields"]) >= 2)
    store.remove_custom_field(lead["id"], next(iter(lead["custom_fields"])))
    original = Pipeline.load

    def fails(pipeline: Pipeline, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the bucket went away (test)")

    monkeypatch.setattr(Pipeline, "load", fails)
    with pytest.raises(RunFailed):
        bucket.run()
    monkeypatch.setattr(Pipeline, "load", original)

    result = bucket.run(discard_pending=discard)

    assert result.recovered_pending is not discard
    assert_bucket_matches_source(bucket, sim)


@iceberg_only
def test_a_runner_without_the_deletes_stops_before_loading_tombstones(
    bucket: LakehouseBucket, sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: should a runner ask for stored slugs instead of calling `before_load`, the run
    fails with one line before dlt gets a tombstone row it would insert."""
    bucket.run()
    before = bucket.custom_fields()
    lead = next(lead for lead in sim.store.snapshot() if lead["custom_fields"])
    sim.store.remove_custom_field(lead["id"], next(iter(lead["custom_fields"])))
    init = MegaRun.__init__

    def unwired(self: MegaRun, pipeline: Any, warehouse: Any, *a: Any, **k: Any) -> None:
        init(self, pipeline, warehouse, *a, **k)
        self.hooks = dataclasses.replace(
            self.hooks,
            before_load=None,
            stored_keys=lambda ids: warehouse.child_keys(self.pipeline, FIELDS_TABLE, ids),
        )

    monkeypatch.setattr(MegaRun, "__init__", unwired)
    with pytest.raises(RunFailed) as failed:
        bucket.run()
    assert "before_load" in str(failed.value) and "\n" not in str(failed.value)
    assert bucket.custom_fields() == before


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


def test_table_format_iceberg_is_accepted() -> None:
    factory = dlt.destinations.filesystem(bucket_url="file:///tmp/x")
    warehouse = lakehouse_warehouse(factory, "iceberg")
    assert isinstance(warehouse, IcebergWarehouse)
    assert warehouse.table_format == "iceberg" and warehouse.run_options() == {
        "loader_file_format": "parquet",
        "table_format": "iceberg",
    }
