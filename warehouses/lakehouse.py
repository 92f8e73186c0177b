"""The filesystem destination with Delta tables (``--destination filesystem --table-format delta``,
``DESTINATION__FILESYSTEM__BUCKET_URL``): the same tables and columns as on DuckDB.

dlt merges Delta tables by upsert only (no delete-insert, so no `merge_key`), so custom fields
are keyed by (lead_id, slug) and a removed slug gets a tombstone row (`custom_field_slugs` reads
the slugs stored). Reads go through `deltalake` directly: dlt's SQL access to Delta tables needs
a DuckDB extension downloaded at run time.

Iceberg tables are `IcebergWarehouse` (iceberg.py): dlt's Iceberg merge ignores the hard-delete
column, so the connector deletes there itself. Refused, before any request: plain files (no table
format: dlt can only append, so every incremental and reconcile would add duplicates).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dlt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from dlt.common.utils import uniq_id

from sources.core.errors import ConfigurationError
from sources.mega.shaping import DELETED_AT, TIMESTAMP, format_timestamp
from warehouses.base import VERSIONS_SCHEMA, Warehouse, schema_of, sorted_versions

LEADS = "leads"
CUSTOM_FIELDS = "leads__custom_fields"
TABLE_FORMATS = ("delta", "iceberg")

log = logging.getLogger("crm_leads.warehouse")


def table_format_setting() -> str | None:
    """``--table-format``'s setting: ``[destination.filesystem] table_format``."""
    value = dlt.config.get("destination.filesystem.table_format", str)
    return (value.strip().lower() or None) if value else None


def lakehouse_warehouse(factory: Any, table_format: str | None = None) -> LakehouseWarehouse:
    """The filesystem destination's warehouse, or one line saying why it cannot hold the same
    truth as DuckDB and what to use instead."""
    table_format = (table_format or table_format_setting() or "").lower() or None
    if table_format is None:
        raise ConfigurationError(
            "the filesystem destination without a table format only appends files: every "
            "incremental and reconcile would add duplicate leads and no lead or slug could be "
            "deleted; use --table-format delta (setting DESTINATION__FILESYSTEM__TABLE_FORMAT) "
            "or a database destination such as duckdb or postgres"
        )
    if table_format not in TABLE_FORMATS:
        raise ConfigurationError(
            f"unknown table format {table_format!r} (--table-format, setting "
            "DESTINATION__FILESYSTEM__TABLE_FORMAT); use delta or iceberg"
        )
    _check_bucket_url(factory)
    if table_format == "iceberg":
        from warehouses.iceberg import IcebergWarehouse

        return IcebergWarehouse(factory)
    return LakehouseWarehouse(factory, table_format)


def _check_bucket_url(factory: Any) -> None:
    """A missing bucket URL is dlt's page-long config error at the first load: one line now."""
    given = getattr(factory, "config_params", {}).get("bucket_url")
    if not given and not dlt.config.get("destination.filesystem.bucket_url", str):
        raise ConfigurationError(
            "the filesystem destination needs a bucket URL: set DESTINATION__FILESYSTEM__"
            "BUCKET_URL (e.g. file:///data/mega or s3://bucket/path) or bucket_url under "
            "[destination.filesystem] in config.toml"
        )


class LakehouseWarehouse(Warehouse):
    """Delta tables on the filesystem destination, read with `deltalake`."""

    loader_file_format = "parquet"
    custom_fields_upsert = True

    def __init__(self, destination: Any, table_format: str = "delta") -> None:
        super().__init__(destination)
        self.table_format = table_format
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
        """The bucket, when it is a local folder (to name it when the disk is full)."""
        url = urlparse(str(self._location(pipeline, LEADS)[0]))
        return [Path(url.path).parent] if url.scheme in ("", "file") else []

    def lead_count(self, pipeline: Any) -> int:
        dataset = self._dataset(pipeline, LEADS)
        return 0 if dataset is None else dataset.count_rows()  # from the files' footers

    def live_count(self, pipeline: Any) -> int:
        rows = self._scan(pipeline, LEADS, [DELETED_AT], lambda b: pc.is_null(b[DELETED_AT]))
        return 0 if rows is None else len(rows)

    def live_and_deleted_ids(self, pipeline: Any) -> tuple[set[str], set[str]]:
        rows = self._scan(pipeline, LEADS, ["id", DELETED_AT])
        if rows is None:
            return set(), set()
        deleted = pc.is_valid(rows[DELETED_AT])
        live = rows["id"].filter(pc.invert(deleted)).to_pylist()
        return set(live), set(rows["id"].filter(deleted).to_pylist())

    def versions_since(self, pipeline: Any, since: datetime) -> dict[str, str]:
        mark = pa.scalar(since, TIMESTAMP)
        rows = self._scan(
            pipeline,
            LEADS,
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

    def lead_rows(self, pipeline: Any, ids: list[str], schema: pa.Schema) -> pa.Table:
        wanted = pa.array(ids, pa.string())
        rows = self._scan(pipeline, LEADS, schema.names, lambda b: pc.is_in(b["id"], wanted))
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

    def live_versions(self, pipeline: Any, matching: Mapping[str, str]) -> pa.Table:
        def wanted(batch: Any) -> Any:
            mask = pc.is_null(batch[DELETED_AT])
            for column, value in matching.items():
                mask = pc.and_(mask, pc.fill_null(pc.equal(batch[column], value), False))
            return mask

        columns = [*VERSIONS_SCHEMA.names, DELETED_AT, *matching]
        rows = self._scan(pipeline, LEADS, columns, wanted)
        return VERSIONS_SCHEMA.empty_table() if rows is None else sorted_versions(rows)

    def custom_field_slugs(self, pipeline: Any, lead_ids: list[str]) -> dict[str, set[str]]:
        """One scan of the table's (lead_id, slug) columns: its cost grows with the table."""
        wanted = pa.array(lead_ids, pa.string())
        rows = self._scan(
            pipeline,
            CUSTOM_FIELDS,
            ["lead_id", "slug"],
            lambda b: pc.is_in(b["lead_id"], wanted),
        )
        slugs: dict[str, set[str]] = {}
        if rows is None or not lead_ids:
            return slugs
        for lead_id, slug in zip(
            rows["lead_id"].to_pylist(), rows["slug"].to_pylist(), strict=True
        ):
            slugs.setdefault(lead_id, set()).add(slug)
        return slugs

    def insert_row(self, pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
        """Appended to the Delta table dlt made, as one commit (a whole dlt run for one row
        costs ~0.3 s); False, with nothing written, when the table or a column is missing."""
        from deltalake import write_deltalake

        delta = self._table(pipeline, table)
        if delta is None:
            return False
        schema = delta.to_pyarrow_dataset().schema
        values = {**row, "_dlt_load_id": load_id, "_dlt_id": uniq_id()}
        if not set(values) <= set(schema.names):
            return False
        try:
            data = pa.Table.from_pylist([values], schema=schema)
            write_deltalake(delta, data, mode="append")
        except Exception as exc:  # the run's outcome matters more: dlt loads the row instead
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
