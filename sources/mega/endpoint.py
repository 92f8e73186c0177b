"""MEGA's list endpoint as an ``EndpointSpec``: ``GET /api/agents/crm/leads`` (001, 003).

Always ``sort_by=updated_at&sort_dir=asc&limit=100&include_custom_fields=true``, following
``next_cursor`` until null; ``updated_since`` is the inclusive lower bound that every sweep, and
every fallback from a rejected cursor, starts from.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sources.core.endpoint import EndpointSpec, Keyset
from sources.core.pii import PiiPolicy

from . import settings
from .client import MegaClient
from .hints import lead_hints
from .shaping import (
    LEADS_SCHEMA,
    custom_fields_table,
    format_timestamp,
    leads_table,
    parse_timestamp,
    with_removed_slugs,
)


def shape_leads(leads: list[dict[str, Any]], where: str, append: bool) -> tuple[Any, Any]:
    """(leads rows, custom-field rows). Appended leads are new to the tables: no tombstones
    for old custom-field rows to delete."""
    fields = custom_fields_table(leads, where, tombstones=not append)
    return leads_table(leads, where), fields


LEADS_KEYSET = Keyset(
    request=MegaClient.list_leads_response,
    items_key="leads",
    params={
        "sort_by": settings.SORT_BY,
        "sort_dir": settings.SORT_DIR,
        "limit": str(settings.PAGE_LIMIT),
        "include_custom_fields": "true",
    },
    page_limit=settings.PAGE_LIMIT,
    cursor_field="next_cursor",
    cursor_param="cursor",
    total_field="total",
    id_field="id",
    item_name="lead",
    time_fields=("created_at",),
    timestamp_field="updated_at",
    since_param="updated_since",
)

# Personal data in `leads` (README: Personal data; docs/columns.toml marks them).
PII_COLUMNS = ("contact_name", "contact_phone", "contact_email", "owner__name")

LEADS = EndpointSpec(
    name="leads",
    keyset=LEADS_KEYSET,
    parse_time=parse_timestamp,
    format_time=format_timestamp,
    shape=shape_leads,
    empty_rows=LEADS_SCHEMA.empty_table,
    with_removed_keys=with_removed_slugs,
    hints=lead_hints,
)


def leads_endpoint(pii: PiiPolicy) -> EndpointSpec:
    """``LEADS``, its rows hashed or stripped of personal data as they are shaped."""
    if not pii:
        return LEADS

    def shape(leads: list[dict[str, Any]], where: str, append: bool) -> tuple[Any, Any]:
        rows, fields = shape_leads(leads, where, append)
        return pii.apply(rows), fields

    return replace(LEADS, shape=shape)
