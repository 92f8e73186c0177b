"""Reads of the loaded dataset that a run needs: lead ids for reconcile, versions for lookback.

Through dlt's ``sql_client``, so any SQL destination works; reads happen only when the feature
that needs them is on (reconcile, lookback > 0).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pyarrow as pa
from dlt.common.pipeline import SupportsPipeline
from dlt.common.utils import uniq_id

from sources.mega.shaping import DELETED_AT, LEADS_SCHEMA, format_timestamp

LEADS = "leads"
SCHEMA = "mega"

log = logging.getLogger("mega")


def _query(pipeline: Any, sql_template: str, *args: Any) -> list[tuple[Any, ...]]:
    """Callers check ``lead_table_exists`` first: the schema knows whether the table was made."""
    with pipeline.sql_client(schema_name=SCHEMA) as client:
        table = client.make_qualified_table_name(LEADS)
        with client.execute_query(sql_template.format(table=table), *args) as cursor:
            return list(cursor.fetchall())


def lead_table_exists(pipeline: Any) -> bool:
    schema = pipeline.schemas.get(SCHEMA) if SCHEMA in pipeline.schemas else None
    return bool(schema and LEADS in schema.tables and schema.tables[LEADS].get("columns"))


def live_and_deleted_ids(pipeline: SupportsPipeline) -> tuple[set[str], set[str]]:
    if not lead_table_exists(pipeline):
        return set(), set()
    rows = _query(pipeline, f"SELECT id, {DELETED_AT} IS NOT NULL FROM {{table}}")
    live = {row[0] for row in rows if not row[1]}
    return live, {row[0] for row in rows if row[1]}


def lead_count(pipeline: SupportsPipeline) -> int:
    """Every row of `leads`, soft-deleted ones too (0 when the table was never made)."""
    if not lead_table_exists(pipeline):
        return 0
    rows = _query(pipeline, "SELECT COUNT(*) FROM {table}")
    return int(rows[0][0]) if rows else 0


def live_count(pipeline: SupportsPipeline) -> int | None:
    if not lead_table_exists(pipeline):
        return 0
    rows = _query(pipeline, f"SELECT COUNT(*) FROM {{table}} WHERE {DELETED_AT} IS NULL")
    return int(rows[0][0]) if rows else 0


def versions_since(pipeline: SupportsPipeline, since: datetime) -> dict[str, str]:
    """id → updated_at (API format) of loaded leads updated at/after ``since``."""
    if not lead_table_exists(pipeline):
        return {}
    rows = _query(pipeline, "SELECT id, updated_at FROM {table} WHERE updated_at >= %s", since)
    return {row[0]: format_timestamp(row[1]) for row in rows if row[1] is not None}


def lead_rows(pipeline: SupportsPipeline, ids: list[str]) -> pa.Table:
    """The loaded rows of ``ids``, shaped like the source's ``leads`` table."""
    if not ids:
        return LEADS_SCHEMA.empty_table()
    names = ", ".join(LEADS_SCHEMA.names)
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        rows += _query(pipeline, f"SELECT {names} FROM {{table}} WHERE id IN ({marks})", *chunk)
    columns: list[list[Any]] = [[row[i] for row in rows] for i in range(len(LEADS_SCHEMA))]
    return pa.Table.from_arrays(
        [pa.array(col, field.type) for col, field in zip(columns, LEADS_SCHEMA, strict=True)],
        schema=LEADS_SCHEMA,
    )


def insert_row(pipeline: Any, table: str, row: dict[str, Any], load_id: str) -> bool:
    """One row by SQL into a table that dlt made with (at least) these columns; a whole dlt run
    for one row costs ~0.3 s (benchmarks/RESULTS.md). False, with nothing written, when the
    table or a column is not there yet or the destination has no SQL: dlt makes or evolves it."""
    schema = pipeline.schemas.get(SCHEMA) if SCHEMA in pipeline.schemas else None
    columns = schema.tables.get(table, {}).get("columns", {}) if schema else {}
    values = {**row, "_dlt_load_id": load_id, "_dlt_id": uniq_id()}
    if not columns or not set(values) <= set(columns):
        return False
    try:
        with pipeline.sql_client(schema_name=SCHEMA) as client:
            names = ", ".join(client.escape_column_name(name) for name in values)
            marks = ", ".join(["%s"] * len(values))
            client.execute_sql(
                f"INSERT INTO {client.make_qualified_table_name(table)} ({names}) VALUES ({marks})",
                *values.values(),
            )
    except Exception as exc:  # e.g. not an SQL destination, or the table was dropped there
        log.debug("row for %s not inserted by SQL (%s); loading it with dlt", table, exc)
        return False
    return True
