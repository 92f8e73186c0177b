"""Table hints of ``leads``: merged on ``id`` (upsert for lakehouse tables), the newest
``updated_at`` winning within a load, rows flagged ``_tombstone`` deleted (hard deletes)."""

from __future__ import annotations

from typing import Any

import dlt

from sources.core.columns import TOMBSTONE, LeadTables

LEADS = "leads"
TABLES = LeadTables(LEADS)  # as the runner and the warehouse read them: no child table
# Typed loosely: dlt's column TypedDicts do not accept these literal dicts.
_COLUMNS: dict[str, Any] = {
    "lead_score": {"name": "lead_score", "data_type": "bigint"},
    "updated_at": {"name": "updated_at", "data_type": "timestamp", "dedup_sort": "desc"},
    TOMBSTONE: {"name": TOMBSTONE, "data_type": "bool", "hard_delete": True},
}


def lead_hints(table_format: str | None) -> Any:
    """Merge hints; a lakehouse table format (delta, iceberg) upserts by key."""
    if table_format:
        return dlt.mark.make_hints(
            table_name=LEADS,
            write_disposition={"disposition": "merge", "strategy": "upsert"},
            primary_key="id",
            columns={**_COLUMNS, "updated_at": {"name": "updated_at", "data_type": "timestamp"}},
            table_format=table_format,  # type: ignore[arg-type]
        )
    return dlt.mark.make_hints(
        table_name=LEADS, write_disposition="merge", primary_key="id", columns=_COLUMNS
    )
