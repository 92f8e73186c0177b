"""The filesystem destination with Delta tables (``--destination filesystem --table-format delta``,
``DESTINATION__FILESYSTEM__BUCKET_URL``): the same tables and columns as on DuckDB.

dlt merges Delta tables by upsert only (no delete-insert, so no `merge_key`), so custom fields
are keyed by (lead_id, slug) and a removed slug gets a tombstone row (`custom_field_slugs` reads
the slugs stored). Reads go through `deltalake` directly: dlt's SQL access to Delta tables needs
a DuckDB extension downloaded at run time.

Iceberg tables are `IcebergWarehouse` (iceberg.py): dlt's Iceberg merge ignores the hard-delete
column, so the connector deletes there itself. filesystem.py picks one by the table format.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from dlt.common.utils import uniq_id

from sources.core.columns import DELETED_AT, TIMESTAMP, ChildTable, format_timestamp
from warehouses.base import EVERY_ROW, VERSIONS_SCHEMA, Warehouse, schema_of, sorted_versions
from warehouses.dataset_lock import dataset_lock

log = logging.getLogger("crm_leads.warehouse")


class LakehouseWarehouse(Warehouse):
    """Delta tables on the filesystem destination, read with `deltalake`."""

    loader_file_format = "parquet"
    table_format = "delta"
    custom_fields_upsert = True

    def __init__(self, destination: Any) -> None:
        super().__init__(destination)
        # (pipeline's dataset, table) → (location, storage options): one client per run.
        self._locations: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def _location(self, pipeline: Any, table: str) -> tuple[str, dict[str, str]]:
        key = (pipeline.dataset_name, table)
        if key not in self._locations:
            from dlt.common.libs.deltalake import deltalake_storage_options

            # An ad hoc schema before the first load: the location does not depend on it.
            with pipeline.destination_client(schema_name=schema_of(pipeline)) as client:
                location = client.get_open_table_location("delta", table)
                options = deltalake_storage_options(
                    client.config.credentials, client.config.deltalake_storage_options
                )
            self._locations[key] = (location, options)
        return self._locations[key]

    @contextmanager
    def shared_load(self, pipeline: Any, table: str, stop: threading.Event) -> Iterator[None]:
        """Every load of one of several accounts holds the dataset's lock (dataset_lock.py):
        the table formats' commits of several processes at once are not safe here."""
        schema = schema_of(pipeline)
        with pipeline.destination_client(schema_name=schema) as client, dataset_lock(client, stop):
            yield

    def _table(self, pipeline: Any, table: str) -> Any | None:
        """The Delta table as stored now, or None when it was never made."""
        from deltalake import DeltaTable

        location, options = self._location(pipeline, table)
        if not DeltaTable.is_deltatable(location, options):
            return None
        return DeltaTable(location, storage_options=options)

    def _dataset(self, pipeline: Any, table: str) -> ds.Dataset | None:
        delta = self._table(pipeline, table)
        return None if delta is None else delta.to_pyarrow_dataset()

    def _scan(
        self, pipeline: Any, table: str, columns: list[str], where: Any = None
    ) -> pa.Table | None:
        """Rows of ``columns`` where ``where(batch)`` (a mask) holds, filtered batch by batch in
        memory: arrow cannot push filters down to deltalake's files (no kernels comparing
        their string_view statistics), and ids are random, so every file is read anyway."""
        dataset = self._dataset(pipeline, table)
        if dataset is None:
            return None
        present = [name for name in columns if name in dataset.schema.names]
        parts = []
        for batch in dataset.to_batches(columns=present):
            batch = _plain_strings(batch)
            parts.append(batch if where is None else batch.filter(where(batch)))
        schema = _plain_strings(dataset.schema.empty_table().select(present)).schema
        return pa.Table.from_batches(parts, schema=schema)

    def written_paths(self, pipeline: Any) -> list[Path]:
        """The dataset's folder, when the bucket is local (to name it when the disk is full)."""
        with pipeline.destination_client(schema_name=schema_of(pipeline)) as client:
            return [Path(client.dataset_path)] if client.is_local_filesystem else []

    def lead_count(self, pipeline: Any, table: str) -> int:
        dataset = self._dataset(pipeline, table)
        return 0 if dataset is None else dataset.count_rows()  # from the files' footers

    def live_count(self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW) -> int:
        def live(batch: Any) -> Any:
            return _matches(batch, matching, pc.is_null(batch[DELETED_AT]))

        rows = self._scan(pipeline, table, [DELETED_AT, *matching], live)
        return 0 if rows is None else len(rows)

    def live_and_deleted_ids(
        self, pipeline: Any, table: str, matching: Mapping[str, str] = EVERY_ROW
    ) -> tuple[set[str], set[str]]:
        wanted = (lambda b: _matches(b, matching, None)) if matching else None
        rows = self._scan(pipeline, table, ["id", DELETED_AT, *matching], wanted)
        if rows is None:
            return set(), set()
        deleted = pc.is_valid(rows[DELETED_AT])
        live = rows["id"].filter(pc.invert(deleted)).to_pylist()
        return set(live), set(rows["id"].filter(deleted).to_pylist())

    def versions_since(self, pipeline: Any, table: str, since: datetime) -> dict[str, str]:
        mark = pa.scalar(since, TIMESTAMP)
        rows = self._scan(
            pipeline,
            table,
            ["id", "updated_at"],
            lambda b: pc.greater_equal(b["updated_at"].cast(TIMESTAMP), mark),
        )
        if rows is None:
            return {}
        return {
            lead_id: format_timestamp(updated)
            for lead_id, updated in zip(
                rows["id"].to_pylist(), rows["updated_at"].to_pylist(), strict=True
            )
            if updated is not None
        }

    def lead_rows(self, pipeline: Any, table: str, ids: list[str], schema: pa.Schema) -> pa.Table:
        wanted = pa.array(ids, pa.string())
        rows = self._scan(pipeline, table, schema.names, lambda b: pc.is_in(b["id"], wanted))
        if rows is None or not ids:
            return schema.empty_table()
        # A column never loaded with a value is not in the table: nulls, as on DuckDB.
        arrays = [
            rows[field.name].cast(field.type)
            if field.name in rows.column_names
            else pa.nulls(len(rows), field.type)
            for field in schema
        ]
        return pa.Table.from_arrays(arrays, schema=schema)

    def live_versions(self, pipeline: Any, table: str, matching: Mapping[str, str]) -> pa.Table:
        def wanted(batch: Any) -> Any:
            return _matches(batch, matching, pc.is_null(batch[DELETED_AT]))

        columns = [*VERSIONS_SCHEMA.names, DELETED_AT, *matching]
        rows = self._scan(pipeline, table, columns, wanted)
        return VERSIONS_SCHEMA.empty_table() if rows is None else sorted_versions(rows)

    def child_keys(
        self, pipeline: Any, child: ChildTable, lead_ids: list[str]
    ) -> dict[str, set[str]]:
        """One scan of the child table's (parent key, key) columns: its cost grows with it."""
        wanted = pa.array(lead_ids, pa.string())
        parent, key = child.parent_key, child.key
        rows = self._scan(
            pipeline, child.name, [parent, key], lambda b: pc.is_in(b[parent], wanted)
        )
        keys: dict[str, set[str]] = {}
        if rows is None or not lead_ids:
            return keys
        for lead_id, value in zip(rows[parent].to_pylist(), rows[key].to_pylist(), strict=True):
            keys.setdefault(lead_id, set()).add(value)
        return keys

    def insert_row(self, pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
        """Appended to the Delta table dlt made, as one commit (a whole dlt run for one row
        costs ~0.3 s); False, with nothing written, when the table or a column is missing."""
        from deltalake import write_deltalake

        values = {**row, "_dlt_load_id": load_id, "_dlt_id": uniq_id()}
        # Reading the table is inside too: a bucket out of reach fails the read (the run's
        # outcome matters more: dlt loads the row instead, or the manifest warns).
        try:
            delta = self._table(pipeline, table)
            if delta is None:
                return False
            schema = delta.to_pyarrow_dataset().schema
            if not set(values) <= set(schema.names):
                return False
            data = pa.Table.from_pylist([values], schema=schema)
            write_deltalake(delta, data, mode="append")
        except Exception as exc:
            log.debug("row for %s not appended to its Delta table (%s)", table, exc)
            return False
        return True


def _plain_strings(batch: Any) -> Any:
    """deltalake reads strings as string_view, for which arrow has few compute kernels."""
    if pa.string_view() not in batch.schema.types:
        return batch
    schema = pa.schema(
        field.with_type(pa.string()) if field.type == pa.string_view() else field
        for field in batch.schema
    )
    return batch.cast(schema)


def _matches(batch: Any, matching: Mapping[str, str], mask: Any) -> Any:
    """``mask`` (None: every row) and the rows whose columns hold ``matching``'s values."""
    for column, value in matching.items():
        equal = pc.fill_null(pc.equal(batch[column], value), False)
        mask = equal if mask is None else pc.and_(mask, equal)
    return mask
