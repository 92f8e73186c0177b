"""Row shaping: API leads → two arrow tables, ``leads`` and ``leads__custom_fields``.

Arrow tables with a fixed schema are dlt's fastest load path (dlt skips normalize) and fix every
column's type up front, so no dlt variant column (``__v_…``) can ever appear, whatever mix of
types the API sends in ``custom_fields`` (001: values are string | number | boolean | null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .errors import MalformedResponseError

TIMESTAMP = pa.timestamp("us", tz="UTC")

# (column, arrow type, path in the lead) in warehouse order; `current_stage` / `owner` flattened.
LEAD_FIELDS: list[tuple[str, pa.DataType, tuple[str, ...]]] = [
    ("id", pa.string(), ("id",)),
    ("customer_id", pa.string(), ("customer_id",)),
    ("contact_name", pa.string(), ("contact_name",)),
    ("contact_phone", pa.string(), ("contact_phone",)),
    ("contact_email", pa.string(), ("contact_email",)),
    ("source_platform", pa.string(), ("source_platform",)),
    ("source_type", pa.string(), ("source_type",)),
    ("status", pa.string(), ("status",)),
    ("score", pa.int64(), ("score",)),
    ("qualified", pa.bool_(), ("qualified",)),
    ("current_stage__id", pa.string(), ("current_stage", "id")),
    ("current_stage__slug", pa.string(), ("current_stage", "slug")),
    ("current_stage__name", pa.string(), ("current_stage", "name")),
    ("current_stage__color", pa.string(), ("current_stage", "color")),
    ("owner__id", pa.string(), ("owner", "id")),
    ("owner__name", pa.string(), ("owner", "name")),
    ("owner__role_name", pa.string(), ("owner", "role_name")),
    ("last_interaction_at", TIMESTAMP, ("last_interaction_at",)),
    ("interaction_count", pa.int64(), ("interaction_count",)),
    ("created_at", TIMESTAMP, ("created_at",)),
    ("updated_at", TIMESTAMP, ("updated_at",)),
]
DELETED_AT = "_deleted_at"
TOMBSTONE = "_tombstone"

LEADS_SCHEMA = pa.schema(
    [pa.field(name, dtype, nullable=name != "id") for name, dtype, _ in LEAD_FIELDS]
    + [pa.field(DELETED_AT, TIMESTAMP), pa.field(TOMBSTONE, pa.bool_())]
)
CUSTOM_FIELDS_SCHEMA = pa.schema(
    [
        pa.field("lead_id", pa.string(), nullable=False),
        pa.field("slug", pa.string(), nullable=False),
        pa.field("value", pa.string()),
        pa.field("value_type", pa.string()),
        pa.field("value_number", pa.float64()),
        pa.field("value_bool", pa.bool_()),
        pa.field(TOMBSTONE, pa.bool_()),
    ]
)
_EMPTY: Mapping[str, Any] = {}


def format_timestamp(value: datetime) -> str:
    """The API's own rendering, so state and `updated_since` always compare alike."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def check_page_leads(leads: Any, where: str) -> list[dict[str, Any]]:
    """The cheap per-page checks: a list of objects, each with a string id and updated_at."""
    if not isinstance(leads, list):
        raise MalformedResponseError(f"{where}: `leads` is {type(leads).__name__}, not a list")
    for position, lead in enumerate(leads):
        if not isinstance(lead, dict):
            raise MalformedResponseError(f"{where}: lead #{position} is not an object")
        lead_id, updated_at = lead.get("id"), lead.get("updated_at")
        if not isinstance(lead_id, str) or not lead_id:
            raise MalformedResponseError(f"{where}: lead #{position} has no string `id`")
        if not isinstance(updated_at, str) or not updated_at:
            raise MalformedResponseError(
                f"{where}: lead {lead_id} has no string `updated_at` (got {updated_at!r})"
            )
    return leads


def _column(leads: list[dict[str, Any]], path: tuple[str, ...]) -> list[Any]:
    if len(path) == 1:
        key = path[0]
        return [lead.get(key) for lead in leads]
    outer, inner = path
    return [(lead.get(outer) or _EMPTY).get(inner) for lead in leads]


def _typed_array(name: str, values: list[Any], dtype: pa.DataType, where: str) -> pa.Array:
    try:
        if dtype == TIMESTAMP:
            return pa.array(values, pa.string()).cast(TIMESTAMP)
        if dtype in (pa.int64(), pa.float64()) and any(isinstance(v, bool) for v in values):
            raise TypeError("boolean where a number belongs")
        return pa.array(values, dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, AttributeError) as exc:
        bad = next((v for v in values if v is not None), None)
        raise MalformedResponseError(
            f"{where}: field `{name}` has a value of the wrong type ({bad!r:.60}): {exc}"
        ) from None


def leads_table(leads: list[dict[str, Any]], where: str) -> pa.Table:
    for outer in ("current_stage", "owner"):
        if any(not isinstance(lead.get(outer) or _EMPTY, Mapping) for lead in leads):
            raise MalformedResponseError(f"{where}: field `{outer}` is not an object or null")
    arrays = [_typed_array(n, _column(leads, p), t, where) for n, t, p in LEAD_FIELDS]
    nulls = pa.nulls(len(leads))
    arrays += [nulls.cast(TIMESTAMP), nulls.cast(pa.bool_())]
    return pa.Table.from_arrays(arrays, schema=LEADS_SCHEMA)


def decimal_text(number: int | float) -> str:
    """Numbers as plain decimal text: 500000 → '500000', 1e20 → '100000000000000000000'."""
    if isinstance(number, int):
        return str(number)
    return format(Decimal(repr(number)), "f")


def _typed_value(value: Any) -> tuple[str | None, str, float | None, bool | None]:
    """(value, value_type, value_number, value_bool) for one scalar custom-field value."""
    if value is None:
        return None, "null", None, None
    if isinstance(value, bool):
        return ("true" if value else "false"), "boolean", None, value
    if isinstance(value, int | float):
        return decimal_text(value), "number", float(value), None
    if isinstance(value, str):
        return value, "string", None, None
    raise TypeError(f"not a scalar: {type(value).__name__}")


def custom_fields_table(leads: list[dict[str, Any]], where: str) -> pa.Table:
    """One row per (lead, slug); a lead with no custom fields gets one tombstone row, which
    (as dlt's hard_delete) removes the lead's old rows without inserting anything."""
    cols: list[list[Any]] = [[] for _ in range(7)]
    for lead in leads:
        fields = lead.get("custom_fields") or _EMPTY
        if not isinstance(fields, Mapping):
            raise MalformedResponseError(f"{where}: lead {lead['id']} `custom_fields` not a map")
        rows: Iterable[tuple[Any, ...]]
        try:
            rows = [(slug, *_typed_value(v), None) for slug, v in fields.items()]
        except TypeError as exc:
            raise MalformedResponseError(f"{where}: lead {lead['id']} custom field {exc}") from None
        if not fields:
            rows = [("", None, "null", None, None, True)]
        for row in rows:
            cols[0].append(lead["id"])
            for index, item in enumerate(row, start=1):
                cols[index].append(item)
    return pa.Table.from_arrays(
        [pa.array(col, field.type) for col, field in zip(cols, CUSTOM_FIELDS_SCHEMA, strict=True)],
        schema=CUSTOM_FIELDS_SCHEMA,
    )


def max_updated_at(table: pa.Table) -> str | None:
    if table.num_rows == 0:
        return None
    newest = pc.max(table.column("updated_at")).as_py()
    return format_timestamp(newest) if newest is not None else None
