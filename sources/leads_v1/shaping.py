"""Row shaping: Leads v1 detail records (seed 004) → the arrow table ``leads``, typed up front
(timestamps with time zone, ``lead_score`` an integer), so no dlt variant column can appear."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pyarrow as pa

from sources.core.columns import DELETED_AT, TIMESTAMP, TOMBSTONE, parse_timestamp
from sources.core.errors import MalformedResponseError

TEXT, INTEGER = pa.string(), pa.int64()
# The detail record's fields in 004's order (the list rows carry the first twelve but not the
# qualification fields), then the connector's own columns.
FIELDS: list[tuple[str, pa.DataType]] = [
    ("id", TEXT),
    ("organization_id", TEXT),
    ("name", TEXT),
    ("company", TEXT),
    ("email", TEXT),
    ("source", TEXT),
    ("lead_score", INTEGER),
    ("pipeline_stage", TEXT),
    ("industry", TEXT),
    ("company_size", TEXT),
    ("pain_points", TEXT),
    ("timeline", TEXT),
    ("budget_range", TEXT),
    ("ai_reasoning", TEXT),
    ("qualification_completed_at", TIMESTAMP),
    ("created_at", TIMESTAMP),
    ("updated_at", TIMESTAMP),
]
LEADS_SCHEMA = pa.schema(
    [pa.field(name, kind, nullable=name != "id") for name, kind in FIELDS]
    + [pa.field(DELETED_AT, TIMESTAMP), pa.field(TOMBSTONE, pa.bool_())]
)
_REQUIRED = ("created_at", "updated_at")


def leads_table(records: list[dict[str, Any]], where: str) -> pa.Table:
    """One row per record; a value of the wrong kind is a one-line error naming the lead."""
    columns: dict[str, list[Any]] = {name: [] for name, _ in FIELDS}
    for record in records:
        if not isinstance(record, dict):
            raise MalformedResponseError(f"{where}: a lead record is not an object")
        for name, kind in FIELDS:
            columns[name].append(_value(record, name, kind, where))
    size = len(records)
    arrays = [pa.array(columns[name], kind) for name, kind in FIELDS]
    arrays += [pa.nulls(size, TIMESTAMP), pa.nulls(size, pa.bool_())]
    return pa.Table.from_arrays(arrays, schema=LEADS_SCHEMA)


def _value(record: dict[str, Any], name: str, kind: pa.DataType, where: str) -> Any:
    value = record.get(name)
    if value is None:
        if name in _REQUIRED:
            _bad(record, name, value, where)
        return None
    if kind == TIMESTAMP:
        return _timestamp(record, name, value, where)
    if kind == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            _bad(record, name, value, where)
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # e.g. a numeric company_size: kept as text, the column's type
    return _bad(record, name, value, where)


def _timestamp(record: dict[str, Any], name: str, value: Any, where: str) -> datetime:
    try:
        parsed = parse_timestamp(value)
    except (TypeError, ValueError, AttributeError):
        _bad(record, name, value, where)
    if parsed.tzinfo is None:
        _bad(record, name, value, where)
    return parsed.astimezone(timezone.utc)


def _bad(record: dict[str, Any], name: str, value: Any, where: str) -> Any:
    raise MalformedResponseError(
        f"{where}: lead {record.get('id')!r} has an invalid `{name}` ({value!r})"
    )
