"""Table hints of the lead tables. Warehouses merge ``leads`` on ``id`` and delete a lead's
custom fields by ``merge_key`` before inserting its current ones.

Lakehouse tables (filesystem + delta): dlt merges there by upsert only, so custom fields are
keyed by (lead_id, slug) instead of deleted by `merge_key`, and a slug removed at the source is
removed by a tombstone row of its own (``shaping.with_removed_slugs``).

Each variant names its table format: dlt's ``run(table_format=...)`` reaches only a resource's
root template, not the table variants the `leads` resource yields with.
"""

from __future__ import annotations

from typing import Any

import dlt

from sources.core.columns import TOMBSTONE, ChildTable, LeadTables

LEADS = "leads"
CUSTOM_FIELDS = "leads__custom_fields"
# A lead's custom fields: one row per (lead, slug).
FIELDS_TABLE = ChildTable(CUSTOM_FIELDS, parent_key="lead_id", key="slug")
# The tables as the runner and the warehouse read them.
TABLES = LeadTables(LEADS, FIELDS_TABLE)
# Typed loosely: dlt's column TypedDicts do not accept these literal dicts.
_TOMBSTONE_COLUMN: dict[str, Any] = {
    TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True}
}
_UPDATED_AT: dict[str, Any] = {"updated_at": {"name": "updated_at", "data_type": "timestamp"}}


def upsert_hints(table_format: str) -> tuple[Any, Any]:
    """(leads, custom fields) merge hints: upsert on the key, `_tombstone` rows deleted."""
    upsert: Any = {"disposition": "merge", "strategy": "upsert"}
    leads = dlt.mark.make_hints(
        table_name=LEADS,
        write_disposition=upsert,
        primary_key="id",
        columns={**_UPDATED_AT, **_TOMBSTONE_COLUMN},
        table_format=table_format,  # type: ignore[arg-type]
    )
    custom_fields = dlt.mark.make_hints(
        table_name=CUSTOM_FIELDS,
        write_disposition=upsert,
        primary_key=[FIELDS_TABLE.parent_key, FIELDS_TABLE.key],
        columns=dict(_TOMBSTONE_COLUMN),
        table_format=table_format,  # type: ignore[arg-type]
    )
    return leads, custom_fields


def append_hints(table_format: str) -> tuple[Any, Any]:
    """A backfill's leads new to empty tables: appended, as on DuckDB (see append.py)."""
    leads = dlt.mark.make_hints(
        table_name=LEADS,
        write_disposition="append",
        primary_key="id",
        columns=dict(_UPDATED_AT),
        table_format=table_format,  # type: ignore[arg-type]
    )
    custom_fields = dlt.mark.make_hints(
        table_name=CUSTOM_FIELDS,
        write_disposition="append",
        table_format=table_format,  # type: ignore[arg-type]
    )
    return leads, custom_fields


# Each table gets its own hints: resource-level column hints would leak into the child table.
MERGE_HINTS = (
    dlt.mark.make_hints(
        table_name=LEADS,
        write_disposition="merge",
        primary_key="id",
        columns={
            "updated_at": {"name": "updated_at", "data_type": "timestamp", "dedup_sort": "desc"},
            TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True},
        },
    ),
    dlt.mark.make_hints(
        table_name=CUSTOM_FIELDS,
        write_disposition="merge",
        # Every load carries all current slugs of each lead it touches: deleting by lead first
        # is what makes a slug removed at the source disappear here.
        merge_key=FIELDS_TABLE.parent_key,
        # No primary key: rows are unique per load by construction, and a key would make dlt
        # dedup staging and delete on (lead_id, slug) OR lead_id, which is 3x slower in DuckDB.
        columns={TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True}},
    ),
)
# A backfill's leads that are new to empty tables: the same tables, appended (core/sweep/
# append.py). Without the merge-only hints (dlt warns that append ignores them); every merge
# sets them.
APPEND_HINTS = (
    dlt.mark.make_hints(
        table_name=LEADS,
        write_disposition="append",
        primary_key="id",
        columns={"updated_at": {"name": "updated_at", "data_type": "timestamp"}},
    ),
    dlt.mark.make_hints(table_name=CUSTOM_FIELDS, write_disposition="append"),
)


def lead_hints(table_format: str | None) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(merge, append) hints: a lakehouse table format upserts by key, others merge."""
    if table_format:
        return upsert_hints(table_format), append_hints(table_format)
    return MERGE_HINTS, APPEND_HINTS
