"""The Leads v1 list + detail endpoints as a ``DetailEndpoint`` (seed 004).

``GET /api/v1/leads`` pages in (`created_at`, `id`) order (its cursor holds both), has no
updated-since filter and no sort by `updated_at`; ``start_at`` bounds `created_at` from below.
List rows carry `updated_at` but not the qualification fields, which come from
``GET /api/v1/leads/{id}``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sources.core.columns import format_timestamp, parse_timestamp
from sources.core.endpoint import DetailEndpoint, Keyset
from sources.core.pii import PiiPolicy

from . import settings
from .client import LeadsV1Client
from .hints import lead_hints
from .shaping import LEADS_SCHEMA, leads_table


def fetch_lead(client: LeadsV1Client, lead_id: str, context: str) -> dict[str, Any] | None:
    return client.lead(lead_id, context)


LEADS_KEYSET = Keyset(
    request=LeadsV1Client.list_response,
    items_key="data",
    params={"limit": str(settings.PAGE_LIMIT)},
    page_limit=settings.PAGE_LIMIT,
    cursor_field="next_cursor",
    cursor_param="cursor",
    total_field="total",  # 004 has none: progress shows no total
    id_field="id",
    item_name="lead",
    time_fields=("updated_at",),
    timestamp_field="created_at",
    since_param="start_at",
)

# Personal data in `leads` (README: Personal data; docs/columns.toml marks them).
PII_COLUMNS = ("name", "email", "pain_points")

LEADS = DetailEndpoint(
    name="leads",
    keyset=LEADS_KEYSET,
    version_field="updated_at",
    fetch=fetch_lead,
    parse_time=parse_timestamp,
    format_time=format_timestamp,
    shape=leads_table,
    rows_schema=LEADS_SCHEMA,
    hints=lead_hints,
)


def leads_endpoint(pii: PiiPolicy) -> DetailEndpoint:
    """``LEADS``, its rows hashed or stripped of personal data as they are shaped."""
    if not pii:
        return LEADS

    def shape(records: list[dict[str, Any]], where: str) -> Any:
        return pii.apply(leads_table(records, where))

    return replace(LEADS, shape=shape)
