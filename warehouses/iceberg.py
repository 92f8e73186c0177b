"""The filesystem destination with Iceberg tables (``--table-format iceberg``): the same tables
and columns as on DuckDB and Delta.

dlt 1.31 merges Iceberg tables only by pyiceberg's ``upsert`` and ignores the hard-delete column,
so a tombstone row would be inserted as a row. Here the connector deletes instead: before each
merged batch reaches dlt (``before_load``), every custom-field row of the leads the batch carries
fields for, and every lead it tombstones, are deleted with pyiceberg (copy-on-write commits
through dlt's own catalog); the batch then goes to dlt without its tombstone rows: leads
upserted on id, custom fields appended (``sources/core/sweep/loads.py``: with ``before_load`` a
batch's child rows are appended; their leads' old rows are gone, and pyiceberg's upsert on the
two-column key took ~10x as long: 13-21 s vs 1.7-2.1 s for 1,000 changed leads of 10,000).
The batch holds every current slug of each of those leads (shaping.py), so deleting by
lead is exact and the stored slugs need not be read (no ``with_removed_slugs``).

A run stopped between those deletes and the load leaves the state where it was (dlt commits the
state with the load), so the next run reads the same leads again and reloads them: the window in
which a reader sees a lead without its custom fields heals itself.

Reads go through pyiceberg (dlt's SQL access needs DuckDB extensions downloaded at run time).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.utils import uniq_id

from sources.core.columns import TOMBSTONE, ChildTable, LeadTables
from warehouses.base import schema_of
from warehouses.lakehouse import LakehouseWarehouse

log = logging.getLogger("crm_leads.warehouse")


class IcebergWarehouse(LakehouseWarehouse):
    """Iceberg tables on the filesystem destination, read and deleted from with pyiceberg."""

    table_format = "iceberg"
    # The connector deletes by lead itself (`before_load`): the runner passes no stored slugs,
    # so each lead's by-lead tombstone (slug "") reaches `before_load`.
    deletes_by_lead: ClassVar[bool] = True

    def _iceberg(self, pipeline: Any, table: str) -> Any | None:
        """The table as its catalog holds it now, or None when it was never made. Opened through
        dlt's client: the catalog dlt loads with (its in-memory default registers the newest
        metadata file), so deletes here and dlt's loads commit to the same table history. A new
        client each time: an in-memory catalog would keep serving the version it registered."""
        from dlt.common.destination.exceptions import DestinationUndefinedEntity
        from dlt.common.libs.pyiceberg import evolve_table
        from pyiceberg.exceptions import NoSuchTableError

        with pipeline.destination_client(schema_name=schema_of(pipeline)) as client:
            try:
                return evolve_table(
                    catalog=client.get_open_table_catalog("iceberg"),
                    fs_client=client.fs_client,
                    config=client.config,
                    table_id=f"{client.dataset_name}.{table}",
                    table_location=client.get_open_table_location("iceberg", table),
                )
            except (NoSuchTableError, DestinationUndefinedEntity, FileNotFoundError):
                return None

    def _scan(
        self, pipeline: Any, table: str, columns: list[str], where: Any = None
    ) -> pa.Table | None:
        """Rows of ``columns`` where ``where(batch)`` (a mask) holds, batch by batch: pyiceberg
        applies any delete files written by other engines."""
        iceberg = self._iceberg(pipeline, table)
        if iceberg is None:
            return None
        names = {field.name for field in iceberg.schema().fields}
        present = [name for name in columns if name in names]
        reader = iceberg.scan(selected_fields=tuple(present)).to_arrow_batch_reader()
        schema = _plain_schema(reader.schema)
        parts = []
        for batch in reader:
            batch = batch.cast(schema)
            parts.append(batch if where is None else batch.filter(where(batch)))
        return pa.Table.from_batches(parts, schema=schema)

    def lead_count(self, pipeline: Any, table: str) -> int:
        iceberg = self._iceberg(pipeline, table)
        return 0 if iceberg is None else int(iceberg.scan().count())  # from the manifests

    def before_load(
        self, pipeline: Any, tables: LeadTables, leads: pa.Table, children: pa.Table | None
    ) -> tuple[pa.Table, pa.Table | None]:
        """Delete what a merged batch replaces or removes, and hand dlt its live rows only: all
        child rows of each lead the batch carries children for (tombstoned or not), and the
        leads it tombstones (a hard-delete reconcile)."""
        child = tables.child
        if child is not None and children is not None and len(children):
            parents = pc.unique(children[child.parent_key])
            self._delete(pipeline, child.name, child.parent_key, parents)
            children = _live(children)
        gone = leads["id"].filter(pc.fill_null(leads[TOMBSTONE], False))
        if len(gone):
            self._delete(pipeline, tables.leads, "id", gone)
            leads = _live(leads)
        return leads, (children if children is not None and len(children) else None)

    def child_keys(
        self, pipeline: Any, child: ChildTable, lead_ids: list[str]
    ) -> dict[str, set[str]]:
        """Never asked when the runner calls `before_load`; a runner that asks instead would
        hand dlt tombstone rows it inserts as rows: stop before anything is loaded."""
        raise NotImplementedError(
            "Iceberg tables are merged with the connector's own deletes (before_load), not "
            "slug tombstones; this runner does not call them: use --table-format delta"
        )

    def _delete(self, pipeline: Any, table: str, column: str, ids: Any) -> None:
        from pyiceberg.expressions import In, Reference

        iceberg = self._iceberg(pipeline, table)
        if iceberg is None:  # nothing loaded yet: nothing to delete
            return
        with warnings.catch_warnings():
            # "Delete operation did not match any records": leads new to the table.
            warnings.simplefilter("ignore", UserWarning)
            iceberg.delete(In(term=Reference(column), values=pc.unique(ids).to_pylist()))

    def insert_row(self, pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
        """Appended to the Iceberg table dlt made, as one commit (a whole dlt run for one row
        costs ~0.3 s); False, with nothing written, when the table or a column is missing."""
        values = {**row, "_dlt_load_id": load_id, "_dlt_id": uniq_id()}
        # Reading the table is inside too: a bucket out of reach fails the read (the run's
        # outcome matters more: dlt loads the row instead, or the manifest warns).
        try:
            iceberg = self._iceberg(pipeline, table)
            if iceberg is None:
                return False
            schema = iceberg.schema().as_arrow()
            if not set(values) <= set(schema.names):
                return False
            iceberg.append(pa.Table.from_pylist([values], schema=schema))
        except Exception as exc:
            log.debug("row for %s not appended to its Iceberg table (%s)", table, exc)
            return False
        return True


def _live(rows: pa.Table) -> pa.Table:
    return rows.filter(pc.invert(pc.fill_null(rows[TOMBSTONE], False)))


_PLAIN: dict[Any, pa.DataType] = {
    pa.large_string(): pa.string(),
    pa.string_view(): pa.string(),
    pa.large_binary(): pa.binary(),
}


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    """pyiceberg reads strings as large_string: compared with the plain strings of `shaping`."""
    return pa.schema([field.with_type(_PLAIN.get(field.type, field.type)) for field in schema])
